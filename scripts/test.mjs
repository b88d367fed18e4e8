#!/usr/bin/env node
// `npm test`: every database test runs on SQLite and, when PostgreSQL answers, on PostgreSQL too.
// Without PostgreSQL the PostgreSQL half is skipped and we say so; under CI=true that is a failure.
// Ends with the line `N passed, N failed`.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'

// The PostgreSQL half runs as `openorch_app`, an application role as production should have one: no
// superuser, no BYPASSRLS, owner of what it creates. Row-level security (migration 0038) then binds
// every query of every test, as it binds the server in production. A superuser (the admin URL)
// creates the role when it is missing; OPENORCH_TEST_PG_URL overrides the role's URL.
const adminUrl = process.env.OPENORCH_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const appUrl = process.env.OPENORCH_TEST_PG_URL ?? 'postgres://openorch_app@127.0.0.1:5432/test'
const url = appUrl
const isCi = process.env.CI === 'true' || process.env.CI === '1'

async function ensureApplicationRole() {
  if (process.env.OPENORCH_TEST_PG_URL) return
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query(`DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'openorch_app') THEN
        CREATE ROLE openorch_app LOGIN NOSUPERUSER NOBYPASSRLS CREATEDB;
      END IF;
    END $$`)
    await client.query('ALTER ROLE openorch_app NOSUPERUSER NOBYPASSRLS CREATEDB')
    await client.query(`GRANT CREATE ON DATABASE ${client.database} TO openorch_app`)
  } catch {
    // Reported by the probe below.
  } finally {
    await client.end().catch(() => {})
  }
}

async function postgresAnswers() {
  await ensureApplicationRole()
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  } finally {
    await client.end().catch(() => {})
  }
}

const probe = await postgresAnswers()
const env = { ...process.env }
if (probe === true) {
  env.OPENORCH_TEST_POSTGRES = '1'
  env.OPENORCH_TEST_PG_URL = url
  console.log(
    `PostgreSQL at ${url.replace(/\/\/[^@]*@/, '//')} answers: database tests run on SQLite and PostgreSQL.`,
  )
} else if (isCi) {
  console.error(`PostgreSQL is required under CI but does not answer at ${url}: ${probe}`)
  console.log('0 passed, 1 failed')
  process.exit(1)
} else {
  env.OPENORCH_TEST_POSTGRES = '0'
  console.warn(
    `\n*** PostgreSQL does not answer at ${url} (${probe}).\n*** The PostgreSQL half of the database tests is SKIPPED; only SQLite runs.\n` +
      '*** Start PostgreSQL or set OPENORCH_TEST_PG_URL to run everything.\n',
  )
}

// The browser tests run after the rest, on their own: Chromium and a server process take both cores,
// and timing-sensitive kernel tests should not share the machine with them. Arguments (file filters,
// -t) run one pass over whatever they select.
// The last pass searches every log line and API answer of the others for the secrets the tests used
// (issue 5; apps/server/test/output-capture.ts fills the capture directory).
const finalCheck = 'apps/server/test/secrets-in-output.final.test.ts'
const extra = process.argv.slice(2)
const passes =
  extra.length > 0
    ? [extra]
    : [['--exclude', 'apps/*/e2e/**', '--exclude', finalCheck], ['apps/web/e2e'], [finalCheck]]
if (extra.length === 0) {
  env.OPENORCH_TEST_CAPTURE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-capture-'))
}

let passed = 0
let failed = 0
let code = 0
for (const [index, args] of passes.entries()) {
  // The browser tests' files each build the dashboard when it is stale; two at once on a fresh
  // clone would empty dist/ under each other (a size check once read a half-written folder): build once.
  if (args.some((arg) => arg.includes('e2e') && !arg.startsWith('--'))) {
    const build = spawn(process.execPath, ['apps/web/scripts/build.mjs', '--if-stale'], {
      stdio: 'inherit',
      env,
    })
    await new Promise((resolve) => build.on('exit', resolve))
  }
  const results = path.join(os.tmpdir(), `openorch-vitest-${process.pid}-${index}.json`)
  const vitest = spawn(
    process.execPath,
    [
      path.resolve('node_modules/vitest/vitest.mjs'),
      'run',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${results}`,
      ...args,
    ],
    { stdio: 'inherit', env },
  )
  const exit = await new Promise((resolve) =>
    vitest.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))),
  )
  let passFailed = 0
  try {
    const report = JSON.parse(fs.readFileSync(results, 'utf8'))
    passed += report.numPassedTests
    passFailed = report.numFailedTests + countFilesFailedWithoutTests(report)
    fs.rmSync(results, { force: true })
  } catch {
    passFailed = 1
  }
  if (exit !== 0 && passFailed === 0) passFailed = 1
  failed += passFailed
  if (exit !== 0) code = exit
}
if (env.OPENORCH_TEST_CAPTURE_DIR) fs.rmSync(env.OPENORCH_TEST_CAPTURE_DIR, { recursive: true, force: true })
if (probe !== true) console.log('PostgreSQL half SKIPPED (PostgreSQL not reachable).')
console.log(`${passed} passed, ${failed} failed`)
process.exit(code === 0 && failed === 0 ? 0 : 1)

// A file that fails to load (syntax error, failing hook) counts once; a file whose tests failed is
// already counted by its tests.
function countFilesFailedWithoutTests(report) {
  return (report.testResults ?? []).filter(
    (file) => file.status === 'failed' && !(file.assertionResults ?? []).some((t) => t.status === 'failed'),
  ).length
}
