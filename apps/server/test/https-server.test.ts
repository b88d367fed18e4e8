import { spawn } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { Agent, fetch as undiciFetch } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hstsValue } from '../src/platform/http/tls.ts'
import { createTestApp } from './app-harness.ts'
import { waitFor } from './kernel-harness.ts'
import { createTestCa, type Issued } from './test-certificates.ts'

// The real server (bin/openorch.mjs start) serving HTTPS from OPENORCH_TLS_CERT/KEY (decision 0039):
// certificates made by openssl here, a client that trusts only the test's root CA.

const bin = path.join(import.meta.dirname, '..', 'bin', 'openorch.mjs')
const ownerKey = 'oo_test_owner_key_0123456789abcdef'
const cleanups: Array<() => Promise<void> | void> = []
let dir = ''
let root: Issued
let first: Issued
let second: Issued
let intermediate: Issued
let stranger: Issued

function start(env: Record<string, string>) {
  const dataDir = fs.mkdtempSync(path.join(dir, 'data-'))
  const child = spawn(process.execPath, [bin, 'start'], {
    env: {
      ...process.env,
      OPENORCH_LOG_LEVEL: 'info',
      OPENORCH_PRETTY_LOGS: 'false',
      HOST: '127.0.0.1',
      PORT: '0',
      OPENORCH_DATA_DIR: dataDir,
      DATABASE_URL: '',
      OPENORCH_API_KEY: ownerKey,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk) => {
    out += chunk
  })
  child.stderr.on('data', (chunk) => {
    err += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  cleanups.push(async () => {
    child.kill('SIGKILL')
    await exited
  })
  return { child, exited, out: () => out, err: () => err }
}

/** The certificate a new TLS connection to `port` is shown (trusting the test's root only). */
function peerCertificate(port: number): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: root.cert })
    socket.once('secureConnect', () => {
      resolve(socket.getPeerCertificate())
      socket.end()
    })
    socket.once('error', reject)
  })
}

/** A kept-alive HTTPS connection on which GET requests are sent one after another. */
async function keptConnection(port: number) {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: root.cert })
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve())
    socket.once('error', reject)
  })
  let buffer = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    buffer += chunk
  })
  return {
    socket,
    async get(route: string): Promise<string> {
      buffer = ''
      socket.write(`GET ${route} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`)
      return waitFor(
        () => {
          const head = buffer.indexOf('\r\n\r\n')
          if (head < 0) return undefined
          const length = Number(/content-length: (\d+)/i.exec(buffer.slice(0, head))?.[1] ?? 0)
          return buffer.length >= head + 4 + length ? buffer.split('\r\n')[0] : undefined
        },
        { what: `an answer to GET ${route} on the kept connection`, timeoutMs: 10_000 },
      )
    },
  }
}

function install(cert: Issued, key: Issued, live: { certFile: string; keyFile: string }) {
  // As certbot's deploy hook would: the new files in place, then SIGHUP.
  fs.writeFileSync(`${live.certFile}.new`, cert.cert)
  fs.renameSync(`${live.certFile}.new`, live.certFile)
  fs.writeFileSync(`${live.keyFile}.new`, key.key, { mode: 0o600 })
  fs.renameSync(`${live.keyFile}.new`, live.keyFile)
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-https-'))
  const ca = createTestCa(dir)
  root = ca
  // The served certificates come from an intermediate, sent along from OPENORCH_TLS_CA.
  const inter = ca.issue({ name: 'intermediate', ca: true })
  intermediate = inter
  first = inter.issue({ name: 'first', altNames: ['DNS:localhost', 'IP:127.0.0.1'] })
  second = inter.issue({ name: 'second', altNames: ['DNS:localhost', 'IP:127.0.0.1'] })
  stranger = createTestCa(dir, 'Stranger CA').issue({ name: 'stranger', altNames: ['DNS:localhost'] })
})

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('HTTPS from OPENORCH_TLS_CERT and OPENORCH_TLS_KEY', () => {
  it('serves HTTPS with HSTS, refuses plain HTTP, reloads on SIGHUP without dropping connections and keeps the old pair after a bad reload', async () => {
    const live = { certFile: path.join(dir, 'live.crt'), keyFile: path.join(dir, 'live.key') }
    install(first, first, live)
    const server = start({
      OPENORCH_TLS_CERT: live.certFile,
      OPENORCH_TLS_KEY: live.keyFile,
      OPENORCH_TLS_CA: intermediate.certFile,
    })
    const url = await waitFor(() => /running at (https:\/\/\S+)/.exec(server.out())?.[1], {
      what: `the server to start (stderr: ${server.err()})`,
      timeoutMs: 150_000,
    })
    const port = Number(new URL(url).port)
    const agent = new Agent({ connect: { ca: root.cert } })
    cleanups.push(() => agent.close())

    // HTTPS with only the root trusted: the intermediate is sent along; HSTS on every answer.
    const health = await undiciFetch(`${url}/health`, { dispatcher: agent })
    expect(health.status).toBe(200)
    expect(health.headers.get('strict-transport-security')).toBe(hstsValue)
    const refused = await undiciFetch(`${url}/api/v1/bots`, { dispatcher: agent })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('strict-transport-security')).toBe(hstsValue)
    const badUrl = await undiciFetch(`${url}/api/v1/runs/%zz`, { dispatcher: agent })
    expect(badUrl.status).toBe(400)
    expect(badUrl.headers.get('strict-transport-security')).toBe(hstsValue)
    const dashboard = await undiciFetch(`${url}/no-such-page`, { dispatcher: agent })
    expect(dashboard.headers.get('strict-transport-security')).toBe(hstsValue)
    // The live feed writes its own head (a hijacked reply): it carries HSTS too.
    const stream = new AbortController()
    const feed = await undiciFetch(`${url}/api/v1/events`, {
      dispatcher: agent,
      headers: { authorization: `Bearer ${ownerKey}` },
      signal: stream.signal,
    })
    expect(feed.status).toBe(200)
    expect(feed.headers.get('content-type')).toContain('text/event-stream')
    expect(feed.headers.get('strict-transport-security')).toBe(hstsValue)
    stream.abort()

    // Plain HTTP on the same port is refused by the handshake: no answer at all.
    const plain = await new Promise<string>((resolve) => {
      const request = http.get(`http://127.0.0.1:${port}/health`, (response) =>
        resolve(`answered ${response.statusCode}`),
      )
      request.on('error', (error: NodeJS.ErrnoException) => resolve(`refused: ${error.code}`))
    })
    expect(plain).toMatch(/^refused: (ECONNRESET|EPIPE)/)
    // A client that does not trust the root refuses the server.
    await expect(undiciFetch(`${url}/health`)).rejects.toThrow()

    expect((await peerCertificate(port)).serialNumber).toBe(first.serialNumber)
    const kept = await keptConnection(port)
    cleanups.push(() => {
      kept.socket.destroy()
    })
    expect(await kept.get('/health')).toBe('HTTP/1.1 200 OK')

    // A renewed certificate: SIGHUP, and new connections see it; the open one goes on.
    install(second, second, live)
    server.child.kill('SIGHUP')
    await waitFor(() => server.out().includes('TLS certificate reloaded'), { what: 'the reload' })
    expect((await peerCertificate(port)).serialNumber).toBe(second.serialNumber)
    expect((await peerCertificate(port)).fingerprint256).toBe(second.fingerprint256)
    expect(await kept.get('/health')).toBe('HTTP/1.1 200 OK')
    expect((kept.socket.getPeerCertificate() as tls.PeerCertificate).serialNumber).toBe(first.serialNumber)

    // A pair that does not match: logged with what to do, the second pair stays in use.
    install(first, stranger, live)
    server.child.kill('SIGHUP')
    const failure = await waitFor(
      () =>
        server
          .out()
          .split('\n')
          .find((line) => line.includes('TLS certificate not reloaded')),
      { what: 'the refused reload' },
    )
    expect(JSON.parse(failure).msg).toContain(`OPENORCH_TLS_KEY=${live.keyFile} is not the private key`)
    expect((await peerCertificate(port)).serialNumber).toBe(second.serialNumber)
    expect(await kept.get('/health')).toBe('HTTP/1.1 200 OK')
    const after = await undiciFetch(`${url}/health`, {
      dispatcher: new Agent({ connect: { ca: root.cert } }),
    })
    expect(after.status).toBe(200)

    // An unreadable file is said too, and the process is still serving.
    fs.rmSync(live.keyFile)
    server.child.kill('SIGHUP')
    await waitFor(() => server.out().includes(`OPENORCH_TLS_KEY=${live.keyFile}: no such file`), {
      what: 'the missing key to be reported',
    })
    expect((await peerCertificate(port)).serialNumber).toBe(second.serialNumber)

    server.child.kill('SIGTERM')
    expect(await server.exited).toBe(0)
  }, 240_000)

  it('serves the probes and /metrics of a process without the api role over HTTPS too', async () => {
    const server = start({
      OPENORCH_ROLES: 'worker',
      OPENORCH_TLS_CERT: first.certFile,
      OPENORCH_TLS_KEY: first.keyFile,
      OPENORCH_TLS_CA: intermediate.certFile,
    })
    const url = await waitFor(() => /running at (https:\/\/\S+)/.exec(server.out())?.[1], {
      what: `the worker to start (stderr: ${server.err()})`,
      timeoutMs: 150_000,
    })
    const agent = new Agent({ connect: { ca: root.cert } })
    cleanups.push(() => agent.close())
    for (const route of ['/health', '/ready', '/metrics']) {
      const answer = await undiciFetch(`${url}${route}`, { dispatcher: agent })
      expect(answer.status, route).toBe(200)
      expect(answer.headers.get('strict-transport-security')).toBe(hstsValue)
    }
    const api = await undiciFetch(`${url}/api/v1/bots`, { dispatcher: agent })
    expect(api.status).toBe(404)
    expect(((await api.json()) as { code: string }).code).toBe('api_not_served')
    expect(api.headers.get('strict-transport-security')).toBe(hstsValue)
  }, 180_000)

  it('refuses to start with half a pair or a key of another certificate, saying which and what to do', async () => {
    // Each file problem (missing, unreadable, swapped, encrypted, not PEM) is said by readTlsMaterial
    // the same way (tls.test.ts); here the two paths a start takes: the config check and the files'.
    const certOnly = start({ OPENORCH_TLS_CERT: first.certFile })
    const mismatched = start({ OPENORCH_TLS_CERT: first.certFile, OPENORCH_TLS_KEY: stranger.keyFile })

    expect(await certOnly.exited).toBe(1)
    expect(certOnly.err()).toContain(
      'OPENORCH_TLS_KEY is not set, but OPENORCH_TLS_CERT is: HTTPS needs both',
    )
    expect(await mismatched.exited).toBe(1)
    expect(mismatched.err()).toContain(
      `OPENORCH_TLS_KEY=${stranger.keyFile} is not the private key of the certificate in OPENORCH_TLS_CERT=${first.certFile}`,
    )
    for (const run of [certOnly, mismatched]) expect(run.out()).not.toContain('running at')
  }, 180_000)

  it('sends no HSTS when TLS is off', async () => {
    const app = await createTestApp('sqlite')
    cleanups.push(() => app.close())
    const response = await app.app.inject({ method: 'GET', url: '/health' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['strict-transport-security']).toBeUndefined()
  })
})
