// The tools domain's public surface (decision 0029): the registry of tool sets, the loop a bot run
// talks to its model through, and the types a tool set is written against.

import { createBrowserToolSet } from './browser/browser.tool-set.ts'
import type { BrowserPool } from './browser/browser.ts'
import { codeToolSet } from './code/code.tool-set.ts'
import { filesToolSet } from './files/files.tool-set.ts'
import type { SearchSettings } from './search/search.settings.ts'
import { createSearchToolSet } from './search/search.tool-set.ts'
import { ToolRegistry } from './tool-registry.ts'
import { webToolSet } from './web/web.tool-set.ts'

export { type BrowserPool, createBrowserPool } from './browser/browser.ts'
export { closeCodeWorkers, configureCodeWorkers } from './code/run-code.ts'
export { createSearchSettings, type SearchSettings } from './search/search.settings.ts'
export { toolRoutes } from './tool.routes.ts'
export { type FileSpace, type ToolContext, ToolError, type ToolFunction, type ToolSet } from './tool.types.ts'
export {
  type ApprovalDecisionOutcome,
  runToolLoop,
  type ToolCallReport,
  type ToolLoopOptions,
  type ToolLoopResult,
  type ToolLoopState,
} from './tool-loop.ts'
export { createToolPolicies, type ToolPolicies } from './tool-policy.ts'
export {
  type OfferedFunction,
  ToolRegistry,
  type ToolSetDescription,
  type ToolSetSource,
} from './tool-registry.ts'

/** The registry with the built-in tool sets (search and browser only with their services). */
export function createToolRegistry(
  deps: { search?: SearchSettings; browser?: BrowserPool } = {},
): ToolRegistry {
  const registry = new ToolRegistry()
  registry.register(webToolSet)
  registry.register(filesToolSet)
  registry.register(codeToolSet)
  if (deps.browser) registry.register(createBrowserToolSet(deps.browser))
  const search = deps.search
  if (search)
    registry.register({
      ...createSearchToolSet(search),
      configured: (tenantId) => search.configured(tenantId),
    })
  return registry
}
