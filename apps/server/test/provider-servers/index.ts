// Fake LLM provider servers for tests: see provider-server.ts.
export {
  defaultUsage,
  type ProviderBehaviour,
  type ProviderServer,
  type ProviderServerKind,
  type ProviderServerOptions,
  type RecordedRequest,
  startProviderServer,
  type Usage,
} from './provider-server.ts'
