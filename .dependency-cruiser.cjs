// Import boundaries (decision 0026), mirroring shared/STYLE.md: dependencies point one way, the run
// kernel knows no domain, a domain reaches another through its service or run events, never its store.
// `npm run lint:boundaries` (part of `npm run lint`, so CI fails on a violation).

const src = '^apps/server/src/'
// Files that wire every domain together, and the migrations (they run against the schema as it was).
const compositionRoot = `${src}(app|main|cli|database)\\.ts$|${src}cli/|${src}migrations/`
const tests = '\\.test\\.ts$|^apps/server/test/|^apps/web/e2e/|^bench/'

module.exports = {
  forbidden: [
    {
      name: 'platform-imports-no-domain',
      comment:
        'platform/ is the ground every domain stands on: it imports no domain. Move what it needs into platform/, or let the domain pass it in.',
      severity: 'error',
      from: { path: `${src}platform/`, pathNot: tests },
      to: { path: src, pathNot: `${src}platform/` },
    },
    {
      name: 'kernel-imports-no-domain',
      comment:
        'The run kernel (runs/) knows no domain: domains enqueue runs and react to run events. Register an executor, a consumer or a retention keeper from the domain instead.',
      severity: 'error',
      from: { path: `${src}runs/`, pathNot: tests },
      to: {
        path: src,
        pathNot: `${src}(runs|platform)/|${src}database\\.ts$|${src}auth/(auth\\.hook|role|api-key\\.service)\\.ts$`,
      },
    },
    {
      name: 'no-foreign-store',
      comment:
        "A domain never reads or writes another domain's tables: call its service (or its public module), or react to its run events.",
      severity: 'error',
      from: { path: `${src}([^/]+)/`, pathNot: `${tests}|${compositionRoot}` },
      to: { path: `${src}[^/]+/.*\\.(store|table)\\.ts$`, pathNot: `${src}$1/` },
    },
    {
      name: 'no-cycles',
      comment: 'Import cycles make the order of initialisation an accident; split the shared part out.',
      severity: 'error',
      from: { pathNot: tests },
      to: { circular: true },
    },
    {
      name: 'web-imports-no-server',
      comment:
        'The dashboard talks to the server over HTTP (the SDK and @openorch/contracts), never by import.',
      severity: 'error',
      from: { path: '^apps/web/' },
      to: { path: '^apps/server/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules|dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.mjs'] },
  },
}
