import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'

// The alert rules (deploy/prometheus/alerts.yml) are valid Prometheus rules, and each is covered by
// promtool's unit tests (alerts.test.yml): firing when it should, with its runbook text, and silent
// when it should not. promtool comes from Debian's `prometheus` package (.ci/run installs it).

const dir = path.join(import.meta.dirname, '..', '..', '..', '..', 'deploy', 'prometheus')

function promtool(...args: string[]) {
  const result = spawnSync('promtool', args, { cwd: dir, encoding: 'utf8' })
  if (result.error)
    throw new Error(`promtool could not run (${result.error.message}): apt-get install prometheus`)
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

interface Rules {
  groups: Array<{ rules: Array<{ alert?: string; annotations?: Record<string, string> }> }>
}
interface RuleTests {
  tests: Array<{
    alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }>
  }>
}

describe('alert rules', () => {
  it('pass promtool check rules', () => {
    const checked = promtool('check', 'rules', 'alerts.yml')
    expect(checked.output).toContain('SUCCESS')
    expect(checked.status, checked.output).toBe(0)
  })

  it('pass their promtool unit tests (alerts.test.yml)', () => {
    const tested = promtool('test', 'rules', 'alerts.test.yml')
    expect(tested.status, tested.output).toBe(0)
    expect(tested.output).toContain('SUCCESS')
  })

  it('each alert is tested firing and silent, and says what to do', () => {
    const rules = parseYaml(fs.readFileSync(path.join(dir, 'alerts.yml'), 'utf8')) as Rules
    const tests = parseYaml(fs.readFileSync(path.join(dir, 'alerts.test.yml'), 'utf8')) as RuleTests
    const alerts = rules.groups.flatMap((group) => group.rules).filter((rule) => rule.alert)
    expect(alerts.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining([
        'OpenorchDeadLettersGrowing',
        'OpenorchRunErrorRateHigh',
        'OpenorchScheduleLagHigh',
        'OpenorchBudgetNearlySpent',
        'OpenorchProviderCircuitOpen',
        'OpenorchDatabaseUnavailable',
      ]),
    )
    const cases = tests.tests.flatMap((test) => test.alert_rule_test)
    for (const rule of alerts) {
      const mine = cases.filter((c) => c.alertname === rule.alert)
      expect(
        mine.some((c) => c.exp_alerts.length > 0),
        `${rule.alert} is never tested firing`,
      ).toBe(true)
      expect(
        mine.some((c) => c.exp_alerts.length === 0),
        `${rule.alert} is never tested silent`,
      ).toBe(true)
      for (const key of ['summary', 'description', 'runbook'])
        expect(rule.annotations?.[key]?.length ?? 0, `${rule.alert} has no ${key}`).toBeGreaterThan(20)
    }
  })
})
