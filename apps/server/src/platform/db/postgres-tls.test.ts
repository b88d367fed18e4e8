import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgresUrl } from '../../../test/databases.ts'
import { createTestCa, type Issued } from '../../../test/test-certificates.ts'
import { openDatabase } from './database.ts'
import { describePostgresTlsError, postgresConnectionString, postgresTlsNotice } from './postgres-tls.ts'

// DATABASE_URL's sslmode with libpq's meanings (decision 0039): what pg makes of each URL, and real
// TLS handshakes against a stand-in that speaks PostgreSQL's SSLRequest (8 bytes, answered 'S', then
// TLS) and answers the startup message with an error that says how it arrived.

const sslRequestCode = 80877103
let dir = ''
let root: Issued
let localhost: Issued
let elsewhere: Issued
let strangerRoot: Issued
const closers: Array<() => Promise<void>> = []

/** What pg would use for TLS for this URL (pg's own ConnectionParameters; `false`: no TLS). */
function sslOf(url: string) {
  const client = new pg.Client({ connectionString: postgresConnectionString(url) })
  return (client as unknown as { connectionParameters: { ssl: false | tls.ConnectionOptions } })
    .connectionParameters.ssl
}

/** PostgreSQL's ErrorResponse: severity, code, message. */
function errorResponse(message: string): Buffer {
  const fields = Buffer.concat([
    Buffer.from('SFATAL\0C28000\0'),
    Buffer.from(`M${message}\0`),
    Buffer.from('\0'),
  ])
  const head = Buffer.alloc(5)
  head.write('E', 0)
  head.writeInt32BE(4 + fields.length, 1)
  return Buffer.concat([head, fields])
}

/** A stand-in PostgreSQL on localhost with this certificate; says 'over TLS' or 'in the clear'. */
async function fakePostgres(served: Issued): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    socket.once('data', (first) => {
      if (first.length >= 8 && first.readInt32BE(4) === sslRequestCode) {
        socket.write('S')
        const secure = new tls.TLSSocket(socket, { isServer: true, cert: served.cert, key: served.key })
        secure.on('error', () => {})
        secure.once('data', () => secure.end(errorResponse('stand-in: startup message received over TLS')))
      } else {
        socket.end(errorResponse('stand-in: startup message received in the clear'))
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve))
  closers.push(() => new Promise((resolve) => server.close(() => resolve())))
  return (server.address() as net.AddressInfo).port
}

/** Connects with pg as the server would and returns how the stand-in saw it, or the refusal. */
async function connect(url: string): Promise<{ message: string; code?: string }> {
  const client = new pg.Client({
    connectionString: postgresConnectionString(url),
    connectionTimeoutMillis: 10_000,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.end()
    return { message: 'connected' }
  } catch (error) {
    const e = error as Error & { code?: string }
    return { message: e.message, ...(e.code ? { code: e.code } : {}) }
  }
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-pg-tls-'))
  const ca = createTestCa(dir)
  root = ca
  localhost = ca.issue({ name: 'db-localhost', altNames: ['DNS:localhost'] })
  elsewhere = ca.issue({ name: 'db-elsewhere', altNames: ['DNS:db.example.test'] })
  strangerRoot = createTestCa(dir, 'Stranger CA')
})

afterAll(async () => {
  for (const close of closers.splice(0)) await close()
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('postgresConnectionString: sslmode as libpq reads it', () => {
  it('gives pg the TLS settings of each sslmode', () => {
    const base = 'postgres://app:p%40ss@db.example.test:5432/orch'
    const ca = root.certFile
    expect(sslOf(base)).toBe(false)
    expect(sslOf(`${base}?sslmode=disable`)).toBe(false)
    // require: encrypted, nothing checked (pg alone would check everything) …
    expect(sslOf(`${base}?sslmode=require`)).toMatchObject({ rejectUnauthorized: false })
    expect(sslOf(`${base}?sslmode=prefer`)).toMatchObject({ rejectUnauthorized: false })
    // … unless a root certificate is given: then the CA, as verify-ca.
    const requireCa = sslOf(`${base}?sslmode=require&sslrootcert=${ca}`) as tls.ConnectionOptions
    expect(requireCa.ca).toBe(root.cert)
    expect(requireCa.rejectUnauthorized).not.toBe(false)
    expect(requireCa.checkServerIdentity?.('elsewhere', {} as tls.PeerCertificate)).toBeUndefined()
    const verifyCa = sslOf(`${base}?sslmode=verify-ca&sslrootcert=${ca}`) as tls.ConnectionOptions
    expect(verifyCa.ca).toBe(root.cert)
    expect(verifyCa.rejectUnauthorized).not.toBe(false)
    expect(typeof verifyCa.checkServerIdentity).toBe('function')
    // verify-full: the CA and the host name, Node's own check.
    const verifyFull = sslOf(`${base}?sslmode=verify-full&sslrootcert=${ca}`) as tls.ConnectionOptions
    expect(verifyFull.ca).toBe(root.cert)
    expect(verifyFull.rejectUnauthorized).not.toBe(false)
    expect(verifyFull.checkServerIdentity).toBeUndefined()
    // sslrootcert=system: the CAs Node trusts, only with verify-full.
    const system = sslOf(`${base}?sslrootcert=system`) as tls.ConnectionOptions
    expect(system).toEqual({})
    // The rest of the URL is untouched: user, password, database.
    const client = new pg.Client({ connectionString: postgresConnectionString(`${base}?sslmode=require`) })
    expect(client).toMatchObject({ user: 'app', password: 'p@ss', database: 'orch', host: 'db.example.test' })
    // An operator's explicit uselibpqcompat=false keeps pg's stricter reading of require.
    expect(sslOf(`${base}?sslmode=require&uselibpqcompat=false`)).toEqual({})
    expect(sslOf(`${base}?sslmode=no-verify`)).toMatchObject({ rejectUnauthorized: false })
  })

  it('refuses URLs that cannot work, saying what to change', () => {
    const base = 'postgres://db.example.test/orch'
    expect(() => postgresConnectionString(`${base}?sslmode=verify_full`)).toThrow(
      'DATABASE_URL has sslmode=verify_full, which is not one of disable, prefer, require, verify-ca, verify-full',
    )
    expect(() => postgresConnectionString(`${base}?sslmode=allow`)).toThrow('sslmode=allow')
    expect(() => postgresConnectionString(`${base}?sslmode=verify-ca`)).toThrow(
      'DATABASE_URL has sslmode=verify-ca without sslrootcert',
    )
    const missing = path.join(dir, 'missing-ca.pem')
    expect(() => postgresConnectionString(`${base}?sslmode=verify-full&sslrootcert=${missing}`)).toThrow(
      `DATABASE_URL's sslrootcert=${missing} cannot be read (no such file)`,
    )
    expect(() => postgresConnectionString(`${base}?sslmode=verify-full&sslrootcert=${dir}`)).toThrow(
      'it is a directory',
    )
    expect(() => postgresConnectionString(`${base}?sslmode=require&sslrootcert=system`)).toThrow(
      "the system's CAs need sslmode=verify-full",
    )
  })

  it('warns of clear-text and unchecked connections to another host, not of local or checked ones', () => {
    expect(postgresTlsNotice('postgres://db.example.test/orch')).toContain(
      'DATABASE_URL connects to db.example.test without TLS (no sslmode)',
    )
    expect(postgresTlsNotice('postgres://db.example.test/orch?sslmode=require')).toContain(
      "the server's certificate is not checked",
    )
    expect(
      postgresTlsNotice(`postgres://db.example.test/orch?sslmode=require&sslrootcert=${root.certFile}`),
    ).toBe(undefined)
    expect(postgresTlsNotice('postgres://db.example.test/orch?sslmode=verify-full')).toBeUndefined()
    expect(postgresTlsNotice('postgres://127.0.0.1:5432/test')).toBeUndefined()
    expect(postgresTlsNotice('postgres://localhost/test?sslmode=disable')).toBeUndefined()
    expect(postgresTlsNotice('postgres:///test?host=/var/run/postgresql')).toBeUndefined()
  })
})

describe('TLS handshakes with a PostgreSQL stand-in', () => {
  it('verify-full gets through with the right CA and host name and is refused otherwise, in words', async () => {
    const good = await fakePostgres(localhost)
    const wrongName = await fakePostgres(elsewhere)
    const over = 'stand-in: startup message received over TLS'

    expect(
      await connect(`postgres://app@localhost:${good}/orch?sslmode=verify-full&sslrootcert=${root.certFile}`),
    ).toEqual({ message: over, code: '28000' })
    // Another CA: refused in the handshake; the start-up error says to set sslrootcert.
    const wrongCa = await connect(
      `postgres://app@localhost:${good}/orch?sslmode=verify-full&sslrootcert=${strangerRoot.certFile}`,
    )
    expect(wrongCa.code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/)
    expect(
      describePostgresTlsError(Object.assign(new Error(wrongCa.message), { code: wrongCa.code })),
    ).toContain("the database server's TLS certificate is not signed by a CA this server trusts")
    // No sslrootcert: Node's public CAs do not know the test's root either.
    expect((await connect(`postgres://app@localhost:${good}/orch?sslmode=verify-full`)).code).toMatch(
      /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/,
    )
    // The right CA, a certificate for another host: refused by verify-full, accepted by verify-ca.
    const wrongHost = await connect(
      `postgres://app@localhost:${wrongName}/orch?sslmode=verify-full&sslrootcert=${root.certFile}`,
    )
    expect(wrongHost.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
    expect(
      describePostgresTlsError(Object.assign(new Error(wrongHost.message), { code: wrongHost.code })),
    ).toContain("the database server's TLS certificate is not issued for the host in DATABASE_URL")
    expect(
      await connect(
        `postgres://app@localhost:${wrongName}/orch?sslmode=verify-ca&sslrootcert=${root.certFile}`,
      ),
    ).toEqual({ message: over, code: '28000' })
    expect(
      (
        await connect(
          `postgres://app@localhost:${wrongName}/orch?sslmode=verify-ca&sslrootcert=${strangerRoot.certFile}`,
        )
      ).code,
    ).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/)
    // require: encrypted without checks, as in libpq; disable: in the clear.
    expect(await connect(`postgres://app@localhost:${wrongName}/orch?sslmode=require`)).toEqual({
      message: over,
      code: '28000',
    })
    expect(await connect(`postgres://app@localhost:${good}/orch?sslmode=disable`)).toEqual({
      message: 'stand-in: startup message received in the clear',
      code: '28000',
    })
  })
})

describe.skipIf(process.env.OPENORCH_TEST_POSTGRES !== '1')('the local PostgreSQL (no TLS)', () => {
  const withMode = (mode: string) => {
    const url = new URL(postgresUrl)
    url.searchParams.set('sslmode', mode)
    return url.toString()
  }

  it('is reached with sslmode=disable, and sslmode=require says the server has no TLS', async () => {
    const plain = await openDatabase({ url: withMode('disable') })
    try {
      const { rows } = await plain.pool!.query<{ ssl: boolean }>(
        'select coalesce((select ssl from pg_stat_ssl where pid = pg_backend_pid()), false) as ssl',
      )
      expect(rows[0]!.ssl).toBe(false)
    } finally {
      await plain.close()
    }
    const wanting = await openDatabase({ url: withMode('require'), connectTimeoutMs: 5_000 })
    try {
      const failure = await wanting.pool!.query('select 1').then(
        () => undefined,
        (error: unknown) => error,
      )
      expect(describePostgresTlsError(failure)).toContain(
        "the database server does not accept TLS, but DATABASE_URL's sslmode asks for it",
      )
    } finally {
      await wanting.close()
    }
  })
})
