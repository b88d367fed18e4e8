// Import boundaries (decision 0026), mirroring shared/STYLE.md: dependencies point one way, the run
// kernel knows no domain, a domain reaches another through its service or run events, never its store.
// `npm run lint:boundaries` (part of `npm run lint`, so CI fails on a violation).
// There is no baseline of tolerated violations: the tree has none.

const src = '^apps/server/src/'
// Files that wire every domain together, and the migrations (they run against the schema as it was).
const compositionRoot = `${src}(app|main|cli|database)\\.ts$|${src}cli/|${src}migrations/`
const tests = '\\.test\\.ts$|^apps/server/test/|^apps/web/e2e/|^bench/'
// A top-level folder of the server: a domain, platform/, runs/ (the kernel), cli/ or migrations/.
const domainFolder = `${src}[^/]+$`

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
        // database.ts only composes the table types into `Db`; it is the one file outside both it may use.
        pathNot: `${src}(runs|platform)/|${src}database\\.ts$`,
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
      name: 'no-domain-folder-cycles',
      comment:
        'Two domains that import each other (through any files) are one domain in two folders. Keep the ' +
        'dependency one way: move what both need into platform/, or let the composition root (app.ts) pass ' +
        'a function in.',
      severity: 'error',
      // Folder scope sees every cruised module, so the server's tests are left out of the cruise below.
      scope: 'folder',
      from: { path: domainFolder },
      to: { path: domainFolder, circular: true },
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
    // The server's tests may reach across domains to set up a case; leaving them out of the cruise keeps
    // them out of the folder graph too. The dashboard's tests stay in: they must not import the server.
    exclude: { path: 'node_modules|dist/|^apps/server/src/.*\\.test\\.ts$|^apps/server/test/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.mjs'] },
  },
}
