import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { serverHeapFlag } from './heap.ts'

describe('server heap tuning', () => {
  it('uses a V8 flag this Node knows (an unknown one would only print an error and do nothing)', () => {
    const script = `require('node:v8').setFlagsFromString(${JSON.stringify(serverHeapFlag)})`
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
    expect(result.status).toBe(0)
    expect(`${result.stdout}${result.stderr}`).toBe('')
    // And an unknown one is reported, so the check above can fail.
    const unknown = spawnSync(
      process.execPath,
      ['-e', `require('node:v8').setFlagsFromString('--no-such-flag-x')`],
      {
        encoding: 'utf8',
      },
    )
    expect(`${unknown.stdout}${unknown.stderr}`).toMatch(/unrecognized flag/)
  })
})
