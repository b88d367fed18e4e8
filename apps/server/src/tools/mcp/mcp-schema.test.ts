import { describe, expect, it } from 'vitest'
import { functionName } from './mcp.tool-set.ts'
import {
  argumentValidator,
  convertInputSchema,
  createSchemaCompiler,
  SchemaConversionError,
} from './mcp-schema.ts'

// MCP servers' argument schemas made acceptable to every provider, or refused with a reason.

describe('converting MCP tool schemas for the providers', () => {
  it('inlines references and drops what providers refuse', () => {
    const converted = convertInputSchema({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: 'urn:x',
      type: 'object',
      properties: {
        when: { type: 'string', format: 'date-time' },
        mail: { type: 'string', format: 'email', examples: ['a@b.c'] },
        kind: { const: 'offer' },
        tags: { type: 'array' },
        pair: { type: 'array', items: [{ type: 'string' }, { type: 'number' }] },
        choice: { oneOf: [{ type: 'string' }, { $ref: '#/definitions/n' }] },
        gone: false,
        anything: true,
      },
      required: ['when', 'gone'],
      definitions: { n: { type: 'number', minimum: 0 } },
      if: { properties: { kind: { const: 'x' } } },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, which the conversion drops
      then: { required: ['mail'] },
    })
    expect(converted).toEqual({
      type: 'object',
      properties: {
        when: { type: 'string', format: 'date-time' },
        mail: { type: 'string' },
        kind: { enum: ['offer'] },
        tags: { type: 'array', items: {} },
        pair: { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'number' }] } },
        choice: { anyOf: [{ type: 'string' }, { type: 'number', minimum: 0 }] },
        anything: {},
      },
      required: ['when'],
    })
  })

  it('gives an empty or missing schema no arguments, and merges a top-level allOf', () => {
    expect(convertInputSchema(undefined)).toEqual({ type: 'object', properties: {} })
    expect(convertInputSchema({})).toEqual({ type: 'object', properties: {} })
    expect(
      convertInputSchema({
        allOf: [
          { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
          { properties: { b: { type: 'number' } } },
        ],
      }),
    ).toEqual({
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'number' } },
      required: ['a'],
    })
  })

  it('refuses what cannot be converted, saying why', () => {
    const reason = (schema: unknown) => {
      try {
        convertInputSchema(schema)
        return 'converted'
      } catch (error) {
        expect(error).toBeInstanceOf(SchemaConversionError)
        return (error as Error).message
      }
    }
    expect(reason({ type: 'object', properties: { node: { $ref: '#' } } })).toContain('recursive')
    expect(
      reason({
        type: 'object',
        properties: { n: { $ref: '#/$defs/n' } },
        $defs: { n: { properties: { m: { $ref: '#/$defs/n' } } } },
      }),
    ).toContain('recursive')
    expect(reason({ type: 'object', properties: { x: { $ref: 'https://example.com/s.json' } } })).toContain(
      'not part of it',
    )
    expect(reason({ anyOf: [{ type: 'object' }, { type: 'object' }] })).toContain('choice of shapes')
    expect(reason({ type: 'string' })).toContain('not an object')
    expect(reason([1])).toContain('not an object')
    expect(reason({ type: 'object', description: 'x'.repeat(70_000) })).toContain('larger than')
    let deep: Record<string, unknown> = { type: 'string' }
    for (let i = 0; i < 40; i++) deep = { type: 'object', properties: { d: deep } }
    expect(reason(deep)).toContain('deeper')
  })

  it('checks arguments against the server’s own schema, its draft declared or not', () => {
    const original = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: { q: { type: 'string', minLength: 2 } },
      required: ['q'],
      additionalProperties: false,
    }
    const validate = argumentValidator(createSchemaCompiler(), original, convertInputSchema(original))
    expect(validate({ q: 'shoes' })).toBe(true)
    expect(validate({ q: 'x' })).toBe(false)
    expect(validate({ q: 'shoes', extra: 1 })).toBe(false)
    expect(validate({})).toBe(false)
  })

  it('leaves a server’s regular expressions to the server: a catastrophic pattern costs nothing here', () => {
    const original = {
      type: 'object',
      properties: {
        q: { type: 'string', pattern: '^(a+)+$' },
        // A property named like the keyword stays a property.
        pattern: { type: 'string', minLength: 1 },
        tags: {
          type: 'object',
          patternProperties: { '^(x+)+$': { type: 'number' } },
          additionalProperties: false,
        },
      },
      propertyNames: { pattern: '^(b+)+$' },
      required: ['q', 'pattern'],
    }
    const validate = argumentValidator(createSchemaCompiler(), original, convertInputSchema(original))
    const started = performance.now()
    expect(validate({ q: `${'a'.repeat(40)}!`, pattern: 'p', tags: { [`${'x'.repeat(40)}!`]: 1 } })).toBe(
      true,
    )
    expect(performance.now() - started).toBeLessThan(1000)
    expect(validate({ q: 'a', pattern: '' })).toBe(false)
    expect(validate({ q: 1, pattern: 'p' })).toBe(false)
  })
})

describe('function names of MCP tools', () => {
  it('prefixes the server, keeps the provider alphabet and 64 characters, and never repeats a name', () => {
    expect(functionName('crm', 'find_contact', new Set())).toBe('mcp_crm__find_contact')
    expect(functionName('crm', 'contacts.find/v2', new Set())).toBe('mcp_crm__contacts_find_v2')
    const long = functionName(
      'a-very-long-server-name-of-forty-chars-x',
      'search_everything_in_the_database',
      new Set(),
    )
    expect(long.length).toBeLessThanOrEqual(64)
    expect(long).toMatch(/^mcp_a-very-long-server-name-of-forty-chars-x__[A-Za-z0-9_-]+_[0-9a-f]{6}$/)
    const used = new Set(['mcp_crm__a_b'])
    const second = functionName('crm', 'a.b', used)
    expect(second).not.toBe('mcp_crm__a_b')
    expect(second).toMatch(/^mcp_crm__a_b_[0-9a-f]{6}$/)
  })
})
