import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'
import { loadConfig } from '../src/platform/config.ts'
import { dialects } from './databases.ts'
import { waitFor } from './kernel-harness.ts'
import { serverDatabaseEnv, startServerProcess } from './server-process.ts'

// The deployment files (decision 0036): every kustomize overlay rendered by kubectl and validated
// against the Kubernetes schemas (kubernetes-models), their invariants, the compose files, the
// Dockerfile — and the health check commands they contain run against real servers started with the
// environment the manifests give each process.

const repo = path.resolve(import.meta.dirname, '../../..')
const kubectl = process.env.KUBECTL ?? 'kubectl'
const overlays = ['single', 'cluster'] as const

// biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects are read field by field
type K8s = any
// biome-ignore lint/suspicious/noExplicitAny: compose files are read field by field
type Yaml = any

function render(overlay: string): K8s[] {
  const dir = path.join(repo, 'deploy/k8s/overlays', overlay)
  const result = spawnSync(kubectl, ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 })
  if (result.error)
    throw new Error(
      `Could not run "${kubectl} kustomize" (${result.error.message}). Install kubectl or set KUBECTL to it.`,
    )
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${result.stderr}`)
  return parseAllDocuments(result.stdout).map((doc) => doc.toJS())
}

/** The environment variables config.ts reads: the keys of its envSchema. */
function knownEnvNames(): Set<string> {
  const source = fs.readFileSync(path.join(repo, 'apps/server/src/platform/config.ts'), 'utf8')
  const start = source.indexOf('const envSchema = z.object({')
  const end = source.indexOf('\n})\n', start)
  expect(start, 'envSchema in config.ts').toBeGreaterThan(-1)
  const names = [...source.slice(start, end).matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!)
  expect(names).toContain('OPENORCH_ROLES')
  return new Set(names)
}

/** Names a container may carry besides config.ts's: Node's own and OpenTelemetry's standard ones. */
const isKnownEnv = (known: Set<string>, name: string) =>
  known.has(name) || name === 'NODE_ENV' || name.startsWith('OTEL_')

/** The model class for an object's apiVersion and kind, e.g. apps/v1 Deployment. */
async function modelOf(object: K8s) {
  const [group, version] = String(object.apiVersion).includes('/')
    ? String(object.apiVersion).split('/')
    : ['', String(object.apiVersion)]
  const module: Record<string, unknown> = await import(
    group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`
  )
  const model = module[object.kind] as (new (data: unknown) => { validate(): void }) | undefined
  if (!model) throw new Error(`kubernetes-models has no ${object.apiVersion} ${object.kind}`)
  return model
}

/** The server's production sources. */
function serverSources(): string[] {
  const dir = path.join(repo, 'apps/server/src')
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
    .map((file) => fs.readFileSync(path.join(dir, file), 'utf8'))
}

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([key, value]) => labels?.[key] === value)

/** A container's environment as the pod would see it: ConfigMaps and Secrets resolved. */
function containerEnv(objects: K8s[], container: K8s): Record<string, string> {
  const find = (kind: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata.name === name)
  const env: Record<string, string> = {}
  for (const from of container.envFrom ?? []) {
    const source = from.configMapRef
      ? find('ConfigMap', from.configMapRef.name)?.data
      : decodeSecret(find('Secret', from.secretRef.name))
    expect(source, `envFrom ${JSON.stringify(from)} names an object in the render`).toBeDefined()
    Object.assign(env, source)
  }
  for (const variable of container.env ?? []) {
    if ('value' in variable) env[variable.name] = String(variable.value)
    else if (variable.valueFrom?.secretKeyRef) {
      const ref = variable.valueFrom.secretKeyRef
      const data = decodeSecret(find('Secret', ref.name))
      expect(data, `Secret ${ref.name} (for ${variable.name}) exists in the render`).toBeDefined()
      expect(Object.keys(data!), `Secret ${ref.name} has the key ${ref.key}`).toContain(ref.key)
      env[variable.name] = data![ref.key]!
    } else if (variable.valueFrom?.configMapKeyRef) {
      const ref = variable.valueFrom.configMapKeyRef
      const data = find('ConfigMap', ref.name)?.data
      expect(data?.[ref.key], `ConfigMap ${ref.name} has the key ${ref.key}`).toBeDefined()
      env[variable.name] = data[ref.key]
    }
  }
  return env
}

function decodeSecret(secret: K8s): Record<string, string> | undefined {
  if (!secret) return undefined
  return {
    ...Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString()]),
    ),
    ...(secret.stringData ?? {}),
  }
}

/** Valid stand-ins for the overlays' deliberately invalid secret placeholders. */
const validSecrets = {
  DATABASE_URL: 'postgres://openorch:secret@postgres.example:5432/openorch',
  OPENORCH_MASTER_KEY: 'a-test-master-key-that-is-long-enough-0123456789',
}

const deployments = (objects: K8s[]) => objects.filter((o) => o.kind === 'Deployment')
const preStopSeconds = (container: K8s) => {
  const command: string[] | undefined = container.lifecycle?.preStop?.exec?.command
  if (command?.[0] === 'sleep') return Number(command[1])
  return container.lifecycle?.preStop?.sleep?.seconds ?? 0
}

describe.each(overlays)('kustomize overlay %s', (overlay) => {
  const objects = render(overlay)

  it('renders objects that all validate against the Kubernetes schemas', async () => {
    expect(objects.length).toBeGreaterThan(5)
    const kinds = new Set(objects.map((o) => o.kind))
    for (const kind of [
      'Namespace',
      'ServiceAccount',
      'ConfigMap',
      'Secret',
      'Deployment',
      'Service',
      'PodDisruptionBudget',
      'NetworkPolicy',
    ])
      expect(kinds, `${overlay} renders a ${kind}`).toContain(kind)
    for (const object of objects) {
      const Model = await modelOf(object)
      expect(() => new Model(object).validate(), `${object.kind} ${object.metadata.name}`).not.toThrow()
    }
    // The check catches what it should: a port as a string is refused.
    const broken = structuredClone(deployments(objects)[0])
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'http'
    const Model = await modelOf(broken)
    expect(() => new Model(broken).validate()).toThrow(/containerPort must be integer/)
  })

  it('puts everything into one namespace, and pins image tags', () => {
    for (const object of objects.filter((o) => o.kind !== 'Namespace'))
      expect(object.metadata.namespace, `${object.kind} ${object.metadata.name}`).toBe('openorch')
    for (const deployment of deployments(objects))
      for (const container of deployment.spec.template.spec.containers) {
        const image: string = container.image
        const tag = /:([^/:@]+)$/.exec(image)?.[1]
        expect(tag, `${deployment.metadata.name} image ${image} has a tag`).toBeDefined()
        expect(tag).not.toBe('latest')
      }
  })

  it('probes /ready and /health on the container port, with requests, limits and a locked-down container', () => {
    for (const deployment of deployments(objects)) {
      const pod = deployment.spec.template.spec
      const name = deployment.metadata.name
      expect(pod.securityContext.runAsNonRoot, name).toBe(true)
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0)
      expect(pod.securityContext.seccompProfile.type).toBe('RuntimeDefault')
      expect(pod.automountServiceAccountToken).toBe(false)
      expect(
        objects.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === pod.serviceAccountName),
      ).toBe(true)
      for (const container of pod.containers) {
        const env = containerEnv(objects, container)
        const port = Number(env.PORT ?? 8080)
        const named = container.ports.find((p: K8s) => p.name === 'http')
        expect(named?.containerPort, `${name}: the http port is PORT`).toBe(port)
        const portOf = (probe: K8s) =>
          typeof probe.httpGet.port === 'number'
            ? probe.httpGet.port
            : container.ports.find((p: K8s) => p.name === probe.httpGet.port)?.containerPort
        expect(container.readinessProbe.httpGet.path, name).toBe('/ready')
        expect(container.startupProbe.httpGet.path, name).toBe('/ready')
        expect(container.livenessProbe.httpGet.path, name).toBe('/health')
        for (const probe of [container.readinessProbe, container.startupProbe, container.livenessProbe])
          expect(portOf(probe), name).toBe(port)
        // The startup probe covers a slow first start (migrations) before liveness may restart it.
        expect(
          container.startupProbe.periodSeconds * container.startupProbe.failureThreshold,
        ).toBeGreaterThanOrEqual(120)
        for (const kind of ['requests', 'limits'] as const) {
          expect(container.resources[kind].cpu, `${name} ${kind}.cpu`).toBeDefined()
          expect(container.resources[kind].memory, `${name} ${kind}.memory`).toBeDefined()
        }
        expect(container.securityContext).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        })
        // A read-only root: the data dir and /tmp are volumes of the pod.
        const mounts = new Map(container.volumeMounts.map((m: K8s) => [m.mountPath, m.name]))
        for (const dir of [env.OPENORCH_DATA_DIR, '/tmp']) {
          expect(mounts.has(dir), `${name} mounts ${dir}`).toBe(true)
          expect(pod.volumes.map((v: K8s) => v.name)).toContain(mounts.get(dir))
        }
        for (const volume of pod.volumes.filter((v: K8s) => v.persistentVolumeClaim))
          expect(
            objects.some(
              (o) =>
                o.kind === 'PersistentVolumeClaim' &&
                o.metadata.name === volume.persistentVolumeClaim.claimName,
            ),
            `${name}: the claim ${volume.persistentVolumeClaim.claimName} exists`,
          ).toBe(true)
      }
    }
  })

  it('gives SIGTERM more time than OPENORCH_SHUTDOWN_GRACE_SECONDS plus the preStop pause', () => {
    for (const deployment of deployments(objects)) {
      const pod = deployment.spec.template.spec
      for (const container of pod.containers) {
        const env = containerEnv(objects, container)
        const grace = Number(env.OPENORCH_SHUTDOWN_GRACE_SECONDS ?? 25)
        expect(grace).toBeGreaterThan(0)
        expect(pod.terminationGracePeriodSeconds, deployment.metadata.name).toBeGreaterThanOrEqual(
          grace + preStopSeconds(container) + 5,
        )
      }
    }
  })

  it('gives every process an environment config.ts knows and accepts, with the secrets present', () => {
    const known = knownEnvNames()
    const roles = new Set<string>()
    const service = objects.find((o) => o.kind === 'Service')
    for (const deployment of deployments(objects))
      for (const container of deployment.spec.template.spec.containers) {
        const env = containerEnv(objects, container)
        for (const name of Object.keys(env))
          expect(isKnownEnv(known, name), `${deployment.metadata.name}: ${name} is read by config.ts`).toBe(
            true,
          )
        expect(env.OPENORCH_MASTER_KEY, 'the master key comes from the Secret').toBeDefined()
        // The committed placeholders are refused, naming the variable; real values are accepted.
        expect(() => loadConfig(env)).toThrow(/OPENORCH_MASTER_KEY/)
        const withSecrets = {
          ...env,
          ...Object.fromEntries(
            Object.keys(validSecrets)
              .filter((k) => k in env)
              .map((k) => [k, validSecrets[k as keyof typeof validSecrets]]),
          ),
        }
        const config = loadConfig(withSecrets)
        // The pods behind the Service serve the API; the others (workers) only their probes and /metrics.
        expect(config.roles.includes('api'), `${deployment.metadata.name} has the api role`).toBe(
          matches(service.spec.selector, deployment.spec.template.metadata.labels),
        )
        for (const role of config.roles) roles.add(role)
        if (overlay === 'cluster') expect(config.database.url, deployment.metadata.name).toBeDefined()
        else expect(config.database.url).toBeUndefined()
      }
    expect([...roles].sort()).toEqual(['api', 'scheduler', 'worker'])
  })

  it('points the Service, the PDBs, the NetworkPolicies and the HPA at pods that exist', () => {
    const pods = deployments(objects).map((d) => ({
      name: d.metadata.name,
      labels: d.spec.template.metadata.labels,
      deployment: d,
    }))
    for (const deployment of deployments(objects))
      expect(matches(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels)).toBe(
        true,
      )
    const service = objects.find((o) => o.kind === 'Service')
    const served = pods.filter((p) => matches(service.spec.selector, p.labels))
    expect(served.map((p) => p.name)).toEqual(['openorch-api'])
    for (const port of service.spec.ports)
      expect(served[0]!.deployment.spec.template.spec.containers[0].ports.map((p: K8s) => p.name)).toContain(
        port.targetPort,
      )
    const budgets = objects.filter((o) => o.kind === 'PodDisruptionBudget')
    for (const pod of pods)
      expect(
        budgets.filter((b) => matches(b.spec.selector.matchLabels, pod.labels)).length,
        `${pod.name} has a PodDisruptionBudget`,
      ).toBe(1)
    for (const budget of budgets) expect(budget.spec.maxUnavailable ?? budget.spec.minAvailable).toBeDefined()
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy')
    for (const pod of pods)
      expect(
        policies.some((p) => matches(p.spec.podSelector.matchLabels, pod.labels)),
        `${pod.name} has a NetworkPolicy`,
      ).toBe(true)
    const autoscalers = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')
    if (overlay === 'single') {
      expect(autoscalers).toEqual([])
      const api = deployments(objects)[0]
      expect(api.spec.replicas).toBe(1)
      expect(api.spec.strategy.type).toBe('Recreate')
      return
    }
    expect(autoscalers).toHaveLength(1)
    const hpa = autoscalers[0]
    const target = deployments(objects).find(
      (d) =>
        d.metadata.name === hpa.spec.scaleTargetRef.name && hpa.spec.scaleTargetRef.kind === 'Deployment',
    )
    expect(target?.metadata.name).toBe('openorch-worker')
    expect(containerEnv(objects, target.spec.template.spec.containers[0]).OPENORCH_ROLES).toContain('worker')
    const metric = hpa.spec.metrics[0].external.metric.name
    expect(metric).toBe('openorch_queue_depth')
    // The metric the HPA scales on is one the server registers (and /metrics serves it: below).
    expect(serverSources().some((source) => source.includes(`name: '${metric}'`))).toBe(true)
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(1)
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas)
  })
})

function composeFile(name: string): Yaml {
  return parse(fs.readFileSync(path.join(repo, 'deploy/compose', name), 'utf8'), { merge: true })
}

/** Compose's ${NAME:-default} and ${NAME:?error}: the default, or a valid stand-in for required secrets. */
function interpolate(value: string): string {
  return value.replace(
    /\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g,
    (_all, name: string, op?: string, rest?: string) => {
      if (op === '-') return rest ?? ''
      if (name === 'OPENORCH_MASTER_KEY') return validSecrets.OPENORCH_MASTER_KEY
      return 'a-test-password'
    },
  )
}

const orchestratorServices = (compose: Yaml) =>
  Object.entries<Yaml>(compose.services).filter(
    ([, service]) => service.build || String(service.image).includes('openorch'),
  )

describe.each(['single.yml', 'cluster.yml'])('compose %s', (file) => {
  const compose = composeFile(file)
  const base = path.join(repo, 'deploy/compose')

  it('builds the Dockerfile, mounts files that exist, and has a health check on every service', () => {
    for (const [name, service] of Object.entries<Yaml>(compose.services)) {
      expect(service.healthcheck?.test, `${name} has a health check`).toBeDefined()
      expect(service.healthcheck.disable).not.toBe(true)
      if (service.image && !service.build) expect(String(service.image), name).toMatch(/:[^:]+$/)
      if (service.image && !service.build) expect(String(service.image), name).not.toMatch(/:latest$/)
      if (service.build) {
        const context = path.resolve(base, service.build.context)
        expect(fs.existsSync(path.join(context, service.build.dockerfile ?? 'Dockerfile')), name).toBe(true)
      }
      for (const volume of service.volumes ?? []) {
        const source = String(volume).split(':')[0]!
        if (source.startsWith('.'))
          expect(fs.existsSync(path.resolve(base, source)), `${name} mounts ${source}, which exists`).toBe(
            true,
          )
        else
          expect(Object.keys(compose.volumes ?? {}), `${name}: the volume ${source} is declared`).toContain(
            source,
          )
      }
    }
  })

  it('gives the orchestrators an environment config.ts knows and accepts, and time to stop', () => {
    const known = knownEnvNames()
    const roles = new Set<string>()
    const services = orchestratorServices(compose)
    expect(services.length).toBe(file === 'single.yml' ? 1 : 3)
    for (const [name, service] of services) {
      const env = Object.fromEntries(
        Object.entries<Yaml>(service.environment).map(([k, v]) => [k, interpolate(String(v))]),
      )
      for (const variable of Object.keys(env))
        expect(isKnownEnv(known, variable), `${name}: ${variable} is read by config.ts`).toBe(true)
      const config = loadConfig(env)
      expect(config.dataDir).toBe('/data')
      expect(
        service.volumes.some((v: string) => v.endsWith(':/data')),
        `${name} keeps /data in a volume`,
      ).toBe(true)
      // The published process serves the API; the others only their health check and /metrics.
      expect(config.roles.includes('api'), `${name} has the api role`).toBe(Boolean(service.ports?.length))
      for (const role of config.roles) roles.add(role)
      if (file === 'cluster.yml') expect(config.database.url, name).toMatch(/@postgres:5432\//)
      else expect(config.database.url).toBeUndefined()
      const stopSeconds = Number(/^(\d+)s$/.exec(service.stop_grace_period)?.[1])
      expect(stopSeconds, `${name}: stop_grace_period`).toBeGreaterThan(config.worker.shutdownGraceMs / 1000)
      expect(service.read_only).toBe(true)
      expect(service.cap_drop).toEqual(['ALL'])
    }
    expect([...roles].sort()).toEqual(['api', 'scheduler', 'worker'])
    // Only the API process is published.
    const published = services.filter(([, s]) => s.ports?.length).map(([name]) => name)
    expect(published).toHaveLength(1)
  })

  it.runIf(file === 'cluster.yml')(
    'wires Prometheus to every orchestrator and the alert rules, Grafana to the dashboard',
    () => {
      const prometheus = compose.services.prometheus
      const mounts = new Map<string, string>(
        prometheus.volumes.map((v: string) => [v.split(':')[1], path.resolve(base, v.split(':')[0]!)]),
      )
      expect(mounts.get('/etc/prometheus/rules/alerts.yml')).toBe(
        path.join(repo, 'deploy/prometheus/alerts.yml'),
      )
      const config = parse(fs.readFileSync(mounts.get('/etc/prometheus/prometheus.yml')!, 'utf8'))
      expect(config.rule_files).toContain('/etc/prometheus/rules/alerts.yml')
      const targets = config.scrape_configs
        .filter((job: Yaml) => job.job_name === 'openorch')
        .flatMap((job: Yaml) => job.static_configs.flatMap((c: Yaml) => c.targets))
      expect(targets.sort()).toEqual(
        orchestratorServices(compose)
          .map(([name]) => `${name}:8080`)
          .sort(),
      )
      const grafana = compose.services.grafana
      const grafanaMounts = new Map<string, string>(
        grafana.volumes
          .filter((v: string) => v.startsWith('.'))
          .map((v: string) => [v.split(':')[1], path.resolve(base, v.split(':')[0]!)]),
      )
      const dashboardTarget = [...grafanaMounts].find(
        ([, source]) => source === path.join(repo, 'deploy/grafana/openorch.json'),
      )
      expect(dashboardTarget, 'Grafana mounts deploy/grafana/openorch.json').toBeDefined()
      const providers = parse(
        fs.readFileSync(
          path.join(grafanaMounts.get('/etc/grafana/provisioning/dashboards')!, 'openorch.yml'),
          'utf8',
        ),
      )
      expect(path.dirname(dashboardTarget![0])).toBe(providers.providers[0].options.path)
      const dashboard = JSON.parse(fs.readFileSync(path.join(repo, 'deploy/grafana/openorch.json'), 'utf8'))
      expect(Array.isArray(dashboard.panels)).toBe(true)
      const datasources = parse(
        fs.readFileSync(
          path.join(grafanaMounts.get('/etc/grafana/provisioning/datasources')!, 'prometheus.yml'),
          'utf8',
        ),
      )
      expect(datasources.datasources[0].url).toBe('http://prometheus:9090')
    },
  )
})

/** The Dockerfile's instructions (continuation lines joined), by stage. */
function dockerfileStages(): Array<{ from: string; instructions: Array<{ op: string; args: string }> }> {
  const text = fs.readFileSync(path.join(repo, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ')
  const stages: Array<{ from: string; instructions: Array<{ op: string; args: string }> }> = []
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Z]+)\s+(.*)$/.exec(line)
    if (!match || line.trimStart().startsWith('#')) continue
    const [, op, args] = match as unknown as [string, string, string]
    if (op === 'FROM') stages.push({ from: args, instructions: [] })
    else stages.at(-1)?.instructions.push({ op, args })
  }
  return stages
}

/** The HEALTHCHECK's command as argv. */
function dockerHealthcheck(): string[] {
  const final = dockerfileStages().at(-1)!
  const healthcheck = final.instructions.find((i) => i.op === 'HEALTHCHECK')
  expect(healthcheck, 'the final stage has a HEALTHCHECK').toBeDefined()
  const json = healthcheck!.args.slice(healthcheck!.args.indexOf('CMD') + 3).trim()
  return JSON.parse(json)
}

describe('Dockerfile', () => {
  it('builds in stages and runs as a non-root user with /data, a health check and SIGTERM', () => {
    const stages = dockerfileStages()
    expect(stages.length).toBeGreaterThanOrEqual(2)
    expect(stages.map((s) => / AS (\w+)$/i.exec(s.from)?.[1])).toEqual(['build', 'deps', 'final'])
    const final = stages.at(-1)!
    const ops = (op: string) => final.instructions.filter((i) => i.op === op).map((i) => i.args)
    const user = ops('USER').at(-1)
    expect(user).toBeDefined()
    expect(user!.split(':')[0]).not.toMatch(/^(0|root)$/)
    expect(ops('VOLUME').join(' ')).toContain('/data')
    expect(ops('ENV').join(' ')).toMatch(/OPENORCH_DATA_DIR=\/data/)
    expect(ops('EXPOSE')).toContain('8080')
    expect(ops('STOPSIGNAL')).toEqual(['SIGTERM'])
    expect(ops('COPY').some((c) => c.includes('--from=build') && c.includes('apps/web/dist'))).toBe(true)
    expect(ops('ENTRYPOINT').join(' ')).toContain('apps/server/dist/cli.js')
    // `openorch` on the PATH for docker exec (backups, users create).
    expect(ops('RUN').join(' ')).toMatch(/> \/usr\/local\/bin\/openorch/)
    // The grace period baked into the image is the one the Kubernetes manifests plan for.
    const grace = /OPENORCH_SHUTDOWN_GRACE_SECONDS=(\d+)/.exec(ops('ENV').join(' '))?.[1]
    const base = fs.readFileSync(path.join(repo, 'deploy/k8s/base/kustomization.yaml'), 'utf8')
    expect(base).toContain(`OPENORCH_SHUTDOWN_GRACE_SECONDS=${grace}`)
    expect(dockerHealthcheck().join(' ')).toContain('/ready')
    const ignored = fs.readFileSync(path.join(repo, '.dockerignore'), 'utf8').split('\n')
    for (const entry of ['**/node_modules', 'data', '.git']) expect(ignored).toContain(entry)
  })
})

describe.each(dialects)('health checks against real servers (%s)', (dialect) => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  /** Runs a health check's argv (node …) with this environment; resolves with its exit code. */
  function runCheck(argv: string[], env: Record<string, string>): Promise<number | null> {
    expect(argv[0]).toBe('node')
    const child = spawn(process.execPath, argv.slice(1), { env: { ...process.env, ...env }, stdio: 'ignore' })
    return new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  }

  const portOf = (url: string) => new URL(url).port

  /** The server's address once it prints it (two minutes: a first start on a busy machine is slow). */
  function urlOf(child: ChildProcess): Promise<string> {
    let out = ''
    child.stdout!.on('data', (chunk) => {
      out += chunk
    })
    return waitFor(() => /running at (http:\/\/\S+)/.exec(out)?.[1], {
      what: 'the server to start',
      timeoutMs: 120_000,
    })
  }

  it('passes for every process the overlay starts, and fails on 503 or a closed port', {
    timeout: 300_000,
  }, async () => {
    const overlay = dialect === 'postgres' ? 'cluster' : 'single'
    const objects = render(overlay)
    const database = await serverDatabaseEnv(dialect, cleanups)
    const dockerArgv = dockerHealthcheck()
    const compose = composeFile(overlay === 'single' ? 'single.yml' : 'cluster.yml')
    const composeArgv = orchestratorServices(compose)[0]![1].healthcheck.test.slice(1)
    const urls: string[] = []
    // One after the other: the first applies the migrations.
    for (const deployment of deployments(objects)) {
      const env = containerEnv(objects, deployment.spec.template.spec.containers[0])
      const server = startServerProcess(
        {
          ...env,
          ...database,
          OPENORCH_MASTER_KEY: validSecrets.OPENORCH_MASTER_KEY,
          HOST: '127.0.0.1',
          PORT: '0',
        },
        'deploy-manifests-owner-key-0123456789',
        cleanups,
      )
      const url = await urlOf(server.child)
      urls.push(url)
      // What Prometheus scrapes from each pod, the HPA's metric among it.
      const metrics = await (await fetch(`${url}/metrics`)).text()
      expect(metrics).toMatch(/^openorch_queue_depth \d+$/m)
      // A pod without the api role (a worker) serves its probes and metrics, not the API.
      const api = await fetch(`${url}/api/v1/bots`)
      if (env.OPENORCH_ROLES?.split(',').includes('api') === false)
        expect((await api.json()).code, deployment.metadata.name).toBe('api_not_served')
      else expect(api.status, deployment.metadata.name).toBe(401)
      expect(
        await runCheck(dockerArgv, { PORT: portOf(url) }),
        `${deployment.metadata.name}: the image's check`,
      ).toBe(0)
    }
    expect(urls).toHaveLength(overlay === 'single' ? 1 : 2)
    // Compose's check asks for port 8080 (the container's); here the same script asks this server's port.
    const composeScript = composeArgv.map((arg: string) => arg.replace(':8080/', `:${portOf(urls[0]!)}/`))
    expect(await runCheck(composeScript, {})).toBe(0)

    // Not ready (503 from /ready) and nothing listening: both fail.
    const notReady = http.createServer((request, response) => {
      response.statusCode = request.url === '/ready' ? 503 : 200
      response.end('{}')
    })
    await new Promise<void>((resolve) => notReady.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise<void>((resolve) => notReady.close(() => resolve())))
    const port = (notReady.address() as { port: number }).port
    expect(await runCheck(dockerArgv, { PORT: String(port) })).toBe(1)
    await new Promise<void>((resolve) => notReady.close(() => resolve()))
    expect(await runCheck(dockerArgv, { PORT: String(port) })).toBe(1)
  })
})

// cluster.yml: the orchestrators connect as an application role that row-level security binds, made by
// the init script the postgres image runs once; it is run here against the local PostgreSQL.
describe.each(dialects.filter((dialect) => dialect === 'postgres'))('compose PostgreSQL role on %s', () => {
  it('connects the orchestrators as the role the init script creates: no superuser, no BYPASSRLS, owner of its database', async () => {
    const compose = composeFile('cluster.yml')
    const url = new URL(
      String(compose.services.api.environment.DATABASE_URL).replace(/\$\{[^}]*\}/, 'secret'),
    )
    expect(url.username).toBe('openorch')
    expect(compose.services.postgres.volumes).toContain(
      './postgres/10-openorch-role.sh:/docker-entrypoint-initdb.d/10-openorch-role.sh:ro',
    )
    expect(compose.services.postgres.environment.POSTGRES_USER).toBeUndefined()

    const admin = new URL(process.env.OPENORCH_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test')
    const name = `openorch_init_${process.pid}`
    const psql = (args: string[], env: Record<string, string> = {}) =>
      spawnSync('psql', ['-h', admin.hostname, '-p', admin.port || '5432', ...args], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      })
    try {
      const init = spawnSync('sh', [path.join(repo, 'deploy/compose/postgres/10-openorch-role.sh')], {
        encoding: 'utf8',
        env: {
          ...process.env,
          PGHOST: admin.hostname,
          PGPORT: admin.port || '5432',
          POSTGRES_USER: admin.username,
          OPENORCH_DB_PASSWORD: "it's a secret",
          OPENORCH_DB_USER: name,
          OPENORCH_DB_NAME: name,
        },
      })
      expect(init.status, init.stderr).toBe(0)
      const asRole = psql([
        '-U',
        name,
        '-d',
        name,
        '-Atc',
        'SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user; SELECT datdba::regrole FROM pg_database WHERE datname = current_database()',
      ])
      expect(asRole.status, asRole.stderr).toBe(0)
      expect(asRole.stdout.trim().split('\n')).toEqual(['f|f', name])
    } finally {
      psql(['-U', admin.username, '-d', admin.pathname.slice(1), '-c', `DROP DATABASE IF EXISTS ${name}`])
      psql(['-U', admin.username, '-d', admin.pathname.slice(1), '-c', `DROP ROLE IF EXISTS ${name}`])
    }
  })
})
