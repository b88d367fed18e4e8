import { z } from 'zod'
import type { ToolFunction, ToolSet } from './tool.types.ts'

// The tool sets of this installation, by name. Built-in sets are registered at start; a bot names
// the sets it may use, and only their functions are offered to its model.

export interface ToolSetDescription {
  name: string
  description: string
  configured: boolean
  functions: Array<{ name: string; description: string; inputSchema: Record<string, unknown> }>
}

export class ToolRegistry {
  private readonly sets = new Map<string, ToolSet>()
  private readonly functionNames = new Set<string>()

  register(set: ToolSet): void {
    if (this.sets.has(set.name)) throw new Error(`A tool set named "${set.name}" is already registered`)
    for (const fn of set.functions)
      if (this.functionNames.has(fn.name))
        throw new Error(`A tool function named "${fn.name}" exists already`)
    for (const fn of set.functions) this.functionNames.add(fn.name)
    this.sets.set(set.name, set)
  }

  /** The names a workspace's bots may use. */
  async names(_tenantId: string): Promise<string[]> {
    return [...this.sets.keys()]
  }

  /** The functions of the named sets (unknown names are skipped: the bot was checked when saved). */
  functionsOf(names: readonly string[]): ToolFunction[] {
    return names.flatMap((name) => this.sets.get(name)?.functions ?? [])
  }

  async describe(tenantId: string): Promise<ToolSetDescription[]> {
    const sets = [...this.sets.values()]
    const configured = await Promise.all(sets.map((set) => set.configured?.(tenantId) ?? true))
    return sets.map((set, index) => ({
      name: set.name,
      description: set.description,
      configured: configured[index]!,
      functions: set.functions.map((fn) => ({
        name: fn.name,
        description: fn.description,
        inputSchema: inputSchemaOf(fn),
      })),
    }))
  }
}

/** The JSON Schema of a function's arguments, as the model and GET /tools see it. */
export function inputSchemaOf(fn: ToolFunction): Record<string, unknown> {
  const { $schema: _dialect, ...schema } = z.toJSONSchema(fn.input, { io: 'input' }) as Record<
    string,
    unknown
  >
  return schema
}
