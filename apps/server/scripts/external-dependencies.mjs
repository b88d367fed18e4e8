// esbuild plugin: npm dependencies stay external; our own workspace packages (TypeScript sources)
// are bundled. Shared by the server build and the benchmark build.
export const externalDependencies = {
  name: 'external-dependencies',
  setup(builder) {
    builder.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('@openorch/') ? undefined : { path: args.path, external: true },
    )
  },
}
