import { Ajv, type ValidateFunction } from 'ajv'

// An MCP tool's argument schema, made acceptable to every provider (OpenAI, Anthropic, Gemini,
// Mistral, Ollama), and a validator for the arguments the model sends.
//
// What providers reject, and what is done about it:
// - the root must be an object schema: `type: "object"` is added when missing; a root that is a
//   choice of shapes (anyOf/oneOf), or not an object at all, cannot be converted (the tool is skipped);
// - `$ref`s are inlined (Gemini and OpenAI's function calling handle references poorly); a recursive
//   or non-local reference cannot be converted;
// - keywords outside a common subset are dropped ($schema, $id, examples, if/then/else, not,
//   patternProperties, unevaluated*, …); `const` becomes a one-value `enum`, `oneOf` an `anyOf`,
//   string `format`s other than date-time are dropped (Gemini refuses them);
// - an array schema without `items` gets `items: {}` (OpenAI refuses arrays without it), and tuple
//   `items` become one schema that accepts any of them;
// - boolean schemas: `true` becomes `{}`, a property that is `false` is removed.
// The arguments are then checked against the server's own schema (when ajv compiles it), else against
// the converted one: a mismatch goes back to the model, not to the server.

export const maxSchemaChars = 64_000
const maxDepth = 24

const keptKeywords = new Set([
  'type',
  'description',
  'properties',
  'required',
  'items',
  'enum',
  'anyOf',
  'allOf',
  'additionalProperties',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'pattern',
  'default',
  'nullable',
  'format',
])

export class SchemaConversionError extends Error {}

type Schema = Record<string, unknown>

/** The provider-safe form of `schema`, or throws SchemaConversionError saying why it cannot be. */
export function convertInputSchema(schema: unknown): Schema {
  if (schema === undefined || schema === null) return { type: 'object', properties: {} }
  if (typeof schema !== 'object' || Array.isArray(schema))
    throw new SchemaConversionError('the schema is not an object')
  if (JSON.stringify(schema).length > maxSchemaChars)
    throw new SchemaConversionError(`the schema is larger than ${maxSchemaChars} characters`)
  const root = schema as Schema
  const definitions = {
    ...(isObject(root.definitions) ? root.definitions : {}),
    ...(isObject(root.$defs) ? root.$defs : {}),
  }
  let converted = convertNode(root, { root, definitions, resolving: new Set(), depth: 0 })
  if (converted.allOf && !converted.properties) converted = mergeAllOf(converted)
  if (converted.anyOf || converted.oneOf)
    throw new SchemaConversionError(
      'the arguments are a choice of shapes (anyOf/oneOf at the top), which providers refuse',
    )
  if (converted.type === undefined) converted.type = 'object'
  if (converted.type !== 'object')
    throw new SchemaConversionError(
      `the arguments are of type ${JSON.stringify(converted.type)}, not an object`,
    )
  if (!converted.properties) converted.properties = {}
  return converted
}

interface Context {
  root: Schema
  definitions: Schema
  resolving: Set<string>
  depth: number
}

function convertNode(node: unknown, context: Context): Schema {
  if (context.depth > maxDepth)
    throw new SchemaConversionError(`the schema is nested deeper than ${maxDepth} levels`)
  // `false` (nothing allowed) only survives as "anything": the arguments are checked against the original.
  if (typeof node === 'boolean' || node === undefined) return {}
  if (!isObject(node))
    throw new SchemaConversionError('a part of the schema is neither an object nor a boolean')
  const deeper = { ...context, depth: context.depth + 1 }
  if (typeof node.$ref === 'string') {
    const ref = node.$ref
    if (context.resolving.has(ref)) throw new SchemaConversionError(`the schema is recursive (${ref})`)
    const target = resolveRef(ref, context)
    const { $ref: _ref, ...siblings } = node
    const resolved = convertNode(target, { ...deeper, resolving: new Set([...context.resolving, ref]) })
    const rest = convertNode(siblings, deeper)
    return { ...resolved, ...rest }
  }
  const out: Schema = {}
  for (const [key, value] of Object.entries(node)) {
    if (key === 'const') {
      out.enum = [value]
      continue
    }
    if (key === 'oneOf') {
      if (Array.isArray(value)) out.anyOf = value.map((item) => convertNode(item, deeper))
      continue
    }
    if (!keptKeywords.has(key)) continue
    switch (key) {
      case 'properties': {
        if (!isObject(value)) continue
        const properties: Schema = {}
        for (const [name, property] of Object.entries(value)) {
          if (property === false) continue
          properties[name] = convertNode(property, deeper)
        }
        out.properties = properties
        break
      }
      case 'items':
        out.items = Array.isArray(value)
          ? value.length === 0
            ? {}
            : { anyOf: value.map((item) => convertNode(item, deeper)) }
          : convertNode(value, deeper)
        break
      case 'anyOf':
      case 'allOf':
        if (Array.isArray(value)) out[key] = value.map((item) => convertNode(item, deeper))
        break
      case 'additionalProperties':
        if (typeof value === 'boolean') out.additionalProperties = value
        else out.additionalProperties = convertNode(value, deeper)
        break
      case 'required':
        if (Array.isArray(value)) out.required = value.filter((name) => typeof name === 'string')
        break
      case 'format':
        if (value === 'date-time') out.format = value
        break
      case 'description':
        if (typeof value === 'string')
          out.description = value.length > 2000 ? `${value.slice(0, 2000)}…` : value
        break
      default:
        out[key] = value
    }
  }
  if (Array.isArray(out.required) && isObject(out.properties)) {
    const properties = out.properties
    out.required = (out.required as string[]).filter((name) => name in properties)
    if ((out.required as string[]).length === 0) delete out.required
  }
  if (out.type === undefined && out.properties) out.type = 'object'
  const isArray = out.type === 'array' || (Array.isArray(out.type) && out.type.includes('array'))
  if (isArray && out.items === undefined) out.items = {}
  return out
}

function resolveRef(ref: string, context: Context): unknown {
  if (ref === '#') throw new SchemaConversionError('the schema is recursive (#)')
  const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref)
  if (!match) {
    if (ref.startsWith('#/')) return pointer(context.root, ref.slice(2))
    throw new SchemaConversionError(`the schema refers to ${ref}, which is not part of it`)
  }
  const name = decodeURIComponent(match[2]!).replaceAll('~1', '/').replaceAll('~0', '~')
  const target = context.definitions[name]
  if (target === undefined)
    throw new SchemaConversionError(`the schema refers to ${ref}, which it does not define`)
  return target
}

function pointer(root: Schema, path: string): unknown {
  let current: unknown = root
  for (const raw of path.split('/')) {
    const part = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~')
    if (!isObject(current) && !Array.isArray(current))
      throw new SchemaConversionError(`#/${path} does not exist`)
    current = (current as Record<string, unknown>)[part]
  }
  if (current === undefined) throw new SchemaConversionError(`#/${path} does not exist`)
  return current
}

/** A root `allOf` of object schemas, merged into one (providers want properties at the top). */
function mergeAllOf(schema: Schema): Schema {
  const { allOf, ...rest } = schema
  const merged: Schema = { ...rest, type: 'object', properties: {} }
  const required = new Set<string>()
  for (const part of allOf as Schema[]) {
    if (part.type !== undefined && part.type !== 'object')
      throw new SchemaConversionError('the arguments combine shapes that are not objects (allOf)')
    if (part.anyOf)
      throw new SchemaConversionError('the arguments are a choice of shapes (anyOf inside allOf)')
    Object.assign(merged.properties as Schema, part.properties ?? {})
    for (const name of (part.required as string[] | undefined) ?? []) required.add(name)
  }
  if (required.size > 0) merged.required = [...required]
  return merged
}

const isObject = (value: unknown): value is Schema =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** An ajv instance for one listing of a server's tools: dropped with it (ajv keeps what it compiled). */
export function createSchemaCompiler(): Ajv {
  return new Ajv({ allErrors: true, strict: false, validateFormats: false })
}

/**
 * Checks arguments against the server's schema (without its `$schema`, which names drafts ajv may
 * not load), else against the converted schema; throws when neither compiles.
 */
export function argumentValidator(ajv: Ajv, original: unknown, converted: Schema): ValidateFunction {
  if (isObject(original)) {
    const { $schema: _dialect, $id: _id, ...rest } = original
    try {
      return ajv.compile(withoutPatterns(rest) as Schema)
    } catch {
      // The converted schema below is simpler (no references, fewer keywords).
    }
  }
  try {
    return ajv.compile(withoutPatterns(converted) as Schema)
  } catch (error) {
    throw new SchemaConversionError(`the schema does not compile: ${(error as Error).message}`)
  }
}

/** Keywords whose value maps names to schemas: a key there is a property's name, not a keyword. */
const schemaMaps = new Set(['properties', '$defs', 'definitions', 'dependentSchemas'])

/**
 * The schema without regular expressions, for checking arguments here. A server's `pattern` runs on
 * the orchestrator's main thread, and a catastrophic one (`^(a+)+$`) froze every workspace for as long
 * as it backtracked (attack finding 1). The server checks its own patterns; the shape still is ours.
 * `patternProperties` goes too, and with it an `additionalProperties: false` it qualified.
 */
export function withoutPatterns(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutPatterns)
  if (!isObject(schema)) return schema
  const result: Record<string, unknown> = {}
  const hadPatternProperties = 'patternProperties' in schema
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'pattern' || key === 'patternProperties' || key === 'propertyNames') continue
    if (key === 'additionalProperties' && value === false && hadPatternProperties) continue
    result[key] =
      schemaMaps.has(key) && isObject(value)
        ? Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, withoutPatterns(sub)]))
        : withoutPatterns(value)
  }
  return result
}

/** What is wrong with the arguments, in words the model can act on (at most 10 problems). */
export function argumentProblems(validate: ValidateFunction): string {
  return (validate.errors ?? [])
    .slice(0, 10)
    .map((error) => `${error.instancePath || '(arguments)'} ${error.message ?? 'is invalid'}`)
    .join('; ')
}
