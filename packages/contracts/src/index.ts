// Zod schemas of the HTTP API, shared by the server (validation, OpenAPI), the dashboard and the SDK.
export * from './bot.ts'
export * from './event.ts'
export * from './pagination.ts'
export * from './problem.ts'
export * from './provider.ts'
export * from './run.ts'
export * from './system.ts'
export * from './usage.ts'
