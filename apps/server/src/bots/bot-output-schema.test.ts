import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import type { Run } from '../runs/run.types.ts'
import { canonicalJson, outputSchemaProblem, parseStructuredAnswer } from './bot-output-schema.ts'

const key = 'sk-test-0123456789abcdef3456'
const tenantId = 'default'
const offers = {
  type: 'object',
  properties: {
    offers: {
      type: 'array',
      items: {
        type: 'object',
        properties: { title: { type: 'string' }, priceEur: { type: 'number' } },
        required: ['title', 'priceEur'],
        additionalProperties: false,
      },
    },
  },
  required: ['offers'],
  additionalProperties: false,
}

describe('output schemas without a database', () => {
  it('accepts object schemas only, and says what is wrong with the others', () => {
    expect(outputSchemaProblem(offers)).toBeUndefined()
    expect(outputSchemaProblem({ type: 'array' })).toMatch(/must describe an object/)
    expect(outputSchemaProblem({ type: 'object', properties: { a: { type: 'nonsense' } } })).toMatch(
      /not a valid JSON Schema/,
    )
    expect(outputSchemaProblem([1])).toMatch(/JSON Schema object/)
    expect(outputSchemaProblem({ type: 'object', description: 'x'.repeat(30_000) })).toMatch(/at most/)
  })

  it('parses an answer (fenced or not), and names every mismatch', () => {
    expect(parseStructuredAnswer(offers, '```json\n{"offers":[]}\n```')).toEqual({
      ok: true,
      data: { offers: [] },
    })
    const wrong = parseStructuredAnswer(offers, '{"offers":[{"title":1}]}')
    expect(wrong.ok).toBe(false)
    expect(!wrong.ok && wrong.problem).toMatch(/\/offers\/0\/title must be string/)
    expect(!wrong.ok && wrong.problem).toMatch(/priceEur/)
    expect(parseStructuredAnswer(offers, 'Sure! Here you go')).toEqual({
      ok: false,
      problem: 'the answer is not JSON',
    })
    expect(canonicalJson({ b: 1, a: { d: 2, c: 3 } })).toBe(canonicalJson({ a: { c: 3, d: 2 }, b: 1 }))
  })
})

describe.each(dialects)('bots with an output schema on %s', (dialect) => {
  let t: TestApp
  let model: ProviderServer

  async function setUp() {
    t = await createTestApp(dialect)
    model = await startProviderServer('openai', { apiKey: key, models: ['gpt-4o-mini'], chunkDelayMs: 1 })
    const configured = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/providers/openai',
      headers: bearer(t.keys.admin),
      payload: { apiKey: key, baseUrl: model.baseUrl, defaultModel: 'gpt-4o-mini' },
    })
    expect(configured.statusCode, configured.body).toBe(200)
    model.requests.length = 0
    t.startKernel()
  }
  afterEach(async () => {
    await model?.close()
    await t?.close()
  })

  const run = async (botId: string): Promise<Run> => {
    const result = await t.bots.service.runNow(tenantId, botId, { trigger: 'manual' })
    if (result.status === 'dropped') throw new Error('dropped')
    return waitFor(async () => {
      const current = await t.kernel.runs.get(tenantId, result.run.id)
      return ['completed', 'failed'].includes(current.status) ? current : undefined
    })
  }

  it('asks for structured output, stores output.data, and isNew compares the data, not the wording', async () => {
    await setUp()
    const refused = await t.app.inject({
      method: 'POST',
      url: '/api/v1/bots',
      headers: bearer(t.keys.editor),
      payload: { name: 'X', prompt: 'p', provider: 'openai', outputSchema: { type: 'string' } },
    })
    expect(refused.statusCode).toBe(400)
    expect(refused.json().errors).toEqual([expect.objectContaining({ field: 'outputSchema' })])
    const bot = await t.bots.service.create(tenantId, {
      name: 'Structured scout',
      prompt: 'List the offers.',
      provider: 'openai',
      outputSchema: offers,
    })
    expect(bot.outputSchema).toEqual(offers)
    model.setBehaviour({ type: 'success', text: '{"offers":[{"title":"Air Max 90","priceEur":35}]}' })
    const first = await run(bot.id)
    expect(first.status).toBe('completed')
    expect(first.output).toEqual({
      text: '{"offers":[{"title":"Air Max 90","priceEur":35}]}',
      data: { offers: [{ title: 'Air Max 90', priceEur: 35 }] },
    })
    const body = model.requests.find((r) => r.path.endsWith('/chat/completions'))!.body as {
      response_format?: { type: string; json_schema?: { schema: unknown } }
    }
    expect(body.response_format?.type).toBe('json_schema')
    expect(body.response_format?.json_schema?.schema).toMatchObject({ required: ['offers'] })
    // The same data written differently: nothing new.
    model.setBehaviour({
      type: 'success',
      text: '{ "offers": [ { "priceEur": 35, "title": "Air Max 90" } ] }',
    })
    expect((await run(bot.id)).result).toMatchObject({ isNew: false })
  })

  it('tells the model a mismatch once; a second mismatch fails the run for good (output_invalid)', async () => {
    await setUp()
    const bot = await t.bots.service.create(tenantId, {
      name: 'Strict',
      prompt: 'List the offers.',
      provider: 'openai',
      outputSchema: offers,
      maxRetries: 2,
    })
    model.setBehaviour({
      type: 'script',
      steps: [
        { type: 'success', text: '{"offers":[{"title":"Air Max 90"}]}' },
        { type: 'success', text: '{"offers":[{"title":"Air Max 90","priceEur":35}]}' },
      ],
    })
    const fixed = await run(bot.id)
    expect(fixed.status).toBe('completed')
    expect(fixed.output).toMatchObject({ data: { offers: [{ priceEur: 35 }] } })
    const bodies = model.requests
      .filter((r) => r.path.endsWith('/chat/completions'))
      .map((r) => JSON.stringify(r.body))
    expect(bodies).toHaveLength(2)
    expect(bodies[1]).toContain('does not match the required JSON Schema')
    expect(bodies[1]).toContain('priceEur')
    const usage = await t.database.db
      .selectFrom('usage_records')
      .select('call')
      .where('run_id', '=', fixed.id)
      .execute()
    expect(usage.map((u) => u.call).sort()).toEqual([0, 1])

    model.setBehaviour({ type: 'success', text: 'Here are the offers: Air Max 90 for 35 €' })
    const failed = await run(bot.id)
    expect(failed).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'output_invalid' } })
  })
})
