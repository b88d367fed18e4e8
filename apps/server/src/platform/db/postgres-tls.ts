import fs from 'node:fs'
import { toError } from '../errors.ts'

// TLS to PostgreSQL as DATABASE_URL's `sslmode` says, with libpq's meanings (decision 0039): what
// works with psql works here. pg parses the URL itself (pg-connection-string, which reads sslrootcert,
// sslcert and sslkey); this only asks it for libpq's semantics (`uselibpqcompat=true`: pg 8 alone
// reads `require` and `verify-ca` as verify-full) and says what is wrong with a URL before it is used.
//
//   disable            no TLS (also when sslmode is absent: pg has no fallback, unlike libpq's prefer)
//   prefer, require    TLS, the certificate not checked; with sslrootcert, require checks the CA
//   verify-ca          TLS, signed by sslrootcert's CA (required); any host name
//   verify-full        TLS, signed by sslrootcert's CA (or, without one or with sslrootcert=system,
//                      one Node trusts) and issued for the host in the URL

const sslModes = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'] as const
type SslMode = (typeof sslModes)[number]

interface QueryParam {
  raw: string
  key: string
  value: string
}

function splitUrl(url: string): { base: string; params: QueryParam[] } {
  const at = url.indexOf('?')
  if (at < 0) return { base: url, params: [] }
  const params = url
    .slice(at + 1)
    .split('&')
    .filter(Boolean)
    .map((raw) => {
      const eq = raw.indexOf('=')
      const decode = (text: string) => {
        try {
          return decodeURIComponent(text.replace(/\+/g, ' '))
        } catch {
          return text
        }
      }
      return eq < 0
        ? { raw, key: decode(raw), value: '' }
        : { raw, key: decode(raw.slice(0, eq)), value: decode(raw.slice(eq + 1)) }
    })
  return { base: url.slice(0, at), params }
}

function readable(key: string, file: string): void {
  try {
    fs.accessSync(file, fs.constants.R_OK)
    if (fs.statSync(file).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied: make it readable by the user the server runs as'
          : code === 'EISDIR'
            ? 'it is a directory, not a PEM file'
            : toError(error).message
    throw new Error(`DATABASE_URL's ${key}=${file} cannot be read (${why}). Fix the path in DATABASE_URL.`)
  }
}

/**
 * DATABASE_URL as pg is to read it: libpq's sslmode semantics, sslrootcert=system as libpq has it.
 * Throws an Error saying what to change for an unknown sslmode, verify-ca without a CA, or a
 * certificate file that cannot be read.
 */
export function postgresConnectionString(url: string): string {
  const { base, params } = splitUrl(url)
  const value = (key: string) => params.findLast((param) => param.key === key)?.value
  const sslmode = value('sslmode')
  if (sslmode !== undefined && !sslModes.includes(sslmode as SslMode))
    throw new Error(
      sslmode === 'allow'
        ? 'DATABASE_URL has sslmode=allow, which needs a fallback between plain and TLS connections that pg does not make. Use sslmode=disable (no TLS) or sslmode=require or stronger.'
        : `DATABASE_URL has sslmode=${sslmode}, which is not one of ${sslModes.filter((mode) => mode !== 'no-verify').join(', ')}. Use verify-full (with sslrootcert=<CA file>) to encrypt and check the server.`,
    )
  const rootcert = value('sslrootcert')
  let dropSystem = false
  let mode = sslmode
  if (rootcert === 'system') {
    // libpq 16: the operating system's CAs, and nothing weaker than verify-full.
    if (sslmode !== undefined && sslmode !== 'verify-full')
      throw new Error(
        `DATABASE_URL has sslrootcert=system with sslmode=${sslmode}: as in libpq, the system's CAs need sslmode=verify-full.`,
      )
    dropSystem = true
    mode = 'verify-full'
  } else {
    for (const key of ['sslrootcert', 'sslcert', 'sslkey']) {
      const file = value(key)
      if (file) readable(key, file)
    }
  }
  if (mode === 'verify-ca' && !rootcert)
    throw new Error(
      "DATABASE_URL has sslmode=verify-ca without sslrootcert: name the CA that signs the server's certificate (sslrootcert=/path/to/ca.pem; libpq would read ~/.postgresql/root.crt, this server does not), or use sslmode=verify-full.",
    )
  if (mode === undefined) return url
  const kept = params
    .filter((param) => !(dropSystem && param.key === 'sslrootcert'))
    .map((param) => param.raw)
  if (dropSystem && sslmode === undefined) kept.push('sslmode=verify-full')
  // The operator's own uselibpqcompat (true, or false for pg's stricter reading) is left as it is.
  // no-verify is pg's own word (TLS, nothing checked): libpq has none, and pg reads it only without.
  if (value('uselibpqcompat') === undefined && mode !== 'no-verify') kept.push('uselibpqcompat=true')
  return `${base}?${kept.join('&')}`
}

const isLoopback = (host: string) =>
  host === '' || host === 'localhost' || host.startsWith('127.') || host === '[::1]' || host === '::1'

/** A warning for the log when DATABASE_URL's connection is not checked against a man in the middle. */
export function postgresTlsNotice(url: string): string | undefined {
  const { params } = splitUrl(url)
  const value = (key: string) => params.findLast((param) => param.key === key)?.value
  const sslmode = value('sslmode')
  let host = ''
  try {
    host = value('host') ?? new URL(url).hostname
  } catch {
    return undefined
  }
  if (host.startsWith('/') || isLoopback(host)) return undefined
  if (sslmode === undefined || sslmode === 'disable')
    return `DATABASE_URL connects to ${host} without TLS (${sslmode === undefined ? 'no sslmode' : 'sslmode=disable'}): passwords and data cross the network in the clear. Add sslmode=verify-full&sslrootcert=<CA file> unless the network is private.`
  if (sslmode === 'prefer' || sslmode === 'no-verify' || (sslmode === 'require' && !value('sslrootcert')))
    return `DATABASE_URL has sslmode=${sslmode}: the connection to ${host} is encrypted but the server's certificate is not checked. Use sslmode=verify-full with sslrootcert=<CA file> to rule out a man in the middle.`
  return undefined
}

const untrusted = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
])

/** What to do about a TLS failure connecting to PostgreSQL; undefined for other errors. */
export function describePostgresTlsError(error: unknown): string | undefined {
  const e = toError(error) as Error & { code?: string }
  if (e.message === 'The server does not support SSL connections')
    return "the database server does not accept TLS, but DATABASE_URL's sslmode asks for it. Turn on ssl in the server's postgresql.conf, or set sslmode=disable (only on a network you trust)."
  if (e.code && untrusted.has(e.code))
    return `the database server's TLS certificate is not signed by a CA this server trusts (${e.message}). Set sslrootcert=<CA file> in DATABASE_URL to the CA that issued it.`
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `the database server's TLS certificate is not issued for the host in DATABASE_URL (${e.message}). Connect by a name the certificate holds, or use sslmode=verify-ca to check the CA only.`
  if (e.code === 'CERT_HAS_EXPIRED' || e.code === 'CERT_NOT_YET_VALID')
    return `the database server's TLS certificate is not valid now (${e.message}). Renew the server's certificate.`
  return undefined
}
