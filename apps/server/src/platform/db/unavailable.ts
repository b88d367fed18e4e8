// Errors that mean "the database cannot answer right now" rather than "this request is wrong" or
// "our code is wrong": PostgreSQL down, restarting or out of connections, the network to it gone;
// SQLite's write lock held by another process past the busy timeout; a full disk. The API answers them with 503
// and Retry-After (a client should try again), the worker retries them; neither is a bug to page on.

// Raw socket errors: in this process only the PostgreSQL driver speaks plain TCP (HTTP clients use
// fetch, whose errors are TypeErrors, and providers classify theirs). A future raw-socket client
// (SMTP, IMAP) must turn its own errors into AppErrors, or they would read as a database outage here.
const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
])

// SQLSTATE: class 08 (connection exception), admin/crash shutdown, cannot connect now, too many connections.
const postgresStates = /^(08...|57P01|57P02|57P03|53300)$/

// Messages of node-postgres for a connection that ended or never came.
const postgresMessages = [
  'Connection terminated',
  'connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
]

export type Unavailability = 'database_unavailable' | 'database_busy' | 'database_full'

export function databaseUnavailability(error: unknown): Unavailability | undefined {
  if (!(error instanceof Error)) return undefined
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') {
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return 'database_busy'
    // Disk full: SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100). Reads still work; writes wait for space.
    if (code === 'SQLITE_FULL' || code === '53100') return 'database_full'
    if (networkCodes.has(code) || postgresStates.test(code)) return 'database_unavailable'
  }
  if (postgresMessages.some((message) => error.message.includes(message))) return 'database_unavailable'
  // A refused connection reaches us as an AggregateError of each address tried.
  if (error instanceof AggregateError)
    return error.errors.some((e) => databaseUnavailability(e)) ? 'database_unavailable' : undefined
  return undefined
}
