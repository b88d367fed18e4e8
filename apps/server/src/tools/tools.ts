// The tools domain's public surface (decision 0029): the registry of tool sets, the loop a bot run
// talks to its model through, and the types a tool set is written against.

import { codeToolSet } from './code/code.tool-set.ts'
import { filesToolSet } from './files/files.tool-set.ts'
import type { SearchSettings } from './search/search.settings.ts'
import { createSearchToolSet } from './search/search.tool-set.ts'
import { ToolRegistry } from './tool-registry.ts'
import { webToolSet } from './web/web.tool-set.ts'

export { closeCodeWorkers } from './code/run-code.ts'
export { createSearchSettings, type SearchSettings } from './search/search.settings.ts'
export { toolRoutes } from './tool.routes.ts'
export { type FileSpace, type ToolContext, ToolError, type ToolFunction, type ToolSet } from './tool.types.ts'
export { runToolLoop, type ToolCallReport, type ToolLoopOptions, type ToolLoopResult } from './tool-loop.ts'
export { ToolRegistry, type ToolSetDescription } from './tool-registry.ts'

/** The registry with the built-in tool sets (search only with its settings service). */
export function createToolRegistry(deps: { search?: SearchSettings } = {}): ToolRegistry {
  const registry = new ToolRegistry()
  registry.register(webToolSet)
  registry.register(filesToolSet)
  registry.register(codeToolSet)
  const search = deps.search
  if (search)
    registry.register({
      ...createSearchToolSet(search),
      configured: (tenantId) => search.configured(tenantId),
    })
  return registry
}
