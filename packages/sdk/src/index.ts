// API client (and, with the agents issue, the agent SDK) for openOrchestrator.
export {
  ApiError,
  type ApiPipelineRun,
  type ApiPipelineVersion,
  type ApiRun,
  apiErrorOf,
  type Client,
  type ClientOptions,
  createClient,
  type ListQuery,
  type LiveEvent,
  parseSseMessage,
  type RunListQuery,
} from './client.ts'
export {
  type Credentials,
  createSessionCredentials,
  type SessionCredentials,
  type SessionCredentialsOptions,
  type SignedIn,
  signedInFrom,
} from './session.ts'
