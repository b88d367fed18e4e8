/** One measured configuration of a peer job queue, run on the same workload as our engine. */
export interface PeerResult {
  name: string
  version: string
  mode: string
  jobs: number
  seconds: number
  jobsPerSecond: number
  latencyP50Ms: number | null
  latencyP99Ms: number | null
  notes: string
}

/** Workload parameters shared by every peer runner. */
export interface PeerOptions {
  /** PostgreSQL connection string; each run creates (and drops) its own schema in this database. */
  databaseUrl: string
  /** Jobs enqueued up front (before any worker runs) for the throughput phase. */
  jobs: number
  /** Jobs per enqueue batch in the throughput phase. */
  batchSize: number
  /** Worker concurrency. */
  concurrency: number
  /** Single jobs enqueued one at a time, with the worker idle, for the latency phase (0 skips it). */
  latencySamples: number
}
