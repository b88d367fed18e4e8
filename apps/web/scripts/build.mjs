#!/usr/bin/env node
// Builds the dashboard into apps/web/dist with Vite. With --if-stale (what `npm start` passes) it
// builds only when dist is missing or older than any source: src, public, index.html, the Vite
// config and the sdk/contracts packages it bundles. Takes ~1 s; a fresh dist costs nothing.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const repo = path.resolve(root, '../..')
const index = path.join(root, 'dist', 'index.html')
const sources = [
  path.join(root, 'src'),
  path.join(root, 'public'),
  path.join(root, 'index.html'),
  path.join(root, 'vite.config.ts'),
  path.join(root, 'package.json'),
  path.join(root, 'scripts', 'build.mjs'),
  path.join(repo, 'packages', 'sdk', 'src'),
  path.join(repo, 'packages', 'contracts', 'src'),
]

function newestMtime(entry) {
  let stat
  try {
    stat = fs.statSync(entry)
  } catch {
    return 0
  }
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = 0
  for (const name of fs.readdirSync(entry)) {
    if (name.endsWith('.test.ts') || name.endsWith('.test.tsx')) continue
    newest = Math.max(newest, newestMtime(path.join(entry, name)))
  }
  return newest
}

function isStale() {
  if (!fs.existsSync(index)) return true
  const built = fs.statSync(index).mtimeMs
  return sources.some((source) => newestMtime(source) > built)
}

if (process.argv.includes('--if-stale') && !isStale()) process.exit(0)

let vite
try {
  vite = await import('vite')
} catch {
  // A production install without dev dependencies: serve what is there, or the API alone.
  console.warn(
    fs.existsSync(index)
      ? 'Dashboard sources changed but Vite is not installed; serving the existing build.'
      : 'Vite is not installed, so the dashboard is not built; the API still works. Run `npm install` to get it.',
  )
  process.exit(0)
}

// Always a production build, whatever NODE_ENV the caller has: under Vitest (NODE_ENV=test) Vite
// and React otherwise build development code — jsxDEV, `import.meta.env.PROD` false, so no
// service worker — and the e2e run would test (and measure) something other than what ships.
process.env.NODE_ENV = 'production'
const started = Date.now()
await vite.build({
  root,
  mode: 'production',
  logLevel: 'warn',
  configFile: path.join(root, 'vite.config.ts'),
})
console.log(`Dashboard built into apps/web/dist in ${((Date.now() - started) / 1000).toFixed(1)} s.`)
