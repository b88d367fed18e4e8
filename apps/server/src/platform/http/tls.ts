import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto'
import fs from 'node:fs'
import type https from 'node:https'
import tls from 'node:tls'
import type { FastifyInstance } from 'fastify'
import { toError } from '../errors.ts'
import type { Logger } from '../logger.ts'

// HTTPS served by the process itself (decision 0039): the certificate and key are PEM files named by
// OPENORCH_TLS_CERT and OPENORCH_TLS_KEY (OPENORCH_TLS_CA: intermediates sent along), read at start and
// again on SIGHUP. A pair that cannot be used is refused with what to do, before it replaces one that
// works. Every answer carries HSTS while TLS is on.

/** Where the PEM files are (absolute paths, from config). */
export interface TlsFiles {
  certFile: string
  keyFile: string
  caFile: string | undefined
}

/** What the HTTPS server is given, read and checked. */
export interface TlsMaterial {
  cert: Buffer
  key: Buffer
  ca: Buffer | undefined
  /** The server's own certificate (the first of OPENORCH_TLS_CERT). */
  certificate: X509Certificate
  /** Said at start and on reload: expired, not yet valid, or expiring within 14 days. */
  warnings: string[]
}

/** A certificate, key or chain file that cannot be used; the message says which and what to do. */
export class TlsFileError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TlsFileError'
  }
}

export const hstsValue = 'max-age=31536000; includeSubDomains'

const expiresSoonMs = 14 * 86_400_000

function readPem(variable: string, file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT')
      throw new TlsFileError(`${variable}=${file}: no such file. Set it to the PEM file of ${what}.`)
    if (code === 'EACCES')
      throw new TlsFileError(
        `${variable}=${file} cannot be read by this process (permission denied). Make it readable by the user the server runs as${typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : ''}, e.g. with chgrp and chmod 640.`,
      )
    if (code === 'EISDIR')
      throw new TlsFileError(`${variable}=${file} is a directory. Set it to the PEM file of ${what}.`)
    throw new TlsFileError(`${variable}=${file} cannot be read (${toError(error).message}).`)
  }
}

const holdsKey = (pem: string) => /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)
const holdsCertificate = (pem: string) => pem.includes('-----BEGIN CERTIFICATE-----')

function parseCertificate(files: TlsFiles, pem: Buffer): X509Certificate {
  const text = pem.toString('latin1')
  if (!holdsCertificate(text))
    throw new TlsFileError(
      holdsKey(text)
        ? `OPENORCH_TLS_CERT=${files.certFile} holds a private key, not a certificate. Are OPENORCH_TLS_CERT and OPENORCH_TLS_KEY swapped?`
        : `OPENORCH_TLS_CERT=${files.certFile} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" line). Convert a DER file with: openssl x509 -in cert.der -inform der -out cert.pem`,
    )
  try {
    return new X509Certificate(pem)
  } catch (error) {
    throw new TlsFileError(
      `OPENORCH_TLS_CERT=${files.certFile}: the first certificate in it cannot be parsed (${toError(error).message}). Check the file is complete.`,
    )
  }
}

function parseKey(files: TlsFiles, pem: Buffer): KeyObject {
  const text = pem.toString('latin1')
  if (!holdsKey(text))
    throw new TlsFileError(
      holdsCertificate(text)
        ? `OPENORCH_TLS_KEY=${files.keyFile} holds a certificate, not a private key. Are OPENORCH_TLS_CERT and OPENORCH_TLS_KEY swapped?`
        : `OPENORCH_TLS_KEY=${files.keyFile} is not a PEM private key (no "-----BEGIN … PRIVATE KEY-----" line).`,
    )
  if (text.includes('ENCRYPTED'))
    throw new TlsFileError(
      `OPENORCH_TLS_KEY=${files.keyFile} is protected by a passphrase, which the server cannot ask for. Write it without one (readable by the server's user only): openssl pkey -in encrypted.key -out server.key`,
    )
  try {
    return createPrivateKey(pem)
  } catch (error) {
    throw new TlsFileError(
      `OPENORCH_TLS_KEY=${files.keyFile}: the private key cannot be parsed (${toError(error).message}). Check the file is complete.`,
    )
  }
}

function validityWarnings(certificate: X509Certificate, now: number): string[] {
  const from = Date.parse(certificate.validFrom)
  const to = Date.parse(certificate.validTo)
  if (to <= now)
    return [
      `the TLS certificate expired on ${certificate.validTo}: clients refuse it. Renew it, then send SIGHUP.`,
    ]
  if (from > now)
    return [`the TLS certificate is not valid before ${certificate.validFrom}: clients refuse it until then.`]
  if (to - now < expiresSoonMs)
    return [`the TLS certificate expires on ${certificate.validTo}. Renew it, then send SIGHUP.`]
  return []
}

/** A key file others may read, or anyone but its owner may change, is said at start and on reload. */
function keyModeWarnings(files: TlsFiles): string[] {
  if (process.platform === 'win32') return []
  const mode = fs.statSync(files.keyFile).mode & 0o777
  if ((mode & 0o004) === 0 && (mode & 0o022) === 0) return []
  const octal = mode.toString(8).padStart(3, '0')
  return [
    `OPENORCH_TLS_KEY=${files.keyFile} has mode ${octal}: ${mode & 0o004 ? 'every user of this machine can read the private key' : 'others than its owner can change it'}. Make it readable by the server's user only: chmod 600 (or 640 with a group the server's user is in).`,
  ]
}

/**
 * Reads and checks OPENORCH_TLS_CERT, OPENORCH_TLS_KEY and OPENORCH_TLS_CA: each readable, PEM of the
 * right kind, the key the certificate's, and accepted by OpenSSL. Throws TlsFileError naming the file.
 */
export function readTlsMaterial(files: TlsFiles, now = Date.now()): TlsMaterial {
  const cert = readPem('OPENORCH_TLS_CERT', files.certFile, "the server's certificate (with its chain)")
  const key = readPem('OPENORCH_TLS_KEY', files.keyFile, "the certificate's private key")
  const ca = files.caFile
    ? readPem('OPENORCH_TLS_CA', files.caFile, 'the intermediate certificates')
    : undefined
  const certificate = parseCertificate(files, cert)
  const privateKey = parseKey(files, key)
  if (!certificate.checkPrivateKey(privateKey))
    throw new TlsFileError(
      `OPENORCH_TLS_KEY=${files.keyFile} is not the private key of the certificate in OPENORCH_TLS_CERT=${files.certFile} (${certificate.subject.replace(/\n/g, ', ')}). Use the key the certificate was issued for (certbot: privkey.pem next to fullchain.pem); the server's own certificate must come first in the certificate file.`,
    )
  if (ca && !holdsCertificate(ca.toString('latin1')))
    throw new TlsFileError(
      `OPENORCH_TLS_CA=${files.caFile} holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line). Set it to the intermediate certificates, or leave it unset when OPENORCH_TLS_CERT holds the full chain.`,
    )
  try {
    tls.createSecureContext({ cert, key, ...(ca ? { ca } : {}) })
  } catch (error) {
    throw new TlsFileError(
      `OpenSSL refused the certificate files (${toError(error).message}). Check OPENORCH_TLS_CERT=${files.certFile}, OPENORCH_TLS_KEY=${files.keyFile}${files.caFile ? ` and OPENORCH_TLS_CA=${files.caFile}` : ''}.`,
    )
  }
  return {
    cert,
    key,
    ca,
    certificate,
    warnings: [...validityWarnings(certificate, now), ...keyModeWarnings(files)],
  }
}

/**
 * TLS 1.3's suites, and for TLS 1.2 only forward-secret (ECDHE) AEAD ones, as Mozilla's
 * "intermediate" profile: Node's default also offers static-RSA key exchange and CBC (attack finding).
 */
export const tlsCiphers = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

/** What Node's HTTPS server takes of the material (a `ca` completes the chain sent to clients). */
export function secureContextOptionsOf(material: TlsMaterial): tls.SecureContextOptions {
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca ? { ca: material.ca } : {}),
    minVersion: 'TLSv1.2',
    ciphers: tlsCiphers,
    honorCipherOrder: true,
  }
}

/** Log fields that identify a certificate. */
export function certificateFields(certificate: X509Certificate) {
  return {
    subject: certificate.subject.replace(/\n/g, ', '),
    issuer: certificate.issuer.replace(/\n/g, ', '),
    serialNumber: certificate.serialNumber,
    fingerprint256: certificate.fingerprint256,
    validTo: certificate.validTo,
  }
}

/**
 * Reads the files again and gives new connections the new pair; open connections keep theirs. A pair
 * that cannot be used is logged and the one in use stays. Returns whether the new pair is in use.
 */
export function reloadTls(server: https.Server, files: TlsFiles, log: Logger): boolean {
  let material: TlsMaterial
  try {
    material = readTlsMaterial(files)
    server.setSecureContext(secureContextOptionsOf(material))
  } catch (error) {
    log.error(
      { err: toError(error) },
      `TLS certificate not reloaded, the previous one stays in use: ${toError(error).message}`,
    )
    return false
  }
  for (const warning of material.warnings) log.warn(warning)
  log.info({ certificate: certificateFields(material.certificate) }, 'TLS certificate reloaded')
  return true
}

/**
 * Strict-Transport-Security on every answer (API, dashboard, errors, live streams, router refusals):
 * set on the raw response before Fastify sees the request, so no path of it can answer without.
 */
export function registerHsts(app: FastifyInstance): void {
  app.server.prependListener('request', (_request, response) => {
    response.setHeader('strict-transport-security', hstsValue)
  })
}
