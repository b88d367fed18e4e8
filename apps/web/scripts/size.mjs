#!/usr/bin/env node
// Measures the dashboard's JavaScript as a browser downloads it: gzip level 9 of each file in
// dist/assets, the first load (the entry script and the chunks index.html preloads) against the
// 300 KB budget, and everything else (pages loaded on demand). Exits 1 over budget.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import zlib from 'node:zlib'

const dist = fileURLToPath(new URL('../dist', import.meta.url))
const budget = 300 * 1024
const html = fs.readFileSync(path.join(dist, 'index.html'), 'utf8')
const firstLoad = new Set([...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]))
const gz = (file) => zlib.gzipSync(fs.readFileSync(path.join(dist, file)), { level: 9 }).length
const kb = (n) => `${(n / 1024).toFixed(1)} KB`

let first = 0
let lazy = 0
const rows = []
for (const name of fs.readdirSync(path.join(dist, 'assets')).sort()) {
  const file = `assets/${name}`
  if (!/\.(js|css)$/.test(name)) continue
  const size = gz(file)
  const isFirst = firstLoad.has(file) || name.endsWith('.css')
  if (name.endsWith('.js')) {
    if (isFirst) first += size
    else lazy += size
  }
  rows.push(`${isFirst ? 'first' : 'lazy '}  ${kb(size).padStart(9)}  ${file}`)
}
console.log(rows.join('\n'))
console.log(
  `\nFirst load JavaScript: ${kb(first)} gzip (budget ${kb(budget)}); pages on demand: ${kb(lazy)} gzip.`,
)
if (first > budget) process.exit(1)
