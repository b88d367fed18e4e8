import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

// Certificates for TLS tests, made by the machine's openssl in a directory of the test: a root CA,
// optionally an intermediate, and leaf certificates with the names the test asks for.

export interface Issued {
  certFile: string
  keyFile: string
  cert: string
  key: string
  serialNumber: string
  fingerprint256: string
}

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] })

function issued(certFile: string, keyFile: string): Issued {
  const cert = fs.readFileSync(certFile, 'utf8')
  const x509 = new X509Certificate(cert)
  return {
    certFile,
    keyFile,
    cert,
    key: fs.readFileSync(keyFile, 'utf8'),
    serialNumber: x509.serialNumber,
    fingerprint256: x509.fingerprint256,
  }
}

let serial = 0x1000 + Math.floor(Math.random() * 0x1000)

/** A certificate authority in `dir`; `issue` signs leaf (or, with `ca`, intermediate) certificates. */
export function createTestCa(dir: string, name = 'Test Root CA') {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-')
  const root = issuedSelfSigned(dir, slug, name)
  return { ...root, issue: (leaf: LeafOptions) => issue(dir, root, leaf) }
}

function issuedSelfSigned(dir: string, slug: string, name: string): Issued {
  const certFile = path.join(dir, `${slug}.crt`)
  const keyFile = path.join(dir, `${slug}.key`)
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '30',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ])
  return issued(certFile, keyFile)
}

export interface LeafOptions {
  /** File name stem in the directory. */
  name: string
  /** subjectAltName entries, e.g. ['DNS:localhost', 'IP:127.0.0.1']; unused for an intermediate. */
  altNames?: string[]
  /** An intermediate CA instead of a server certificate. */
  ca?: boolean
  /** Valid for this many days (default 30). */
  days?: number
}

function issue(
  dir: string,
  issuer: Issued,
  leaf: LeafOptions,
): Issued & { issue: (o: LeafOptions) => Issued } {
  const certFile = path.join(dir, `${leaf.name}.crt`)
  const keyFile = path.join(dir, `${leaf.name}.key`)
  const csrFile = path.join(dir, `${leaf.name}.csr`)
  const extFile = path.join(dir, `${leaf.name}.ext`)
  openssl([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    csrFile,
    '-subj',
    `/CN=${leaf.name}`,
  ])
  fs.writeFileSync(
    extFile,
    leaf.ca
      ? 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n'
      : `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=${(leaf.altNames ?? ['DNS:localhost']).join(',')}\n`,
  )
  serial += 1
  openssl([
    'x509',
    '-req',
    '-in',
    csrFile,
    '-CA',
    issuer.certFile,
    '-CAkey',
    issuer.keyFile,
    '-set_serial',
    `0x${serial.toString(16)}`,
    '-days',
    String(leaf.days ?? 30),
    '-out',
    certFile,
    '-extfile',
    extFile,
  ])
  const result = issued(certFile, keyFile)
  return { ...result, issue: (next: LeafOptions) => issue(dir, result, next) }
}
