import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import nodeTls from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestCa, type Issued } from '../../../test/test-certificates.ts'
import { ConfigError, loadConfig } from '../config.ts'
import { readTlsMaterial, secureContextOptionsOf, TlsFileError } from './tls.ts'

let dir = ''
let leaf: Issued
let other: Issued
let intermediate: Issued

const files = (cert: string, key: string, ca?: string) => ({ certFile: cert, keyFile: key, caFile: ca })
const refusal = (call: () => unknown): string => {
  try {
    call()
  } catch (error) {
    expect(error).toBeInstanceOf(TlsFileError)
    return (error as Error).message
  }
  throw new Error('readTlsMaterial accepted the files')
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-tls-'))
  const ca = createTestCa(dir)
  intermediate = ca.issue({ name: 'intermediate', ca: true })
  leaf = ca.issue({ name: 'leaf', altNames: ['DNS:localhost'] })
  other = ca.issue({ name: 'other', altNames: ['DNS:localhost'] })
})

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

describe('readTlsMaterial', () => {
  it('reads a matching pair and names the certificate', () => {
    const material = readTlsMaterial(files(leaf.certFile, leaf.keyFile, intermediate.certFile))
    expect(material.certificate.serialNumber).toBe(leaf.serialNumber)
    expect(material.ca?.toString()).toBe(intermediate.cert)
    expect(material.warnings).toEqual([])
  })

  it('says which file is missing, a directory, or of the wrong kind', () => {
    const nowhere = path.join(dir, 'missing.pem')
    expect(refusal(() => readTlsMaterial(files(nowhere, leaf.keyFile)))).toBe(
      `OPENORCH_TLS_CERT=${nowhere}: no such file. Set it to the PEM file of the server's certificate (with its chain).`,
    )
    expect(refusal(() => readTlsMaterial(files(leaf.certFile, dir)))).toContain(
      `OPENORCH_TLS_KEY=${dir} is a directory`,
    )
    expect(refusal(() => readTlsMaterial(files(leaf.keyFile, leaf.certFile)))).toContain(
      'holds a private key, not a certificate. Are OPENORCH_TLS_CERT and OPENORCH_TLS_KEY swapped?',
    )
    expect(refusal(() => readTlsMaterial(files(leaf.certFile, leaf.certFile)))).toContain(
      'holds a certificate, not a private key',
    )
    const der = path.join(dir, 'leaf.der')
    execFileSync('openssl', ['x509', '-in', leaf.certFile, '-outform', 'der', '-out', der])
    expect(refusal(() => readTlsMaterial(files(der, leaf.keyFile)))).toContain(
      'is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" line). Convert a DER file',
    )
    expect(refusal(() => readTlsMaterial(files(leaf.certFile, leaf.keyFile, leaf.keyFile)))).toContain(
      `OPENORCH_TLS_CA=${leaf.keyFile} holds no PEM certificate`,
    )
  })

  it('refuses a key of another certificate and one with a passphrase', () => {
    expect(refusal(() => readTlsMaterial(files(leaf.certFile, other.keyFile)))).toContain(
      `OPENORCH_TLS_KEY=${other.keyFile} is not the private key of the certificate in OPENORCH_TLS_CERT=${leaf.certFile} (CN=leaf)`,
    )
    const encrypted = path.join(dir, 'encrypted.key')
    execFileSync('openssl', [
      'pkey',
      '-in',
      leaf.keyFile,
      '-aes256',
      '-passout',
      'pass:secret',
      '-out',
      encrypted,
    ])
    expect(refusal(() => readTlsMaterial(files(leaf.certFile, encrypted)))).toContain(
      'is protected by a passphrase, which the server cannot ask for',
    )
  })

  it.skipIf(process.getuid?.() === 0)(
    'says a file the process may not read is unreadable, and by whom',
    () => {
      const locked = path.join(dir, 'locked.key')
      fs.copyFileSync(leaf.keyFile, locked)
      fs.chmodSync(locked, 0o000)
      expect(refusal(() => readTlsMaterial(files(leaf.certFile, locked)))).toContain(
        `OPENORCH_TLS_KEY=${locked} cannot be read by this process (permission denied)`,
      )
    },
  )

  it('warns of a certificate that expired, expires soon or is not valid yet', () => {
    const day = 86_400_000
    const validTo = Date.parse(readTlsMaterial(files(leaf.certFile, leaf.keyFile)).certificate.validTo)
    expect(readTlsMaterial(files(leaf.certFile, leaf.keyFile), validTo + day).warnings[0]).toMatch(
      /^the TLS certificate expired on .*: clients refuse it\. Renew it, then send SIGHUP\.$/,
    )
    expect(readTlsMaterial(files(leaf.certFile, leaf.keyFile), validTo - day).warnings[0]).toMatch(
      /^the TLS certificate expires on /,
    )
    const validFrom = Date.parse(readTlsMaterial(files(leaf.certFile, leaf.keyFile)).certificate.validFrom)
    expect(readTlsMaterial(files(leaf.certFile, leaf.keyFile), validFrom - day).warnings[0]).toMatch(
      /^the TLS certificate is not valid before /,
    )
  })
})

describe('the key file and the ciphers', () => {
  it('warns of a private key every user may read, and not of one only its owner may', () => {
    const open = path.join(dir, 'open.key')
    fs.copyFileSync(leaf.keyFile, open)
    fs.chmodSync(open, 0o644)
    expect(readTlsMaterial(files(leaf.certFile, open)).warnings).toEqual([
      expect.stringMatching(/mode 644: every user of this machine can read the private key.*chmod 600/),
    ])
    fs.chmodSync(open, 0o640)
    expect(readTlsMaterial(files(leaf.certFile, open)).warnings).toEqual([])
  })

  it('offers TLS 1.3 and forward-secret AEAD suites of TLS 1.2, not CBC, nor TLS 1.1', async () => {
    const server = https.createServer(
      secureContextOptionsOf(readTlsMaterial(files(leaf.certFile, leaf.keyFile))),
      (_request, response) => response.end('ok'),
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const handshake = (options: nodeTls.ConnectionOptions) =>
      new Promise<string>((resolve) => {
        const socket = nodeTls.connect(
          { host: '127.0.0.1', port, rejectUnauthorized: false, ...options },
          () => {
            resolve(`${socket.getProtocol()} ${socket.getCipher().name}`)
            socket.end()
          },
        )
        socket.on('error', (error) => resolve(`refused: ${error.message}`))
      })
    try {
      expect(await handshake({})).toMatch(/^TLSv1\.3 /)
      expect(await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' })).toBe(
        'TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256',
      )
      expect(await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256' })).toMatch(
        /^refused/,
      )
      expect(await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-SHA' })).toMatch(
        /^refused/,
      )
      expect(await handshake({ minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1' })).toMatch(/^refused/)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('OPENORCH_TLS_* in loadConfig', () => {
  it('takes both or neither, as absolute paths', () => {
    expect(loadConfig({}).http.tls).toBeUndefined()
    expect(
      loadConfig({ OPENORCH_TLS_CERT: 'certs/a.crt', OPENORCH_TLS_KEY: '/k.pem', OPENORCH_TLS_CA: 'c.pem' })
        .http.tls,
    ).toEqual({ certFile: path.resolve('certs/a.crt'), keyFile: '/k.pem', caFile: path.resolve('c.pem') })
    expect(() => loadConfig({ OPENORCH_TLS_KEY: '/k.pem' })).toThrow(ConfigError)
    expect(() => loadConfig({ OPENORCH_TLS_KEY: '/k.pem' })).toThrow(
      'OPENORCH_TLS_CERT is not set, but OPENORCH_TLS_KEY is: HTTPS needs both',
    )
    expect(() => loadConfig({ OPENORCH_TLS_CA: '/c.pem' })).toThrow('OPENORCH_TLS_CA is set without')
  })
})
