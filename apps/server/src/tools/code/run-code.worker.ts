// A sandbox worker thread (started by run-code.ts, bundled as dist/run-code.worker.js): loads QuickJS,
// says `ready`, then runs one call at a time and answers each with its result or a plain-data error.
// The main thread never sends a call before the last one is answered, and stops this thread from
// outside (Worker.terminate) when a caller aborts or a run outlives its time limit.
import { parentPort } from 'node:worker_threads'
import { ToolError } from '../tool-error.ts'
import type { SandboxMessage, SandboxRequest } from './run-code.protocol.ts'
import { preloadSandbox, runInSandbox } from './run-code.sandbox.ts'

const port = parentPort
if (port === null) throw new Error('run-code.worker.ts runs only as a worker thread (see run-code.ts)')

await preloadSandbox()

port.on('message', async (request: SandboxRequest) => {
  port.postMessage(await answer(request))
})
port.postMessage({ type: 'ready' } satisfies SandboxMessage)

async function answer(request: SandboxRequest): Promise<SandboxMessage> {
  try {
    const result = await runInSandbox(request.code, request.inputJson, request.limits)
    return { type: 'result', id: request.id, result }
  } catch (error) {
    if (error instanceof ToolError) {
      return { type: 'refusal', id: request.id, code: error.code, message: error.message }
    }
    const { name, message } = error instanceof Error ? error : { name: 'Error', message: String(error) }
    return { type: 'failure', id: request.id, name, message }
  }
}
