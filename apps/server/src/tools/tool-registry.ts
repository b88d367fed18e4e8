import { z } from 'zod'
import type { ToolFunction, ToolSet } from './tool.types.ts'

// The tool sets of this installation, by name. Built-in sets are registered at start; sets that
// differ per workspace (its MCP servers) come from sources asked when a bot is saved, listed or run.
// A bot names the sets it may use, and only their functions are offered to its model.

export interface ToolSetDescription {
  name: string
  description: string
  configured: boolean
  functions: Array<{ name: string; description: string; inputSchema: Record<string, unknown> }>
}

/** A function as offered to a run, with the name of its set (what an approval shows). */
export type OfferedFunction = ToolFunction & { toolSet: string }

/** Tool sets of one workspace that are not built in (`mcp:<name>`): looked up per call, never cached here. */
export interface ToolSetSource {
  /** The names of the workspace's sets from this source, usable or not (a bot may name them). */
  names(tenantId: string): Promise<string[]>
  /** The named sets of this source as they are now (unknown or unusable names are left out). */
  sets(tenantId: string, names: readonly string[]): Promise<ToolSet[]>
}

export class ToolRegistry {
  private readonly sets = new Map<string, ToolSet>()
  private readonly functionNames = new Set<string>()
  private readonly sources: ToolSetSource[] = []

  register(set: ToolSet): void {
    if (this.sets.has(set.name)) throw new Error(`A tool set named "${set.name}" is already registered`)
    for (const fn of set.functions)
      if (this.functionNames.has(fn.name))
        throw new Error(`A tool function named "${fn.name}" exists already`)
    for (const fn of set.functions) this.functionNames.add(fn.name)
    this.sets.set(set.name, set)
  }

  addSource(source: ToolSetSource): void {
    this.sources.push(source)
  }

  /** The built-in functions by name (what the approval policy may name). */
  builtInFunctions(): ToolFunction[] {
    return [...this.sets.values()].flatMap((set) => set.functions)
  }

  /** The names a workspace's bots may use. */
  async names(tenantId: string): Promise<string[]> {
    const dynamic = await Promise.all(this.sources.map((source) => source.names(tenantId)))
    return [...this.sets.keys(), ...dynamic.flat()]
  }

  /**
   * The functions of the named sets for a run. Unknown names are skipped (the bot was checked when
   * saved; a set removed since simply offers nothing), and a function whose name an earlier set
   * already uses is left out, so the model never sees two tools of one name.
   */
  async functionsFor(tenantId: string, names: readonly string[]): Promise<OfferedFunction[]> {
    const sets = await this.setsFor(tenantId, names)
    const seen = new Set<string>()
    const functions: OfferedFunction[] = []
    for (const set of sets)
      for (const fn of set.functions) {
        if (seen.has(fn.name)) continue
        seen.add(fn.name)
        functions.push({ ...fn, toolSet: set.name })
      }
    return functions
  }

  async describe(tenantId: string): Promise<ToolSetDescription[]> {
    const sets = await this.setsFor(tenantId, await this.names(tenantId))
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

  private async setsFor(tenantId: string, names: readonly string[]): Promise<ToolSet[]> {
    const builtIn = names.flatMap((name) => this.sets.get(name) ?? [])
    const rest = names.filter((name) => !this.sets.has(name))
    if (rest.length === 0 || this.sources.length === 0) return builtIn
    const dynamic = await Promise.all(this.sources.map((source) => source.sets(tenantId, rest)))
    const byName = new Map(dynamic.flat().map((set) => [set.name, set]))
    // Built-in sets first, then the others in the order named.
    return [...builtIn, ...rest.flatMap((name) => byName.get(name) ?? [])]
  }
}

/** The JSON Schema of a function's arguments, as the model and GET /tools see it. */
export function inputSchemaOf(fn: ToolFunction): Record<string, unknown> {
  if (fn.inputSchema) return fn.inputSchema
  const { $schema: _dialect, ...schema } = z.toJSONSchema(fn.input, { io: 'input' }) as Record<
    string,
    unknown
  >
  return schema
}
