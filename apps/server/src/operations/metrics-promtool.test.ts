import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { metricNamesOf, parseMetrics, sampleOf } from '../../test/metrics-text.ts'
import { startProviderServer } from '../../test/provider-servers/index.ts'
import { serverDatabaseEnv, startServerProcess } from '../../test/server-process.ts'
import { costUsd } from '../providers/prices.ts'

// Issue 16: a real server runs bots against the OpenAI stand-in (model calls, a tool call the egress
// guard refuses, a failure, a schedule, webhook notifications); its /metrics must pass
// `promtool check metrics` and count exactly what happened. The dashboard and the alert rules may
// only name series this /metrics exposes. promtool comes from Debian's `prometheus` package (.ci/run).

const root = path.join(import.meta.dirname, '..', '..', '..', '..')
const ownerKey = 'metrics-promtool-owner-key-1234'
const providerKey = 'sk-metrics-0123456789abcdef'
const model = 'gpt-4o-mini'
const usage = { inputTokens: 100, outputTokens: 40 }
const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

/** Grafana's reference to the dashboard's datasource variable. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JavaScript template
const datasourceVariable = '${datasource}'
const hasPromtool = spawnSync('promtool', ['--version']).status === 0

/** A webhook receiver: answers 200 to every POST and counts them. */
async function startWebhookReceiver() {
  let received = 0
  const server = http.createServer((request, response) => {
    request.resume()
    request.on('end', () => {
      received++
      response.writeHead(200).end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received: () => received }
}

describe.each(dialects)('/metrics of a real server on %s', (dialect) => {
  it.skipIf(!hasPromtool)(
    'passes promtool check metrics and counts the runs, model calls, tokens, cost, tool calls, egress refusals, notifications and schedule lag that happened',
    async () => {
      const provider = await startProviderServer('openai', {
        apiKey: providerKey,
        models: [model],
        chunkDelayMs: 0,
        behaviour: { type: 'success', text: 'Two offers found.', usage },
      })
      cleanups.push(() => provider.close())
      const webhook = await startWebhookReceiver()
      const server = startServerProcess(
        {
          ...(await serverDatabaseEnv(dialect, cleanups)),
          OPENORCH_EGRESS_ALLOW: '127.0.0.1',
          OPENORCH_CONCURRENCY: '4',
          OPENORCH_MIN_SCHEDULE_SECONDS: '1',
        },
        ownerKey,
        cleanups,
      )
      const base = await server.url()
      const call = server.api(base)
      const configured = await call('PUT', '/providers/openai', {
        apiKey: providerKey,
        baseUrl: provider.baseUrl,
        defaultModel: model,
      })
      expect(configured.status, JSON.stringify(configured.json)).toBe(200)
      const channel = await call('POST', '/channels', {
        type: 'webhook',
        name: 'Ops hook',
        config: { url: webhook.url },
      })
      expect(channel.status, JSON.stringify(channel.json)).toBe(201)

      const createBot = async (body: Record<string, unknown>) => {
        const bot = await call('POST', '/bots', { provider: 'openai', model, maxRetries: 0, ...body })
        expect(bot.status, JSON.stringify(bot.json)).toBe(201)
        return bot.json.id as string
      }
      const runAll = async (botId: string, count: number) => {
        const ids: string[] = []
        for (let i = 0; i < count; i++) {
          const started = await call('POST', `/bots/${botId}/runs`, { input: `Topic ${i}` })
          expect(started.status, JSON.stringify(started.json)).toBe(202)
          ids.push(started.json.id)
        }
        return waitFor(
          async () => {
            const runs = await Promise.all(ids.map(async (id) => (await call('GET', `/runs/${id}`)).json))
            return runs.every((run) => ['completed', 'failed', 'timeout'].includes(run.status))
              ? runs
              : undefined
          },
          { what: 'the runs to end', timeoutMs: 60_000 },
        )
      }

      // Five plain runs, each notifying the webhook.
      const scout = await createBot({ name: 'Scout', prompt: 'Scout the shops.' })
      const linked = await call('PUT', `/bots/${scout}/channels/${channel.json.id}`, { rule: 'always' })
      expect(linked.status, JSON.stringify(linked.json)).toBe(200)
      const plain = await runAll(scout, 5)
      expect(plain.map((run) => run.status)).toEqual(Array(5).fill('completed'))

      // A model name is any string a workspace's editor types: outside the price table it is `other`.
      const madeUpModel = `attacker-model-${crypto.randomUUID()}`
      const intruder = await createBot({ name: 'Intruder', prompt: 'Scout.', model: madeUpModel })
      const [intruded] = await runAll(intruder, 1)
      expect(intruded.status).toBe('completed')

      // One run whose model asks for a fetch of a private address (refused), then answers.
      const fetcher = await createBot({ name: 'Fetcher', prompt: 'Fetch the page.', tools: ['web'] })
      provider.setBehaviour({
        type: 'script',
        steps: [
          {
            type: 'tool_calls',
            calls: [{ name: 'http_fetch', arguments: { url: 'http://10.1.2.3/' } }],
            usage,
          },
          { type: 'success', text: 'The page could not be read.', usage },
        ],
      })
      const [tooled] = await runAll(fetcher, 1)
      expect(tooled.status).toBe('completed')

      // One run the provider refuses for good: failed, dead-lettered.
      provider.setBehaviour({ type: 'bad_request' })
      const [failed] = await runAll(scout, 1)
      expect(failed.status).toBe('failed')
      expect(failed.deadLettered).toBe(true)

      // A schedule that fires every second: its first run's lag is measured from the slot.
      provider.setBehaviour({ type: 'success', text: 'On time.', usage })
      const ticker = await createBot({ name: 'Ticker', prompt: 'Tick.', schedule: '@every 1s' })
      const scheduled = await waitFor(
        async () => {
          const page = (await call('GET', `/bots/${ticker}/runs`)).json
          return page.items.find((run: { status: string }) => run.status === 'completed')
        },
        { what: 'a scheduled run', timeoutMs: 30_000 },
      )
      expect(scheduled.trigger).toBe('schedule')
      expect((await call('PATCH', `/bots/${ticker}`, { enabled: false })).status).toBe(200)
      // Scheduled runs that started before the schedule stopped end too.
      const tickerRuns = await waitFor(
        async () => {
          const page = (await call('GET', `/bots/${ticker}/runs`)).json
          return page.items.every((run: { status: string }) => ['completed', 'failed'].includes(run.status))
            ? page.items
            : undefined
        },
        { what: 'the scheduled runs to end', timeoutMs: 30_000 },
      )
      const notificationsExpected = 5 + 1 // the scout's runs, the failed one included (rule always)
      await waitFor(() => webhook.received() >= notificationsExpected || undefined, {
        what: 'the webhook deliveries',
        timeoutMs: 30_000,
      })

      const response = await fetch(`${base}/metrics`)
      expect(response.status).toBe(200)
      const text = await response.text()

      // promtool's lint: counters end in _total, base units, no reserved suffixes, help on every metric.
      const checked = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
      const problems = `${checked.stdout}${checked.stderr}`.split('\n').filter((line) => line.trim() !== '')
      // Only our own names count: prom-client's Node.js runtime metrics are not ours to rename.
      const ours = problems.filter((line) => line.startsWith('openorch_'))
      expect(ours, problems.join('\n')).toEqual([])
      // Lines that are neither a metric's finding nor promtool's: a parse error would be one.
      const unparsed = problems.filter((line) => !/^[a-z_:][a-z0-9_:]* /i.test(line))
      expect(unparsed).toEqual([])

      const samples = parseMetrics(text)
      const value = (name: string, labels: Record<string, string> = {}) => sampleOf(samples, name, labels)
      const bot = { kind: 'bot' }
      const allBotRuns = 5 + 1 + 1 + 1 + tickerRuns.length
      expect(value('openorch_runs_settled_total', { ...bot, outcome: 'completed' })).toBe(allBotRuns - 1)
      expect(value('openorch_runs_settled_total', { ...bot, outcome: 'failed' })).toBe(1)
      expect(value('openorch_runs_claimed_total', bot)).toBe(allBotRuns)
      expect(value('openorch_run_claim_latency_seconds_count', bot)).toBe(allBotRuns)
      expect(value('openorch_run_duration_seconds_count', bot)).toBe(allBotRuns)
      expect(value('openorch_runs_dead_lettered_total', bot)).toBe(1)
      expect(value('openorch_dead_letters')).toBe(1)
      expect(value('openorch_schedule_lag_seconds_count', bot)).toBe(tickerRuns.length)
      // Lag from the slot: the scheduler fires within its pass and a free worker claims at once.
      expect(value('openorch_schedule_lag_seconds_sum', bot) / tickerRuns.length).toBeLessThan(5)

      // Model calls: 5 plain + 2 for the tool run + ticker's, all answered; one refused (400).
      const modelCalls = 5 + 2 + tickerRuns.length
      const llm = { provider: 'openai', model }
      expect(value('openorch_llm_calls_total', { ...llm, outcome: 'ok' })).toBe(modelCalls)
      expect(value('openorch_llm_calls_total', { ...llm, outcome: 'provider_bad_request' })).toBe(1)
      expect(value('openorch_llm_call_duration_seconds_count', llm)).toBe(modelCalls + 1)
      expect(value('openorch_llm_tokens_total', { ...llm, type: 'input' })).toBe(
        modelCalls * usage.inputTokens,
      )
      expect(value('openorch_llm_tokens_total', { ...llm, type: 'output' })).toBe(
        modelCalls * usage.outputTokens,
      )
      // The cost is the price table's, and what the runs report as their cost.
      const perCall = costUsd('openai', model, usage.inputTokens, usage.outputTokens)!
      expect(value('openorch_llm_cost_usd_total', llm)).toBeCloseTo(modelCalls * perCall, 12)
      const runsCost = [...plain, tooled, ...tickerRuns].reduce((sum, run) => sum + (run.costUsd ?? 0), 0)
      expect(value('openorch_llm_cost_usd_total', llm)).toBeCloseTo(runsCost, 12)
      // The made-up model's call: counted as `other`, without a price, its name nowhere.
      const other = { provider: 'openai', model: 'other' }
      expect(value('openorch_llm_calls_total', { ...other, outcome: 'ok' })).toBe(1)
      expect(value('openorch_llm_call_duration_seconds_count', other)).toBe(1)
      expect(value('openorch_llm_tokens_total', { ...other, type: 'input' })).toBe(usage.inputTokens)
      expect(value('openorch_llm_cost_usd_total', other)).toBe(0)
      expect(text).not.toContain('attacker-model')

      expect(value('openorch_tool_calls_total', { tool: 'http_fetch', outcome: 'failed' })).toBe(1)
      expect(value('openorch_egress_refusals_total', { guard: 'tools', range: 'private' })).toBe(1)
      expect(value('openorch_notifications_total', { channel_type: 'webhook', outcome: 'delivered' })).toBe(
        webhook.received(),
      )
      expect(value('openorch_runs_settled_total', { kind: 'notification', outcome: 'completed' })).toBe(
        webhook.received(),
      )
      expect(value('openorch_queue_depth')).toBe(0)
      expect(value('openorch_queue_oldest_pending_age_seconds')).toBe(0)
      expect(value('openorch_approvals_pending')).toBe(0)
      expect(value('openorch_database_up')).toBe(1)
      expect(value('openorch_budget_used_ratio')).toBeGreaterThan(0)
      expect(value('openorch_runs', { status: 'failed' })).toBe(1)
      // No ids and no tenants in any label.
      expect(text).not.toMatch(/[{,](tenant|tenant_id|workspace|bot|bot_id|run|run_id|channel_id)=/)
      expect(text).not.toContain(scout)
      expect(text).not.toContain(channel.json.id)

      // The dashboard and the alerts name only series this /metrics exposes.
      const exposed = metricNamesOf(text)
      for (const expr of dashboardExpressions()) expect(unknownMetrics(expr, exposed), expr).toEqual([])
      for (const expr of alertExpressions()) expect(unknownMetrics(expr, exposed), expr).toEqual([])
    },
    180_000,
  )
})

/** Every PromQL expression of deploy/grafana/openorch.json (panels' targets, variables' queries). */
function dashboardExpressions(): string[] {
  const dashboard = JSON.parse(fs.readFileSync(path.join(root, 'deploy/grafana/openorch.json'), 'utf8'))
  const exprs: string[] = []
  const visit = (node: unknown) => {
    if (Array.isArray(node)) for (const item of node) visit(item)
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'expr' && typeof value === 'string') exprs.push(value)
        else visit(value)
      }
    }
  }
  visit(dashboard.panels)
  expect(exprs.length).toBeGreaterThan(10)
  return exprs
}

/** Every rule expression of deploy/prometheus/alerts.yml. */
function alertExpressions(): string[] {
  const rules = parseYaml(fs.readFileSync(path.join(root, 'deploy/prometheus/alerts.yml'), 'utf8')) as {
    groups: Array<{ rules: Array<{ expr: string }> }>
  }
  const exprs = rules.groups.flatMap((group) => group.rules.map((rule) => rule.expr))
  expect(exprs.length).toBeGreaterThanOrEqual(6)
  return exprs
}

/** Names in `expr` that look like our metrics (openorch_…) but are not exposed. */
function unknownMetrics(expr: string, exposed: Set<string>): string[] {
  return [...new Set(expr.match(/\bopenorch_[a-z0-9_]+/g) ?? [])].filter((name) => !exposed.has(name))
}

describe('the Grafana dashboard', () => {
  it.skipIf(!hasPromtool)('has only valid PromQL (promtool check rules) and a datasource variable', () => {
    const dashboard = JSON.parse(fs.readFileSync(path.join(root, 'deploy/grafana/openorch.json'), 'utf8'))
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    )
    // Every panel's datasource is the variable, so the dashboard works with any Prometheus.
    for (const panel of dashboard.panels.filter((p: { type: string }) => p.type !== 'row'))
      expect(panel.datasource?.uid, panel.title).toBe(datasourceVariable)
    // Each expression as a recording rule: promtool parses it like Prometheus would.
    const rules = {
      groups: [
        {
          name: 'dashboard',
          rules: dashboardExpressions().map((expr, i) => ({
            record: `dashboard:expr_${i}`,
            expr: expr.replaceAll('$__rate_interval', '5m'),
          })),
        },
      ],
    }
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-dashboard-')), 'rules.yml')
    fs.writeFileSync(file, JSON.stringify(rules))
    const checked = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' })
    fs.rmSync(path.dirname(file), { recursive: true, force: true })
    expect(checked.status, `${checked.stdout}${checked.stderr}`).toBe(0)
  })
})

// promtool itself must be there on CI: .ci/run installs it. Say so instead of skipping silently.
describe('promtool', () => {
  it('is installed (Debian package prometheus; .ci/run installs it)', () => {
    expect(hasPromtool, 'promtool is missing: apt-get install -y --no-install-recommends prometheus').toBe(
      true,
    )
    expect(execFileSync('promtool', ['--version'], { encoding: 'utf8' })).toMatch(/promtool, version 2\./)
  })
})
