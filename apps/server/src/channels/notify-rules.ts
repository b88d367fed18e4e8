import type { BotChannelLink } from '@openorch/contracts'
import { hasResults } from '../bots/bot-results.ts'

export { hasResults, noResultsMarker } from '../bots/bot-results.ts'

// When a bot's run notifies a channel (issue 14). "Results" must be decidable without reading prose:
// a bot with an output schema has results when its data holds something (a non-empty list, or an
// object with a non-empty list or any other value); a bot without one has results unless its answer is
// empty or starts with the marker NO_RESULTS, which its prompt should tell the model to use.

/** What a rule looks at of a finished bot run. */
export interface RunOutcome {
  status: string
  isNew: boolean | null
  output: unknown
}

export function ruleMatches(rule: BotChannelLink['rule'], run: RunOutcome): boolean {
  switch (rule) {
    case 'always':
      return true
    case 'never':
      return false
    case 'on_error':
      return run.status === 'failed' || run.status === 'timeout'
    case 'on_new':
      return run.status === 'completed' && run.isNew === true
    case 'on_results':
      return run.status === 'completed' && hasResults(run.output)
  }
}
