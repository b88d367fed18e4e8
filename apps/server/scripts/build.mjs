// Bundles the server's TypeScript into dist/cli.js (dependencies stay external, except the pure-JS
// packages listed in external-dependencies.mjs). Takes ~0.2 s.
// `npm start` runs the bundle with plain Node: no loader thread, ~60 MB less memory than tsx.
// The run_code sandbox runs in worker threads started from a file of their own: dist/run-code.worker.js,
// which src/tools/code/run-code.ts looks for next to the running bundle.
import { build } from 'esbuild'
import { externalDependencies } from './external-dependencies.mjs'

await build({
  entryPoints: {
    cli: new URL('../src/cli.ts', import.meta.url).pathname,
    'run-code.worker': new URL('../src/tools/code/run-code.worker.ts', import.meta.url).pathname,
  },
  outdir: new URL('../dist', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  plugins: [externalDependencies],
  sourcemap: 'linked',
  logLevel: 'warning',
})
