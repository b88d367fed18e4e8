import { test } from 'vitest'
import { createTestApp } from './app-harness.ts'
test('smoke', async () => {
  const t = await createTestApp('sqlite')
  const doc = await t.app.inject({ url: '/api/v1/openapi.json' })
  console.log(Object.keys(doc.json().components.schemas))
  console.log(JSON.stringify(doc.json().paths, null, 1))
  await t.close()
})
