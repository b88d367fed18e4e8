// API client (and, with the agents issue, the agent SDK) for openOrchestrator.
export {
  ApiError,
  type ApiRun,
  type Client,
  type ClientOptions,
  createClient,
  type LiveEvent,
  parseSseMessage,
  type RunListQuery,
} from './client.ts'
