// Every measurement runs in its own process, as bundled JavaScript on plain Node (like `npm start`):
// a TypeScript loader would add its own thread and ~60 MB to every peak RSS.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { build } from 'esbuild'
// @ts-expect-error: a plain JavaScript module without type declarations
import { externalDependencies } from '../../apps/server/scripts/external-dependencies.mjs'

export const dist = path.join(import.meta.dirname, '..', 'dist')

/** Bundles each entry (name → TypeScript file) to dist/<name>.js. */
export async function bundle(entryPoints: Record<string, string>): Promise<void> {
  await build({
    entryPoints,
    outdir: dist,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    plugins: [externalDependencies],
  })
}

/**
 * The V8 flags `npm start` gives the server (decisions 0013, 0014): openOrchestrator's measurements run
 * with them (and with tuneHeapForServer, as the server calls it), as the product does; the peers run
 * on plain Node, as their users start them.
 */
export const serverNodeFlags = ['--max-semi-space-size=2']

/** Runs dist/<script> with `args`; resolves with its stdout lines (stderr passes through). */
export function runChild(script: string, args: string[], nodeFlags: string[] = []): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, path.join(dist, script), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
    })
    child.on('exit', (code) =>
      code === 0
        ? resolve(out.trim().split('\n').filter(Boolean))
        : reject(new Error(`${script} exited ${code}`)),
    )
  })
}
