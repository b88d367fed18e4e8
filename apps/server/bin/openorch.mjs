#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx (decision 0001): no build step between edit and start.
import { register } from 'tsx/esm/api'

register()
await import('../src/cli.ts')
