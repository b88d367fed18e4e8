// Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"):
// delay = random(0, min(cap, base * 2^(attempt-1))). A Retry-After from the failure is a floor.

export const maxRetryDelayMs = 60 * 60 * 1000

export function backoffCeiling(attempt: number, baseMs: number, capMs = maxRetryDelayMs): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1))
}

export function retryDelayMs(
  attempt: number,
  baseMs: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const jittered = Math.floor(random() * backoffCeiling(attempt, baseMs))
  return Math.max(jittered, retryAfterMs ?? 0)
}
