// Fake web search servers for tests: see search-server.ts.
export {
  type RecordedRequest,
  type SearchBehaviour,
  type SearchServer,
  type SearchServerOptions,
  type StandInResult,
  startSearchServer,
} from './search-server.ts'
