import v8 from 'node:v8'

/**
 * Keeps the server's memory small under load without the garbage-collection cost of
 * `--optimize-for-size` (decision 0014). The young generation is set at launch (`npm start` passes
 * `--max-semi-space-size=2`: it is fixed when the heap is created); here the old generation is told
 * to grow by 25 % of what survives a full collection instead of up to 2–4×, so a burst of runs leaves
 * less garbage behind before the next full collection. A V8 that no longer knows the flag ignores it.
 */
export const serverHeapFlag = '--heap-growing-percent=25'

export function tuneHeapForServer(): void {
  v8.setFlagsFromString(serverHeapFlag)
}
