// esbuild plugin: npm dependencies stay external; our own workspace packages (TypeScript sources)
// are bundled. Shared by the server build and the benchmark build.
//
// Exception: pure-JavaScript packages whose ESM build is hundreds of small files are bundled. Node
// keeps every loaded module's record and source, eagerly: importing Kysely from node_modules costs
// ~19 MB of RSS, bundled ~2 MB (functions compile when first called). Native addons, packages that
// load files or workers by path at run time (pino transports, playwright, quickjs' wasm) stay external.
const bundled = new Set(['kysely'])

export const externalDependencies = {
  name: 'external-dependencies',
  setup(builder) {
    builder.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@openorch/')) return undefined
      const name = args.path.startsWith('@')
        ? args.path.split('/').slice(0, 2).join('/')
        : args.path.split('/')[0]
      return bundled.has(name) ? undefined : { path: args.path, external: true }
    })
  },
}
