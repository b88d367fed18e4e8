import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js'
import { type EgressPolicy, egressFetch, type FetchFunction } from '../../platform/egress/egress.ts'
import { withTraceHeaders } from '../../platform/tracing.ts'

// The fetch an HTTP MCP connection uses: through the tools' egress guard (the address checked after
// DNS resolution is the one connected to, so DNS rebinding cannot reach a private address; every
// redirect hop passes through here again), and with a cap on what the server may send: a JSON answer
// as a whole, an event stream per event (the stream that carries notifications stays open for long).

// One guarded fetch (and its connection pools) per policy.
const fetches = new WeakMap<EgressPolicy, FetchFunction>()

export function guardedMcpFetch(
  egress: EgressPolicy,
  maxMessageBytes: number,
  onOversize: (message: string) => void,
): FetchLike {
  let fetch = fetches.get(egress)
  if (!fetch) {
    fetch = egressFetch(egress)
    fetches.set(egress, fetch)
  }
  const guarded = fetch
  return async (url, init) => {
    // The tool call's W3C trace context (tracing on): the MCP server can join the run's trace.
    const response = await guarded(url, withTraceHeaders(init))
    // Statuses without a body cannot be rebuilt with one (and carry nothing to cap).
    if (!response.body || [101, 204, 205, 304].includes(response.status)) return response
    const isStream = (response.headers.get('content-type') ?? '').includes('text/event-stream')
    const capped = response.body.pipeThrough(capBytes(maxMessageBytes, isStream, onOversize))
    return new Response(capped, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    })
  }
}

/** Errors the stream once more than `max` bytes arrived (per event, for an event stream). */
function capBytes(
  max: number,
  perEvent: boolean,
  onOversize: (message: string) => void,
): TransformStream<Uint8Array, Uint8Array> {
  let count = 0
  let previous = 0
  return new TransformStream({
    transform(chunk, controller) {
      if (perEvent) {
        // Bytes since the last blank line (the end of an event), across chunk boundaries.
        let lastEnd = -1
        for (let i = 0; i < chunk.length; i++) {
          const before = i === 0 ? previous : chunk[i - 1]
          if (chunk[i] === 10 && before === 10) lastEnd = i
        }
        count = lastEnd === -1 ? count + chunk.length : chunk.length - lastEnd - 1
        if (chunk.length > 0) previous = chunk[chunk.length - 1]!
      } else count += chunk.length
      if (count > max) {
        const message = `the server sent a message larger than ${Math.round(max / 1024)} KiB, so it was not read`
        onOversize(message)
        controller.error(new Error(message))
        return
      }
      controller.enqueue(chunk)
    },
  })
}
