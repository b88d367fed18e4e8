import { Ajv, type ValidateFunction } from 'ajv'

// A bot's `outputSchema` (issue 13): a JSON Schema the answer must match. Checked when the bot is
// saved (it compiles, it describes an object — what every provider's structured output asks for —
// and it is small), and every answer is validated against it before it is stored as `output.data`.

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false })
const compiled = new Map<string, ValidateFunction>()

export const maxOutputSchemaChars = 20_000

/** Why `schema` cannot be a bot's output schema, or undefined when it can. */
export function outputSchemaProblem(schema: unknown): string | undefined {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema))
    return 'must be a JSON Schema object'
  const text = JSON.stringify(schema)
  if (text.length > maxOutputSchemaChars)
    return `is ${text.length} characters; at most ${maxOutputSchemaChars}`
  if ((schema as { type?: unknown }).type !== 'object')
    return 'must describe an object ("type": "object"): providers answer structured output as one object'
  try {
    validatorOf(schema)
  } catch (error) {
    return `is not a valid JSON Schema: ${(error as Error).message}`
  }
  return undefined
}

function validatorOf(schema: object): ValidateFunction {
  const key = JSON.stringify(schema)
  let validate = compiled.get(key)
  if (!validate) {
    validate = ajv.compile(schema)
    if (compiled.size >= 500) compiled.clear()
    compiled.set(key, validate)
  }
  return validate
}

/** The answer's data, or what is wrong with it (in words the model can act on). */
export function parseStructuredAnswer(
  schema: object,
  text: string,
): { ok: true; data: unknown } | { ok: false; problem: string } {
  let data: unknown
  try {
    data = JSON.parse(text.trim().replace(/^```(?:json)?\s*|\s*```$/g, ''))
  } catch {
    return { ok: false, problem: 'the answer is not JSON' }
  }
  const validate = validatorOf(schema)
  if (validate(data)) return { ok: true, data }
  const problems = (validate.errors ?? [])
    .slice(0, 10)
    .map((error) => `${error.instancePath || '(the answer)'} ${error.message ?? 'is invalid'}`)
  return { ok: false, problem: problems.join('; ') }
}

/** JSON with object keys sorted: equal data gives equal text whatever order the model wrote it in. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  )
}
