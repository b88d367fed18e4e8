// Time comes from an injected clock, never from `now()` in SQL, so tests control it.
export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  private current: number
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start
  }
  now(): number {
    return this.current
  }
  advance(ms: number): void {
    this.current += ms
  }
  set(ms: number): void {
    this.current = ms
  }
}
