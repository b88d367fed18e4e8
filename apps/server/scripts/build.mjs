// Bundles the server's TypeScript into dist/cli.js (dependencies stay external, except the pure-JS
// packages listed in external-dependencies.mjs). Takes ~0.2 s.
// `npm start` runs the bundle with plain Node: no loader thread, ~60 MB less memory than tsx.
import { build } from 'esbuild'
import { externalDependencies } from './external-dependencies.mjs'

await build({
  entryPoints: [new URL('../src/cli.ts', import.meta.url).pathname],
  outfile: new URL('../dist/cli.js', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  plugins: [externalDependencies],
  sourcemap: 'linked',
  logLevel: 'warning',
})
