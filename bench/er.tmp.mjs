// bench/src/engine/engine.run.ts
import { randomBytes } from "node:crypto";
import fs2 from "node:fs";
import os from "node:os";
import path2 from "node:path";
import pg3 from "pg";
import pino from "pino";

// apps/server/src/migrations/0001-foundation.ts
import { sql } from "kysely";
function foundation(dialect2) {
  const autoId = dialect2 === "postgres" ? "bigserial" : "integer";
  const double = "double precision";
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db) {
      await db.schema.createTable("tenants").addColumn("tenant_id", "text", (c) => c.primaryKey()).addColumn("name", "text", (c) => c.notNull()).addColumn("created_at", "bigint", (c) => c.notNull()).execute();
      await db.insertInto("tenants").values({ tenant_id: "default", name: "Default workspace", created_at: Date.now() }).execute();
      await db.schema.createTable("api_keys").addColumn("id", "text", (c) => c.primaryKey()).addColumn("tenant_id", "text", (c) => c.notNull().references("tenants.tenant_id")).addColumn("name", "text", (c) => c.notNull()).addColumn("prefix", "text", (c) => c.notNull()).addColumn("key_hash", "text", (c) => c.notNull().unique()).addColumn("role", "text", (c) => c.notNull()).addColumn("created_at", "bigint", (c) => c.notNull()).addColumn("last_used_at", "bigint").addColumn("expires_at", "bigint").addColumn("revoked_at", "bigint").execute();
      await db.schema.createTable("runs").addColumn("id", "text", (c) => c.primaryKey()).addColumn("tenant_id", "text", (c) => c.notNull().references("tenants.tenant_id")).addColumn("kind", "text", (c) => c.notNull()).addColumn("bot_id", "text").addColumn("parent_run_id", "text").addColumn("status", "text", (c) => c.notNull()).addColumn("trigger", "text", (c) => c.notNull()).addColumn("input", "text").addColumn("output", "text").addColumn("output_hash", "text").addColumn("is_new", "integer").addColumn("priority", "integer", (c) => c.notNull().defaultTo(0)).addColumn("run_at", "bigint", (c) => c.notNull()).addColumn("attempt", "integer", (c) => c.notNull().defaultTo(0)).addColumn("max_attempts", "integer", (c) => c.notNull().defaultTo(1)).addColumn("retry_base_ms", "integer", (c) => c.notNull().defaultTo(1e3)).addColumn("timeout_ms", "integer").addColumn("lease_token", "bigint", (c) => c.notNull().defaultTo(0)).addColumn("lease_owner", "text").addColumn("lease_expires_at", "bigint").addColumn("concurrency_key", "text").addColumn("concurrency_limit", "integer", (c) => c.notNull().defaultTo(1)).addColumn("idempotency_key", "text").addColumn("error_code", "text").addColumn("error_message", "text").addColumn("error_retryable", "integer").addColumn("dead_lettered_at", "bigint").addColumn("wait_reason", "text").addColumn("tokens_in", "integer").addColumn("tokens_out", "integer").addColumn("cost_usd", double).addColumn("duration_ms", "integer").addColumn("created_at", "bigint", (c) => c.notNull()).addColumn("started_at", "bigint").addColumn("finished_at", "bigint").addColumn("updated_at", "bigint", (c) => c.notNull()).execute();
      await sql`CREATE INDEX runs_due_idx ON runs (priority DESC, run_at, id) WHERE status = 'pending'`.execute(
        db
      );
      await sql`CREATE INDEX runs_lease_idx ON runs (lease_expires_at) WHERE status = 'running'`.execute(db);
      await sql`CREATE INDEX runs_running_key_idx ON runs (concurrency_key) WHERE status = 'running' AND concurrency_key IS NOT NULL`.execute(
        db
      );
      await sql`CREATE UNIQUE INDEX runs_idempotency_idx ON runs (tenant_id, idempotency_key)`.execute(db);
      await sql`CREATE INDEX runs_tenant_idx ON runs (tenant_id, id)`.execute(db);
      await sql`CREATE INDEX runs_tenant_bot_idx ON runs (tenant_id, bot_id, id)`.execute(db);
      await sql`CREATE INDEX runs_dead_letter_idx ON runs (tenant_id, dead_lettered_at) WHERE dead_lettered_at IS NOT NULL`.execute(
        db
      );
      let events = db.schema.createTable("run_events").addColumn("id", autoId, (c) => c.primaryKey().notNull()).addColumn("tenant_id", "text", (c) => c.notNull()).addColumn("run_id", "text", (c) => c.notNull()).addColumn("type", "text", (c) => c.notNull()).addColumn("payload", "text", (c) => c.notNull()).addColumn("created_at", "bigint", (c) => c.notNull());
      if (dialect2 === "postgres") {
        events = events.addColumn("tx_id", sql`xid8`, (c) => c.notNull().defaultTo(sql`pg_current_xact_id()`));
      }
      await events.execute();
      await sql`CREATE INDEX run_events_tenant_idx ON run_events (tenant_id, id)`.execute(db);
      if (dialect2 === "postgres")
        await sql`CREATE INDEX run_events_tx_idx ON run_events (tx_id, id)`.execute(db);
      let cursors = db.schema.createTable("event_cursors").addColumn("name", "text", (c) => c.primaryKey()).addColumn("tenant_id", "text", (c) => c.notNull().defaultTo("*")).addColumn("last_id", "bigint", (c) => c.notNull().defaultTo(0));
      if (dialect2 === "postgres")
        cursors = cursors.addColumn("last_tx", sql`xid8`, (c) => c.notNull().defaultTo(sql`'0'::xid8`));
      await cursors.execute();
      await db.insertInto("event_cursors").values({ name: "relay" }).execute();
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db) {
      for (const table of ["event_cursors", "run_events", "runs", "api_keys", "tenants"])
        await db.schema.dropTable(table).execute();
    }
  };
}

// apps/server/src/migrations/index.ts
var migrations = {
  "0001-foundation": foundation
};

// apps/server/src/platform/bus.ts
import { EventEmitter } from "node:events";
import pg from "pg";
var maxNotifyPayload = 7900;
function createLocalBus() {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(topic, message) {
      emitter.emit(topic, message);
    },
    subscribe(topic, handler) {
      emitter.on(topic, handler);
      return () => emitter.off(topic, handler);
    },
    channel: (topic) => `openorch_${topic}`,
    ready: async () => {
    },
    async close() {
      emitter.removeAllListeners();
    }
  };
}
function createPostgresBus(options2) {
  const local = new EventEmitter();
  local.setMaxListeners(0);
  const prefix = options2.namespace ? `openorch_${options2.namespace}` : "openorch";
  const channel = (topic) => `${prefix}_${topic}`;
  const topics = ["wake", "events", "control"];
  let client;
  let closed = false;
  let retryTimer;
  async function connect(attempt = 0) {
    if (closed) return;
    const next = new pg.Client(options2.clientConfig);
    try {
      await next.connect();
      next.on("notification", (msg) => {
        const topic = topics.find((t) => channel(t) === msg.channel);
        if (topic) local.emit(topic, msg.payload ?? "");
      });
      next.on("error", (error) => {
        options2.log.warn({ err: error }, "LISTEN connection lost; polling until it is back");
        next.end().catch(() => {
        });
        if (client === next) client = void 0;
        scheduleReconnect(0);
      });
      for (const topic of topics) await next.query(`LISTEN ${channel(topic)}`);
      if (closed) {
        await next.end();
        return;
      }
      client = next;
      if (attempt > 0) local.emit("wake", "");
    } catch (error) {
      next.end().catch(() => {
      });
      options2.log.warn({ err: error, attempt }, "LISTEN connection failed; retrying");
      scheduleReconnect(attempt + 1);
    }
  }
  function scheduleReconnect(attempt) {
    if (closed) return;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => void connect(attempt + 1), Math.min(1e4, 250 * 2 ** attempt));
    retryTimer.unref();
  }
  const ready = connect();
  return {
    async publish(topic, message) {
      await options2.pool.query("SELECT pg_notify($1, $2)", [channel(topic), message]);
    },
    subscribe(topic, handler) {
      local.on(topic, handler);
      return () => local.off(topic, handler);
    },
    channel,
    ready: () => ready,
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      await ready;
      local.removeAllListeners();
      await client?.end().catch(() => {
      });
    }
  };
}

// apps/server/src/platform/clock.ts
var systemClock = { now: () => Date.now() };

// apps/server/src/platform/db/database.ts
import fs from "node:fs";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg2 from "pg";
var INT8_OID = 20;
var NUMERIC_OID = 1700;
var pgTypes = {
  getTypeParser(oid, format) {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value) => Number(value);
    return pg2.types.getTypeParser(oid, format);
  }
};
async function openDatabase(options2) {
  if (options2.url) return openPostgres(options2.url, options2);
  if (!options2.sqlitePath) throw new Error("openDatabase needs a DATABASE_URL or a SQLite path");
  return openSqlite(options2.sqlitePath, options2.sqliteSynchronous ?? "NORMAL");
}
function openSqlite(file, synchronous) {
  if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma(`synchronous = ${synchronous}`);
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  const db = new Kysely({ dialect: new SqliteDialect({ database: sqlite }) });
  return {
    db,
    dialect: "sqlite",
    sqlite,
    pool: void 0,
    pgClientConfig: void 0,
    schema: void 0,
    withSqlite: (fn) => db.connection().execute(async () => fn(sqlite)),
    close: () => db.destroy()
  };
}
async function openPostgres(url, options2) {
  const schema = options2.schema;
  if (schema !== void 0 && !/^[a-z_][a-z0-9_]*$/.test(schema))
    throw new Error(`Invalid schema name ${schema}`);
  const clientConfig = {
    connectionString: url,
    types: pgTypes,
    ...schema ? { options: `-c search_path=${schema}` } : {}
  };
  if (schema) {
    const admin = new pg2.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    } finally {
      await admin.end();
    }
  }
  const pool = new pg2.Pool({ ...clientConfig, max: options2.poolSize ?? 10 });
  pool.on("error", () => {
  });
  const db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    dialect: "postgres",
    sqlite: void 0,
    pool,
    pgClientConfig: clientConfig,
    schema,
    withSqlite: () => Promise.reject(new Error("withSqlite called on PostgreSQL")),
    close: () => db.destroy()
  };
}

// apps/server/src/platform/db/migrator.ts
import { Migrator, sql as sql2 } from "kysely";
async function migrateToLatest(db, dialect2, migrations2) {
  const migrator = await createMigrator(db, dialect2, migrations2);
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
async function createMigrator(db, dialect2, migrations2) {
  const schema = dialect2 === "postgres" ? (await sql2`SELECT current_schema() AS schema`.execute(db)).rows[0]?.schema : void 0;
  return new Migrator({
    db,
    ...schema ? { migrationTableSchema: schema } : {},
    provider: {
      getMigrations: async () => Object.fromEntries(Object.entries(migrations2).map(([name, factory]) => [name, factory(dialect2)]))
    }
  });
}

// apps/server/src/platform/errors.ts
var AppError = class extends Error {
  code;
  status;
  extra;
  constructor(code, message, status = 400, extra = {}) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.status = status;
    this.extra = extra;
  }
};
function notFound(code, message) {
  return new AppError(code, message, 404);
}
function toError(value) {
  if (value instanceof Error) return value;
  if (typeof value === "string") return new Error(value);
  try {
    return new Error(JSON.stringify(value));
  } catch {
    return new Error(String(value));
  }
}

// apps/server/src/runs/run.mapper.ts
function parseJson(text) {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
function toJsonText(value) {
  return value === void 0 || value === null ? null : JSON.stringify(value);
}
function errorOf(row) {
  if (row.error_code === null) return null;
  return { code: row.error_code, message: row.error_message ?? "", retryable: row.error_retryable === 1 };
}
function toRun(row) {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    kind: row.kind,
    botId: row.bot_id,
    parentRunId: row.parent_run_id,
    status: row.status,
    trigger: row.trigger,
    input: parseJson(row.input),
    output: parseJson(row.output),
    outputHash: row.output_hash,
    isNew: row.is_new === null ? null : row.is_new === 1,
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    tokensIn: row.tokens_in,
    tokensOut: row.tokens_out,
    costUsd: row.cost_usd,
    durationMs: row.duration_ms,
    error: errorOf(row),
    waitReason: row.wait_reason,
    concurrencyKey: row.concurrency_key,
    deadLettered: row.dead_lettered_at !== null,
    runAt: Number(row.run_at),
    createdAt: Number(row.created_at),
    startedAt: row.started_at === null ? null : Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at)
  };
}
function toClaimedRun(row) {
  return {
    ...toRun(row),
    leaseToken: Number(row.lease_token),
    timeoutMs: row.timeout_ms,
    retryBaseMs: row.retry_base_ms
  };
}
function eventPayloadOf(row) {
  return {
    runId: row.id,
    tenantId: row.tenant_id,
    kind: row.kind,
    botId: row.bot_id,
    status: row.status,
    attempt: row.attempt,
    error: row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? "" }
  };
}

// apps/server/src/events/outbox.store.ts
import { sql as sql4 } from "kysely";

// apps/server/src/platform/db/transaction.ts
import { sql as sql3 } from "kysely";
async function writeTransaction(database, fn) {
  if (database.dialect === "postgres") return database.db.transaction().execute(fn);
  return database.db.connection().execute(async (connection) => {
    await sql3`BEGIN IMMEDIATE`.execute(connection);
    try {
      const result2 = await fn(connection);
      await sql3`COMMIT`.execute(connection);
      return result2;
    } catch (error) {
      await sql3`ROLLBACK`.execute(connection).catch(() => {
      });
      throw error;
    }
  });
}

// apps/server/src/events/outbox.store.ts
async function consumeOutbox(database, name, limit, consume) {
  if (database.dialect === "sqlite") {
    return writeTransaction(database, async (trx) => {
      const cursor = await trx.selectFrom("event_cursors").select("last_id").where("name", "=", name).executeTakeFirst();
      const lastId = Number(cursor?.last_id ?? 0);
      const rows = await trx.selectFrom("run_events").selectAll().where("id", ">", lastId).orderBy("id").limit(limit).execute();
      if (rows.length === 0) return rows;
      await consume(rows, trx);
      await trx.updateTable("event_cursors").set({ last_id: rows[rows.length - 1].id }).where("name", "=", name).execute();
      return rows;
    });
  }
  return database.db.transaction().execute(async (trx) => {
    const horizon = await sql4`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin`.execute(trx);
    const cursor = await sql4`
      SELECT last_id, last_tx::text AS last_tx FROM event_cursors WHERE name = ${name} FOR UPDATE SKIP LOCKED`.execute(
      trx
    );
    const position = cursor.rows[0];
    if (!position) return void 0;
    const xmin = horizon.rows[0].xmin;
    const { rows } = await sql4`
      SELECT id, tenant_id, run_id, type, payload, created_at, tx_id::text AS tx FROM run_events
      WHERE (tx_id, id) > (${position.last_tx}::xid8, ${position.last_id}) AND tx_id < ${xmin}::xid8
      ORDER BY tx_id, id LIMIT ${limit}`.execute(trx);
    if (rows.length === 0) return [];
    await consume(rows, trx);
    const last = rows[rows.length - 1];
    await sql4`UPDATE event_cursors SET last_id = ${last.id}, last_tx = ${last.tx}::xid8 WHERE name = ${name}`.execute(
      trx
    );
    return rows.map(({ tx: _tx, ...row }) => row);
  });
}

// apps/server/src/events/outbox-relay.ts
var coalesceMs = 5;
var OutboxRelay = class {
  handlers = [];
  timer;
  busy = false;
  again = false;
  stopped = true;
  live = [];
  liveTimer;
  deps;
  constructor(deps) {
    this.deps = deps;
  }
  onEvents(handler) {
    this.handlers.push(handler);
  }
  start() {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.deps.intervalMs ?? 500);
    this.kick();
  }
  async stop() {
    this.stopped = true;
    clearInterval(this.timer);
    await this.flushLive();
    while (this.busy) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.drain();
  }
  /** New events were committed: relay them soon (coalesced). */
  kick() {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    setTimeout(
      () => void this.drain().catch(
        (error) => this.deps.log.warn({ err: toError(error) }, "outbox relay failed; will try again")
      ).finally(() => {
        this.busy = false;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      }),
      coalesceMs
    );
  }
  async drain() {
    await this.flushLive();
    const batch = this.deps.batch ?? 500;
    for (; ; ) {
      const rows = await consumeOutbox(
        this.deps.database,
        "relay",
        batch,
        (rows2, trx) => this.handle(rows2.map(toRunEvent), trx)
      );
      if (rows === void 0 || rows.length === 0) return;
      await this.broadcast(rows.map(toRunEvent));
      if (rows.length < batch) return;
    }
  }
  /** Durable handlers run inside the cursor transaction: a failure rolls back and replays the batch. */
  async handle(events, trx) {
    for (const handler of this.handlers) await handler(events, trx);
  }
  /**
   * Live-only events (a claim's `running`), not stored: to every process's live feed, gathered for
   * a few milliseconds so a busy worker sends one message per batch, not one per run.
   */
  publishLive(event) {
    this.live.push(event);
    if (this.liveTimer) return;
    this.liveTimer = setTimeout(() => void this.flushLive(), coalesceMs);
  }
  async flushLive() {
    clearTimeout(this.liveTimer);
    this.liveTimer = void 0;
    const events = this.live.splice(0);
    if (events.length === 0) return;
    await this.broadcast(events).catch(
      (error) => this.deps.log.warn({ err: toError(error) }, "live event broadcast failed")
    );
  }
  async broadcast(events) {
    let chunk = [];
    let size = 2;
    const flush = async () => {
      if (chunk.length === 0) return;
      await this.deps.bus.publish("events", `[${chunk.join(",")}]`);
      chunk = [];
      size = 2;
    };
    for (const event of events) {
      const text = JSON.stringify(event);
      if (text.length + 1 > maxNotifyPayload - 2) continue;
      if (size + text.length + 1 > maxNotifyPayload) await flush();
      chunk.push(text);
      size += text.length + 1;
    }
    await flush();
  }
};
function toRunEvent(row) {
  return {
    id: Number(row.id),
    tenantId: row.tenant_id,
    runId: row.run_id,
    type: row.type,
    payload: parseJson(row.payload),
    createdAt: Number(row.created_at)
  };
}

// apps/server/src/runs/executor.ts
var ExecutorRegistry = class {
  executors = /* @__PURE__ */ new Map();
  register(kind, executor) {
    if (this.executors.has(kind)) throw new Error(`An executor for run kind "${kind}" is already registered`);
    this.executors.set(kind, executor);
    return this;
  }
  get(kind) {
    return this.executors.get(kind);
  }
  kinds() {
    return [...this.executors.keys()];
  }
};
var LeaseLostError = class extends Error {
  constructor(runId) {
    super(`Run ${runId}: this worker's lease was taken over (fencing token refused).`);
    this.name = "LeaseLostError";
  }
};
var RunAbort = class extends Error {
  reason;
  constructor(reason) {
    super(`Run aborted: ${reason}`);
    this.name = "RunAbort";
    this.reason = reason;
  }
};

// apps/server/src/runs/queue.ts
var claimWindowExtra = 100;
var leaseExpiredError = {
  code: "lease_expired",
  message: "The worker running this run stopped heart-beating (process died or froze); its lease expired."
};
function settlementColumns(s, now2) {
  const base = {
    id: s.id,
    token: s.token,
    status: "pending",
    output: null,
    output_hash: null,
    is_new: null,
    tokens_in: null,
    tokens_out: null,
    cost_usd: null,
    duration_ms: null,
    error_code: null,
    error_message: null,
    error_retryable: null,
    dead_lettered_at: null,
    wait_reason: null,
    run_at: null,
    refund: 0,
    finished_at: null
  };
  switch (s.outcome) {
    case "completed":
      return {
        ...base,
        status: "completed",
        output: s.output === void 0 || s.output === null ? null : JSON.stringify(s.output),
        output_hash: s.result?.outputHash ?? null,
        is_new: s.result?.isNew === void 0 || s.result.isNew === null ? null : s.result.isNew ? 1 : 0,
        tokens_in: s.result?.tokensIn ?? null,
        tokens_out: s.result?.tokensOut ?? null,
        cost_usd: s.result?.costUsd ?? null,
        duration_ms: s.durationMs,
        finished_at: now2
      };
    case "failed":
    case "timeout":
      return {
        ...base,
        status: s.outcome,
        duration_ms: s.durationMs,
        ...errorColumns(s.error),
        dead_lettered_at: s.deadLetter ? now2 : null,
        finished_at: now2
      };
    case "retry":
      return {
        ...base,
        status: "pending",
        duration_ms: s.durationMs,
        ...errorColumns(s.error),
        run_at: s.runAt
      };
    case "waiting":
      return { ...base, status: "waiting", wait_reason: s.reason };
    case "released":
      return { ...base, status: "pending", run_at: now2, refund: 1 };
  }
}
function errorColumns(error) {
  return { error_code: error.code, error_message: error.message, error_retryable: error.retryable ? 1 : 0 };
}

// apps/server/src/runs/queue.postgres.ts
var eventPayloadSql = `json_build_object('runId', id, 'tenantId', tenant_id, 'kind', kind, 'botId', bot_id,
  'status', status, 'attempt', attempt, 'error', CASE WHEN error_code IS NULL THEN NULL
  ELSE json_build_object('code', error_code, 'message', error_message) END)::text`;
var insertEventsFrom = (source, now2) => `INSERT INTO run_events (tenant_id, run_id, type, payload, created_at)
   SELECT tenant_id, id, 'run.' || status, ${eventPayloadSql}, ${now2} FROM ${source}`;
var claimFastSql = `
WITH due AS (
  SELECT id, concurrency_key FROM runs
  WHERE status = 'pending' AND run_at <= $1
  ORDER BY priority DESC, run_at, id
  LIMIT $2
  FOR UPDATE SKIP LOCKED
), gate AS (
  SELECT coalesce(bool_or(concurrency_key IS NOT NULL), false) AS keyed FROM due
), claimed AS (
  UPDATE runs r SET status = 'running', attempt = r.attempt + 1, lease_token = r.lease_token + 1,
    lease_owner = $3, lease_expires_at = $4, started_at = $1, updated_at = $1, wait_reason = NULL
  FROM due, gate WHERE r.id = due.id AND NOT gate.keyed
  RETURNING r.*
)
SELECT gate.keyed, claimed.* FROM gate LEFT JOIN claimed ON true`;
var dueWindowSql = `
SELECT id, concurrency_key, concurrency_limit FROM runs
WHERE status = 'pending' AND run_at <= $1
ORDER BY priority DESC, run_at, id
LIMIT $2
FOR UPDATE SKIP LOCKED`;
var lockKeysSql = `
SELECT count(pg_advisory_xact_lock(h)) FROM (
  SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY 1
) s`;
var runningPerKeySql = `
SELECT concurrency_key AS key, count(*)::int AS n FROM runs
WHERE status = 'running' AND concurrency_key = ANY($1::text[]) GROUP BY concurrency_key`;
var claimByIdsSql = `
WITH claimed AS (
  UPDATE runs r SET status = 'running', attempt = r.attempt + 1, lease_token = r.lease_token + 1,
    lease_owner = $2, lease_expires_at = $3, started_at = $4, updated_at = $4, wait_reason = NULL
  WHERE r.id = ANY($1::text[]) AND r.status = 'pending'
  RETURNING r.*
)
SELECT * FROM claimed ORDER BY priority DESC, run_at, id`;
var heartbeatSql = `
UPDATE runs r SET lease_expires_at = $3
FROM unnest($1::text[], $2::bigint[]) AS v(id, token)
WHERE r.id = v.id AND r.lease_token = v.token AND r.status = 'running'
RETURNING r.id`;
var settleCtes = `
v AS (
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[],
    $8::int[], $9::float8[], $10::int[], $11::text[], $12::text[], $13::int[], $14::bigint[], $15::text[],
    $16::bigint[], $17::int[], $18::bigint[])
  AS v(id, token, status, output, output_hash, is_new, tokens_in, tokens_out, cost_usd, duration_ms,
    error_code, error_message, error_retryable, dead_lettered_at, wait_reason, run_at, refund, finished_at)
), u AS (
  UPDATE runs r SET status = v.status, output = v.output, output_hash = v.output_hash, is_new = v.is_new,
    tokens_in = v.tokens_in, tokens_out = v.tokens_out, cost_usd = v.cost_usd, duration_ms = v.duration_ms,
    error_code = v.error_code, error_message = v.error_message, error_retryable = v.error_retryable,
    dead_lettered_at = v.dead_lettered_at, wait_reason = v.wait_reason, run_at = coalesce(v.run_at, r.run_at),
    attempt = r.attempt - v.refund, finished_at = v.finished_at,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = $19
  FROM v WHERE r.id = v.id AND r.lease_token = v.token AND r.status = 'running'
  RETURNING r.*
), events AS (
  ${insertEventsFrom("u", "$19")}
)`;
var settleSql = `WITH ${settleCtes} SELECT id FROM u`;
var settleAndClaimSql = `
WITH ${settleCtes}, due AS (
  SELECT id, concurrency_key FROM runs
  WHERE status = 'pending' AND run_at <= $20
  ORDER BY priority DESC, run_at, id
  LIMIT $21
  FOR UPDATE SKIP LOCKED
), gate AS (
  SELECT coalesce(bool_or(concurrency_key IS NOT NULL), false) AS keyed FROM due
), claimed AS (
  UPDATE runs r SET status = 'running', attempt = r.attempt + 1, lease_token = r.lease_token + 1,
    lease_owner = $22, lease_expires_at = $23, started_at = $20, updated_at = $20, wait_reason = NULL
  FROM due, gate WHERE r.id = due.id AND NOT gate.keyed
  RETURNING r.*
)
SELECT CASE WHEN row_number() OVER () = 1 THEN (SELECT coalesce(string_agg(id, ','), '') FROM u) END AS settled_ids,
  gate.keyed, claimed.*
FROM gate LEFT JOIN claimed ON true`;
var rescueSql = `
WITH expired AS (
  SELECT id FROM runs WHERE status = 'running' AND lease_expires_at < $1
  ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
), u AS (
  UPDATE runs r SET
    status = CASE WHEN r.attempt < r.max_attempts THEN 'pending' ELSE 'failed' END,
    run_at = $1, lease_token = r.lease_token + 1, lease_owner = NULL, lease_expires_at = NULL,
    error_code = $3, error_message = $4, error_retryable = 1,
    dead_lettered_at = CASE WHEN r.attempt < r.max_attempts THEN NULL ELSE $1 END,
    finished_at = CASE WHEN r.attempt < r.max_attempts THEN NULL ELSE $1 END, updated_at = $1
  FROM expired WHERE r.id = expired.id
  RETURNING r.*
), events AS (
  ${insertEventsFrom("u", "$1")}
)
SELECT * FROM u`;
function settlementParams(settlements, now2) {
  const columns2 = settlements.map((s) => settlementColumns(s, now2));
  const pick = (key) => columns2.map((c) => c[key]);
  return [
    pick("id"),
    pick("token"),
    pick("status"),
    pick("output"),
    pick("output_hash"),
    pick("is_new"),
    pick("tokens_in"),
    pick("tokens_out"),
    pick("cost_usd"),
    pick("duration_ms"),
    pick("error_code"),
    pick("error_message"),
    pick("error_retryable"),
    pick("dead_lettered_at"),
    pick("wait_reason"),
    pick("run_at"),
    pick("refund"),
    pick("finished_at"),
    now2
  ];
}
function createPostgresQueue(database) {
  const pool = database.pool;
  async function claimSlow(options2) {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const { rows: candidates } = await client.query(dueWindowSql, [options2.now, options2.limit + claimWindowExtra]);
      const keys = [
        ...new Set(candidates.flatMap((c) => c.concurrency_key === null ? [] : [c.concurrency_key]))
      ];
      const running = /* @__PURE__ */ new Map();
      if (keys.length > 0) {
        await client.query(lockKeysSql, [keys]);
        const { rows } = await client.query(runningPerKeySql, [keys]);
        for (const row of rows) running.set(row.key, row.n);
      }
      const chosen = [];
      for (const candidate of candidates) {
        if (chosen.length >= options2.limit) break;
        const key = candidate.concurrency_key;
        if (key !== null) {
          const count = running.get(key) ?? 0;
          if (count >= candidate.concurrency_limit) continue;
          running.set(key, count + 1);
        }
        chosen.push(candidate.id);
      }
      const claimed = chosen.length === 0 ? [] : (await client.query(claimByIdsSql, [
        chosen,
        options2.workerId,
        options2.now + options2.leaseMs,
        options2.now
      ])).rows;
      await client.query("COMMIT");
      return claimed;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {
      });
      throw error;
    } finally {
      client.release();
    }
  }
  return {
    async claim(options2) {
      const { rows } = await pool.query({
        name: "openorch_claim_fast",
        text: claimFastSql,
        values: [options2.now, options2.limit, options2.workerId, options2.now + options2.leaseMs]
      });
      if (rows[0]?.keyed) return claimSlow(options2);
      return rows.filter((row) => row.id !== null).map(({ keyed: _keyed, ...row }) => row);
    },
    async heartbeat(leases, now2, leaseMs) {
      const { rows } = await pool.query({
        name: "openorch_heartbeat",
        text: heartbeatSql,
        values: [leases.map((l) => l.id), leases.map((l) => l.token), now2 + leaseMs]
      });
      const held = new Set(rows.map((row) => row.id));
      return new Set(leases.filter((l) => !held.has(l.id)).map((l) => l.id));
    },
    async settle(settlements, now2) {
      const { rows } = await pool.query({
        name: "openorch_settle",
        text: settleSql,
        values: settlementParams(settlements, now2)
      });
      const accepted = new Set(rows.map((row) => row.id));
      return settlements.map((s) => accepted.has(s.id));
    },
    async settleAndClaim(settlements, now2, next) {
      const { rows } = await pool.query({
        name: "openorch_settle_claim",
        text: settleAndClaimSql,
        values: [
          ...settlementParams(settlements, now2),
          next.now,
          next.limit,
          next.workerId,
          next.now + next.leaseMs
        ]
      });
      const accepted = new Set((rows[0]?.settled_ids ?? "").split(",").filter(Boolean));
      const claimed = rows[0]?.keyed ? await claimSlow(next) : rows.filter((row) => row.id !== null).map(({ keyed: _k, settled_ids: _s, ...row }) => row);
      return { accepted: settlements.map((s) => accepted.has(s.id)), claimed };
    },
    async rescueExpired(now2, limit) {
      const { rows } = await pool.query(rescueSql, [
        now2,
        limit,
        leaseExpiredError.code,
        leaseExpiredError.message
      ]);
      return rows;
    }
  };
}

// apps/server/src/runs/queue.sqlite.ts
function createSqliteQueue(database) {
  let statements;
  const run = (fn) => database.withSqlite((sqlite) => {
    statements ??= prepare(sqlite);
    const s = statements;
    s.begin.run();
    try {
      const result2 = fn(s);
      s.commit.run();
      return result2;
    } catch (error) {
      if (sqlite.inTransaction) s.rollback.run();
      throw error;
    }
  });
  return {
    claim: (options2) => run((s) => claimInTransaction(s, options2)),
    heartbeat: (leases, now2, leaseMs) => run((s) => {
      const refused = /* @__PURE__ */ new Set();
      for (const lease of leases) {
        if (s.extendLease.run(now2 + leaseMs, lease.id, lease.token).changes === 0) refused.add(lease.id);
      }
      return refused;
    }),
    settle: (settlements, now2) => run((s) => settleInTransaction(s, settlements, now2)),
    settleAndClaim: (settlements, now2, next) => run((s) => ({
      accepted: settleInTransaction(s, settlements, now2),
      claimed: claimInTransaction(s, next)
    })),
    rescueExpired: (now2, limit) => run((s) => {
      const expired = s.expired.all(now2, limit);
      return expired.map(({ id }) => {
        const row = s.rescueOne.get({ now: now2, id, ...leaseExpiredError });
        s.insertEvent.run(
          row.tenant_id,
          row.id,
          `run.${row.status}`,
          JSON.stringify(eventPayloadOf(row)),
          now2
        );
        return row;
      });
    })
  };
}
function claimInTransaction(s, options2) {
  const running = /* @__PURE__ */ new Map();
  const claimed = [];
  let offset = 0;
  while (claimed.length < options2.limit && offset <= claimWindowExtra) {
    const want = options2.limit - claimed.length;
    const candidates = s.due.all(options2.now, want, offset);
    let skipped = 0;
    for (const candidate of candidates) {
      const key = candidate.concurrency_key;
      if (key !== null) {
        const count = running.get(key) ?? s.runningForKey.get(key).n;
        if (count >= candidate.concurrency_limit) {
          skipped++;
          continue;
        }
        running.set(key, count + 1);
      }
      claimed.push(
        s.claimOne.get(
          options2.workerId,
          options2.now + options2.leaseMs,
          options2.now,
          options2.now,
          candidate.id
        )
      );
    }
    if (candidates.length < want || skipped === 0) break;
    offset += skipped;
  }
  return claimed;
}
function settleInTransaction(s, settlements, now2) {
  return settlements.map((settlement) => {
    const row = s.settleOne.get({ ...settlementColumns(settlement, now2), now: now2 });
    if (!row) return false;
    s.insertEvent.run(row.tenant_id, row.id, `run.${row.status}`, JSON.stringify(eventPayloadOf(row)), now2);
    return true;
  });
}
function prepare(sqlite) {
  return {
    begin: sqlite.prepare("BEGIN IMMEDIATE"),
    commit: sqlite.prepare("COMMIT"),
    rollback: sqlite.prepare("ROLLBACK"),
    due: sqlite.prepare(
      `SELECT id, concurrency_key, concurrency_limit FROM runs
       WHERE status = 'pending' AND run_at <= ?
       ORDER BY priority DESC, run_at, id LIMIT ? OFFSET ?`
    ),
    runningForKey: sqlite.prepare(
      `SELECT count(*) AS n FROM runs WHERE status = 'running' AND concurrency_key = ?`
    ),
    claimOne: sqlite.prepare(
      `UPDATE runs SET status = 'running', attempt = attempt + 1, lease_token = lease_token + 1,
         lease_owner = ?, lease_expires_at = ?, started_at = ?, updated_at = ?, wait_reason = NULL
       WHERE id = ? RETURNING *`
    ),
    insertEvent: sqlite.prepare(
      "INSERT INTO run_events (tenant_id, run_id, type, payload, created_at) VALUES (?, ?, ?, ?, ?)"
    ),
    extendLease: sqlite.prepare(
      `UPDATE runs SET lease_expires_at = ? WHERE id = ? AND lease_token = ? AND status = 'running'`
    ),
    settleOne: sqlite.prepare(
      `UPDATE runs SET status = @status, output = @output, output_hash = @output_hash, is_new = @is_new,
         tokens_in = @tokens_in, tokens_out = @tokens_out, cost_usd = @cost_usd, duration_ms = @duration_ms,
         error_code = @error_code, error_message = @error_message, error_retryable = @error_retryable,
         dead_lettered_at = @dead_lettered_at, wait_reason = @wait_reason, run_at = coalesce(@run_at, run_at),
         attempt = attempt - @refund, finished_at = @finished_at,
         lease_owner = NULL, lease_expires_at = NULL, updated_at = @now
       WHERE id = @id AND lease_token = @token AND status = 'running' RETURNING *`
    ),
    expired: sqlite.prepare(
      `SELECT id FROM runs WHERE status = 'running' AND lease_expires_at < ? ORDER BY lease_expires_at LIMIT ?`
    ),
    // Bumping the token fences the lost worker out even before another worker claims the run.
    rescueOne: sqlite.prepare(
      `UPDATE runs SET
         status = CASE WHEN attempt < max_attempts THEN 'pending' ELSE 'failed' END,
         run_at = @now, lease_token = lease_token + 1, lease_owner = NULL, lease_expires_at = NULL,
         error_code = @code, error_message = @message, error_retryable = 1,
         dead_lettered_at = CASE WHEN attempt < max_attempts THEN NULL ELSE @now END,
         finished_at = CASE WHEN attempt < max_attempts THEN NULL ELSE @now END, updated_at = @now
       WHERE id = @id RETURNING *`
    )
  };
}

// apps/server/src/runs/run.service.ts
import { sql as sql6 } from "kysely";

// apps/server/src/platform/ids.ts
import { uuidv7 } from "uuidv7";
function newId() {
  return uuidv7();
}

// apps/server/src/runs/enqueue.postgres.ts
var insertRunsSql = `
WITH input AS (
  SELECT * FROM json_populate_recordset(NULL::runs, $1::json)
), ins AS (
  INSERT INTO runs SELECT * FROM input RETURNING *
), events AS (
  INSERT INTO run_events (tenant_id, run_id, type, payload, created_at)
  SELECT tenant_id, id, 'run.pending', json_build_object('runId', id, 'tenantId', tenant_id, 'kind', kind,
    'botId', bot_id, 'status', status, 'attempt', attempt, 'error', NULL)::text, $2 FROM ins
)
SELECT ins.*, pg_notify($3, '') IS NULL AS woke FROM ins`;
async function insertRunsWithoutKeys(database, rows, now2, wakeChannel) {
  const pool = database.pool;
  const { rows: inserted } = await pool.query({
    name: "openorch_insert_runs",
    text: insertRunsSql,
    values: [JSON.stringify(rows), now2, wakeChannel]
  });
  const byId = new Map(inserted.map(({ woke: _woke, ...row }) => [row.id, row]));
  return rows.map((row) => byId.get(row.id) ?? row);
}

// apps/server/src/runs/enqueue.sqlite.ts
var columns = [
  "id",
  "tenant_id",
  "kind",
  "bot_id",
  "parent_run_id",
  "status",
  "trigger",
  "input",
  "priority",
  "run_at",
  "attempt",
  "max_attempts",
  "retry_base_ms",
  "timeout_ms",
  "concurrency_key",
  "concurrency_limit",
  "created_at",
  "updated_at"
];
var prepared = /* @__PURE__ */ new WeakMap();
function prepare2(sqlite) {
  return {
    insertRun: sqlite.prepare(
      `INSERT INTO runs (${columns.join(", ")}) VALUES (${columns.map((c) => `@${c}`).join(", ")})`
    ),
    insertEvent: sqlite.prepare(
      "INSERT INTO run_events (tenant_id, run_id, type, payload, created_at) VALUES (?, ?, ?, ?, ?)"
    ),
    begin: sqlite.prepare("BEGIN IMMEDIATE"),
    commit: sqlite.prepare("COMMIT"),
    rollback: sqlite.prepare("ROLLBACK")
  };
}
function insertRunsWithoutKeysSqlite(database, rows, now2) {
  return database.withSqlite((sqlite) => {
    let s = prepared.get(sqlite);
    if (!s) {
      s = prepare2(sqlite);
      prepared.set(sqlite, s);
    }
    s.begin.run();
    try {
      for (const row of rows) {
        const values = {};
        for (const column of columns) values[column] = row[column];
        s.insertRun.run(values);
        s.insertEvent.run(row.tenant_id, row.id, "run.pending", JSON.stringify(eventPayloadOf(row)), now2);
      }
      s.commit.run();
    } catch (error) {
      if (sqlite.inTransaction) s.rollback.run();
      throw error;
    }
    return rows;
  });
}

// apps/server/src/runs/run.store.ts
import { sql as sql5 } from "kysely";
var idempotencyWindowMs = 24 * 60 * 60 * 1e3;
async function insertRunRows(db, rows, now2) {
  if (rows.length === 0) return [];
  const keyed = rows.filter((r) => r.idempotency_key !== null);
  for (const row of keyed) {
    await db.updateTable("runs").set({ idempotency_key: null }).where("tenant_id", "=", row.tenant_id).where("idempotency_key", "=", row.idempotency_key).where("created_at", "<", now2 - idempotencyWindowMs).execute();
  }
  const inserted = [];
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    inserted.push(
      ...await db.insertInto("runs").values(chunk).onConflict((oc) => oc.columns(["tenant_id", "idempotency_key"]).doNothing()).returningAll().execute()
    );
  }
  const createdIds = new Set(inserted.map((r) => r.id));
  await insertEvents(db, inserted, now2);
  const results = [];
  for (const row of rows) {
    if (createdIds.has(row.id)) {
      results.push({ row: inserted.find((r) => r.id === row.id) ?? row, created: true });
      continue;
    }
    const existing = await db.selectFrom("runs").selectAll().where("tenant_id", "=", row.tenant_id).where("idempotency_key", "=", row.idempotency_key).executeTakeFirstOrThrow();
    results.push({ row: existing, created: false });
  }
  return results;
}
async function insertEvents(db, rows, now2, type) {
  if (rows.length === 0) return;
  const events = rows.map((row) => ({
    tenant_id: row.tenant_id,
    run_id: row.id,
    type: type ?? `run.${row.status}`,
    payload: JSON.stringify(eventPayloadOf(row)),
    created_at: now2
  }));
  for (let i = 0; i < events.length; i += 500)
    await db.insertInto("run_events").values(events.slice(i, i + 500)).execute();
}
async function findRun(db, tenantId, id) {
  return db.selectFrom("runs").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
}
async function listRuns(db, tenantId, filter) {
  let query = db.selectFrom("runs").selectAll().where("tenant_id", "=", tenantId);
  if (filter.status) query = query.where("status", "=", filter.status);
  if (filter.botId) query = query.where("bot_id", "=", filter.botId);
  if (filter.deadLettered) query = query.where("dead_lettered_at", "is not", null);
  if (filter.before) query = query.where("id", "<", filter.before);
  return query.orderBy("id", "desc").limit(filter.limit).execute();
}
async function transitionRun(db, tenantId, id, from, set) {
  return db.updateTable("runs").set(set).where("tenant_id", "=", tenantId).where("id", "=", id).where("status", "in", from).returningAll().executeTakeFirst();
}
async function countPendingRuns(db, now2) {
  const row = await db.selectFrom("runs").select((eb) => eb.fn.countAll().as("n")).where("status", "=", "pending").where("run_at", "<=", now2).executeTakeFirstOrThrow();
  return Number(row.n);
}

// apps/server/src/runs/run.service.ts
function createRunService(deps) {
  const { database, clock, log: log2 } = deps;
  let warned = false;
  function newRow(request, now2) {
    if (!request.kind) throw new AppError("run_kind_required", "A run needs a kind.", 400);
    return {
      id: newId(),
      tenant_id: request.tenantId,
      kind: request.kind,
      bot_id: request.botId ?? null,
      parent_run_id: request.parentRunId ?? null,
      status: "pending",
      trigger: request.trigger,
      input: toJsonText(request.input),
      output: null,
      output_hash: null,
      is_new: null,
      priority: request.priority ?? 0,
      run_at: request.runAt ?? now2,
      attempt: 0,
      max_attempts: 1 + (request.maxRetries ?? 0),
      retry_base_ms: request.retryBaseMs ?? 1e3,
      timeout_ms: request.timeoutMs ?? null,
      lease_token: 0,
      lease_owner: null,
      lease_expires_at: null,
      concurrency_key: request.concurrencyKey ?? null,
      concurrency_limit: request.concurrencyLimit ?? 1,
      idempotency_key: request.idempotencyKey ?? null,
      error_code: null,
      error_message: null,
      error_retryable: null,
      dead_lettered_at: null,
      wait_reason: null,
      tokens_in: null,
      tokens_out: null,
      cost_usd: null,
      duration_ms: null,
      created_at: now2,
      started_at: null,
      finished_at: null,
      updated_at: now2
    };
  }
  async function admit(requests) {
    const scheduled = requests.some((r) => r.trigger === "schedule");
    if (!scheduled && warned) return { pending: -1, drop: false };
    const pending = await countPendingRuns(database.db, clock.now());
    if (pending > deps.backpressure.warnPending) {
      if (!warned) log2.warn({ pending, threshold: deps.backpressure.warnPending }, "run queue is backing up");
      warned = true;
    } else warned = false;
    return { pending, drop: scheduled && pending > deps.backpressure.dropPending };
  }
  async function enqueueMany(requests) {
    if (requests.length === 0) return [];
    const now2 = clock.now();
    const { pending, drop } = await admit(requests);
    const results = new Array(requests.length);
    const accepted = [];
    requests.forEach((request, index) => {
      if (drop && request.trigger === "schedule") {
        const reason = `queue_full: ${pending} runs are waiting, more than the limit of ${deps.backpressure.dropPending}`;
        log2.warn({ kind: request.kind, botId: request.botId, pending, reason }, "scheduled run dropped");
        deps.onDropped?.(request, reason);
        results[index] = { status: "dropped", reason, pending };
      } else accepted.push({ index, row: newRow(request, now2) });
    });
    if (accepted.length > 0) {
      const withoutKeys = accepted.every((a) => a.row.idempotency_key === null);
      const rows = accepted.map((a) => a.row);
      const inserted = withoutKeys ? (database.dialect === "postgres" ? await insertRunsWithoutKeys(database, rows, now2, deps.bus.channel("wake")) : await insertRunsWithoutKeysSqlite(database, rows, now2)).map((row) => ({ row, created: true })) : await writeTransaction(database, async (trx) => {
        const outcome = await insertRunRows(
          trx,
          accepted.map((a) => a.row),
          now2
        );
        if (database.dialect === "postgres" && outcome.some((o) => o.created)) {
          await sql6`SELECT pg_notify(${deps.bus.channel("wake")}, '')`.execute(trx);
        }
        return outcome;
      });
      inserted.forEach((outcome, i) => {
        const index = accepted[i].index;
        results[index] = { status: outcome.created ? "created" : "existing", run: toRun(outcome.row) };
      });
      if (inserted.some((o) => o.created && o.row.run_at <= now2)) deps.onRunsDue?.();
    }
    return results;
  }
  async function enqueue(request) {
    const [result2] = await enqueueMany([request]);
    return result2;
  }
  async function get(tenantId, id) {
    const row = await findRun(database.db, tenantId, id);
    if (!row) throw notFound("run_not_found", `Run ${id} does not exist.`);
    return toRun(row);
  }
  async function list(tenantId, filter) {
    const rows = await listRuns(database.db, tenantId, { ...filter, limit: filter.limit + 1 });
    const page = rows.slice(0, filter.limit);
    return {
      items: page.map(toRun),
      nextCursor: rows.length > filter.limit ? page[page.length - 1]?.id ?? null : null
    };
  }
  async function transition(tenantId, id, from, set, notFoundMessage) {
    const now2 = clock.now();
    const outcome = await writeTransaction(database, async (trx) => {
      const before = await findRun(trx, tenantId, id);
      if (!before) throw notFound("run_not_found", `Run ${id} does not exist.`);
      const after = await transitionRun(trx, tenantId, id, from, { ...set, updated_at: now2 });
      if (!after) throw notFoundMessage(toRun(before));
      await insertEvents(trx, [after], now2);
      if (database.dialect === "postgres" && after.status === "pending") {
        await sql6`SELECT pg_notify(${deps.bus.channel("wake")}, '')`.execute(trx);
      }
      return { before: toRun(before), after: toRun(after) };
    });
    return outcome;
  }
  async function cancel(tenantId, id) {
    const now2 = clock.now();
    const { before, after } = await transition(
      tenantId,
      id,
      ["pending", "running", "waiting"],
      {
        status: "cancelled",
        finished_at: now2,
        lease_owner: null,
        lease_expires_at: null,
        lease_token: sql6`lease_token + 1`,
        error_code: "cancelled",
        error_message: "The run was cancelled.",
        error_retryable: 0
      },
      (run) => new AppError(
        "run_not_cancellable",
        `Run ${id} is ${run.status}; only pending, waiting or running runs can be cancelled.`,
        409
      )
    );
    if (before.status === "running") {
      deps.onCancelled?.(after);
      await deps.bus.publish("control", JSON.stringify({ type: "cancel", runId: id })).catch(() => {
      });
    }
    return after;
  }
  async function retry(tenantId, id) {
    const now2 = clock.now();
    const current = await get(tenantId, id);
    const retries = Math.max(0, current.maxAttempts - 1);
    const { after } = await transition(
      tenantId,
      id,
      ["failed", "timeout", "cancelled"],
      {
        status: "pending",
        run_at: now2,
        max_attempts: current.attempt + 1 + retries,
        dead_lettered_at: null,
        finished_at: null,
        error_code: null,
        error_message: null,
        error_retryable: null
      },
      (run) => new AppError(
        "run_not_retriable",
        `Run ${id} is ${run.status}; only failed, timed-out or cancelled runs can be retried.`,
        409
      )
    );
    deps.onRunsDue?.();
    return after;
  }
  async function resume(tenantId, id, input) {
    const now2 = clock.now();
    const { after } = await transition(
      tenantId,
      id,
      ["waiting"],
      {
        status: "pending",
        run_at: now2,
        wait_reason: null,
        ...input !== void 0 ? { input: toJsonText(input) } : {}
      },
      (run) => new AppError("run_not_waiting", `Run ${id} is ${run.status}; only waiting runs can be resumed.`, 409)
    );
    deps.onRunsDue?.();
    return after;
  }
  return { enqueue, enqueueMany, get, list, cancel, retry, resume };
}

// apps/server/src/runs/worker.ts
import { randomUUID } from "node:crypto";

// apps/server/src/runs/retry.ts
var maxRetryDelayMs = 60 * 60 * 1e3;
function backoffCeiling(attempt, baseMs, capMs = maxRetryDelayMs) {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
}
function retryDelayMs(attempt, baseMs, retryAfterMs, random = Math.random) {
  const jittered = Math.floor(random() * backoffCeiling(attempt, baseMs));
  return Math.max(jittered, retryAfterMs ?? 0);
}

// apps/server/src/runs/run.failure.ts
var RunFailure = class extends Error {
  code;
  retryable;
  retryAfterMs;
  constructor(code, message, retryable = false, retryAfterMs) {
    super(message);
    this.name = "RunFailure";
    this.code = code;
    this.retryable = retryable;
    this.retryAfterMs = retryAfterMs;
  }
  toRunError() {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...this.retryAfterMs !== void 0 ? { retryAfterMs: this.retryAfterMs } : {}
    };
  }
};
function toRunError(value) {
  if (value instanceof RunFailure) return value.toRunError();
  const error = toError(value);
  return { code: "executor_error", message: error.message || error.name, retryable: true };
}

// apps/server/src/runs/worker.ts
var Worker = class {
  id;
  active = /* @__PURE__ */ new Map();
  /** Runs whose executor has not returned yet; the concurrency limit counts these. */
  executing = 0;
  reserved = 0;
  /** Claimed runs waiting for a slot (only with localQueueSize > 0). */
  queued = [];
  idle = false;
  wakeGeneration = 0;
  running = false;
  stopping = false;
  timers = [];
  retryTimers = /* @__PURE__ */ new Set();
  settleBuffer = [];
  settleScheduled = false;
  drained;
  log;
  options;
  constructor(options2) {
    this.options = options2;
    if (options2.concurrency < 1) throw new Error("Worker concurrency must be at least 1");
    if (options2.leaseMs < 100) throw new Error("Worker leaseMs must be at least 100");
    this.id = options2.workerId ?? `worker-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.log = options2.log.child({ workerId: this.id });
  }
  get activeCount() {
    return this.active.size;
  }
  start() {
    if (this.running) return;
    this.running = true;
    const heartbeatMs = this.options.heartbeatIntervalMs ?? Math.max(50, Math.floor(this.options.leaseMs / 3));
    const rescueMs = this.options.rescueIntervalMs ?? Math.min(15e3, Math.max(100, this.options.leaseMs / 2));
    this.timers.push(setInterval(() => this.nudge(), this.options.pollIntervalMs));
    this.timers.push(setInterval(() => void this.heartbeat(), heartbeatMs));
    this.timers.push(setInterval(() => void this.rescue(), rescueMs));
    this.nudge();
  }
  /** Something may be due: claim if there are free slots. */
  nudge() {
    this.wakeGeneration++;
    this.idle = false;
    this.tick();
  }
  /** Aborts a run this process holds (cancel requested elsewhere); true if it was here. */
  abort(runId, cause = "cancelled") {
    const index = this.queued.findIndex((row) => row.id === runId);
    if (index >= 0) {
      this.queued.splice(index, 1);
      this.afterChange();
      return true;
    }
    const active = this.active.get(runId);
    if (!active) return false;
    active.controller.abort(new RunAbort(cause));
    return true;
  }
  /**
   * Graceful stop: claim nothing more, let running runs finish within `graceMs`,
   * then abort the rest and give them back to the queue (pending, attempt not counted).
   */
  async stop(graceMs) {
    if (!this.running) return;
    this.stopping = true;
    for (const timer of this.timers.splice(0, 2)) clearInterval(timer);
    for (const timer of this.retryTimers) clearTimeout(timer);
    await this.releaseQueued();
    await this.waitForDrain(graceMs);
    if (this.active.size > 0) {
      this.log.warn({ remaining: this.active.size }, "grace period over; releasing unfinished runs");
      for (const active of this.active.values()) active.controller.abort(new RunAbort("shutdown"));
      await this.waitForDrain(Math.max(1e3, this.options.leaseMs));
    }
    await this.flushSettlements();
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    this.running = false;
  }
  waitForDrain(ms) {
    if (this.isDrained()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.drained = done;
    });
  }
  tick() {
    if (!this.running || this.stopping) return;
    const batch = this.options.claimBatchSize ?? Number.POSITIVE_INFINITY;
    while (!this.idle) {
      const free = this.capacity();
      if (free <= 0) return;
      const limit = Math.min(free, batch);
      this.reserved += limit;
      const generation = this.wakeGeneration;
      this.options.queue.claim({ workerId: this.id, limit, now: this.options.clock.now(), leaseMs: this.options.leaseMs }).then(
        (rows) => {
          this.reserved -= limit;
          this.accept(rows);
          if (rows.length < limit && generation === this.wakeGeneration) this.idle = true;
          this.afterChange();
        },
        (error) => {
          this.reserved -= limit;
          this.idle = true;
          this.log.error({ err: toError(error) }, "claim failed; retrying at the next poll");
          this.afterChange();
        }
      );
    }
  }
  /** Runs a claim may ask for now: free slots, plus room in the local queue. */
  capacity() {
    const localQueue = this.options.localQueueSize ?? 0;
    return this.options.concurrency + localQueue - this.executing - this.queued.length - this.reserved;
  }
  isDrained() {
    return this.active.size === 0 && this.reserved === 0 && this.queued.length === 0;
  }
  /** Takes claimed runs: start what fits, queue the rest locally. */
  accept(rows) {
    if (rows.length === 0) return;
    this.options.onClaimed?.(rows);
    this.queued.push(...rows);
    if (this.stopping) void this.releaseQueued().then(() => this.afterChange());
    else this.pump();
  }
  pump() {
    while (this.executing < this.options.concurrency && this.queued.length > 0 && !this.stopping) {
      this.execute(this.queued.shift());
    }
  }
  /** On shutdown, runs that never started go straight back to the queue. */
  async releaseQueued() {
    const rows = this.queued.splice(0);
    if (rows.length === 0) return;
    await this.options.queue.settle(
      rows.map((row) => ({ id: row.id, token: Number(row.lease_token), outcome: "released" })),
      this.options.clock.now()
    ).catch(
      (error) => this.log.warn({ err: toError(error) }, "releasing queued runs failed; they return after their lease")
    );
  }
  afterChange() {
    if (this.isDrained()) this.drained?.();
    this.tick();
  }
  execute(row) {
    const run = toClaimedRun(row);
    const controller = new AbortController();
    const active = { run, controller, startedAt: this.options.clock.now() };
    this.active.set(run.id, active);
    this.executing++;
    let slotFreed = false;
    const freeSlot = () => {
      if (slotFreed) return;
      slotFreed = true;
      this.executing--;
      this.pump();
    };
    let runLog;
    const log2 = () => {
      runLog ??= this.log.child({ runId: run.id, kind: run.kind, attempt: run.attempt });
      return runLog;
    };
    const timeout = run.timeoutMs !== null ? setTimeout(() => controller.abort(new RunAbort("timeout")), run.timeoutMs) : void 0;
    const context = {
      run,
      signal: controller.signal,
      get log() {
        return log2();
      },
      assertLease: async () => {
        const refused = await this.options.queue.heartbeat(
          [{ id: run.id, token: run.leaseToken }],
          this.options.clock.now(),
          this.options.leaseMs
        );
        if (refused.size > 0) {
          controller.abort(new RunAbort("lease_lost"));
          throw new LeaseLostError(run.id);
        }
      }
    };
    void this.runExecutor(context).then(
      (result2) => this.settlementFor(active, result2, void 0),
      (error) => this.settlementFor(active, void 0, error)
    ).then(async (settlement) => {
      clearTimeout(timeout);
      freeSlot();
      if (!settlement) this.tick();
      if (settlement) {
        const accepted = await this.settle(settlement);
        if (!accepted)
          log2().warn({ outcome: settlement.outcome }, "settlement refused: lease no longer held");
        this.options.onSettled?.(run, settlement, accepted);
        if (accepted && settlement.outcome === "retry") this.wakeAt(settlement.runAt);
      }
    }).catch(
      (error) => log2().error({ err: toError(error) }, "settling run failed; it will be rescued after its lease")
    ).finally(() => {
      freeSlot();
      this.active.delete(run.id);
      this.afterChange();
    });
  }
  /** Resolves with the executor's result, or rejects as soon as the run is aborted (a late result is discarded). */
  runExecutor(context) {
    const executor = this.options.executors.get(context.run.kind);
    if (!executor) {
      return Promise.reject(
        Object.assign(new Error(`No executor is registered for run kind "${context.run.kind}".`), {
          runError: { code: "executor_missing", retryable: false }
        })
      );
    }
    const signal = context.signal;
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      Promise.resolve().then(() => executor(context)).then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }
  settlementFor(active, result2, thrown) {
    const { run, controller } = active;
    const lease = { id: run.id, token: run.leaseToken };
    const durationMs = Math.max(0, this.options.clock.now() - active.startedAt);
    const cause = controller.signal.aborted ? controller.signal.reason instanceof RunAbort ? controller.signal.reason.reason : "cancelled" : void 0;
    switch (cause) {
      case "timeout":
        return {
          ...lease,
          outcome: "timeout",
          durationMs,
          deadLetter: false,
          error: {
            code: "timeout",
            message: `The run took longer than its limit of ${Math.round((run.timeoutMs ?? 0) / 1e3)} s and was stopped.`,
            retryable: false
          }
        };
      case "cancelled":
      case "lease_lost":
        return void 0;
      case "shutdown":
        return { ...lease, outcome: "released" };
    }
    if (result2 !== void 0) {
      if ("wait" in result2) return { ...lease, outcome: "waiting", reason: result2.wait };
      return {
        ...lease,
        outcome: "completed",
        output: result2.output ?? null,
        result: result2.result,
        durationMs
      };
    }
    const marked = thrown?.runError;
    const error = marked ? { ...marked, message: toError(thrown).message } : toRunError(thrown);
    if (error.retryable && run.attempt < run.maxAttempts) {
      const delay = retryDelayMs(run.attempt, run.retryBaseMs, error.retryAfterMs, this.options.random);
      return { ...lease, outcome: "retry", error, runAt: this.options.clock.now() + delay, durationMs };
    }
    return { ...lease, outcome: "failed", error, durationMs, deadLetter: true };
  }
  settle(settlement) {
    const batch = this.options.settleBatchSize ?? 100;
    if (batch <= 1) return this.writeSettlements([settlement]).then((accepted) => accepted[0] ?? false);
    return new Promise((resolve) => {
      this.settleBuffer.push({ settlement, resolve });
      if (this.settleBuffer.length >= batch) void this.flushSettlements();
      else if (!this.settleScheduled) {
        this.settleScheduled = true;
        setImmediate(() => void this.flushSettlements());
      }
    });
  }
  async flushSettlements() {
    this.settleScheduled = false;
    const items = this.settleBuffer.splice(0);
    if (items.length === 0) return;
    const accepted = await this.writeSettlements(items.map((item) => item.settlement)).catch(
      () => items.map(() => false)
    );
    for (const [i, item] of items.entries()) item.resolve(accepted[i] ?? false);
  }
  /**
   * Writes settlements and, in the same transaction, claims runs for the slots that are free now.
   * Retries a failing database for up to one lease; after that the rescuer takes over.
   */
  async writeSettlements(settlements) {
    const deadline = Date.now() + this.options.leaseMs;
    for (let attempt = 0; ; attempt++) {
      const batch = this.options.claimBatchSize ?? Number.POSITIVE_INFINITY;
      const free = this.capacity();
      const limit = this.running && !this.stopping && !this.idle && attempt === 0 ? Math.max(0, Math.min(free, batch)) : 0;
      const generation = this.wakeGeneration;
      let outcome;
      this.reserved += limit;
      try {
        const now2 = this.options.clock.now();
        outcome = limit === 0 ? { accepted: await this.options.queue.settle(settlements, now2), claimed: [] } : await this.options.queue.settleAndClaim(settlements, now2, {
          workerId: this.id,
          limit,
          now: now2,
          leaseMs: this.options.leaseMs
        });
      } catch (error) {
        this.reserved -= limit;
        if (Date.now() > deadline) throw error;
        this.log.warn({ err: toError(error), attempt }, "writing run results failed; retrying");
        await new Promise((resolve) => setTimeout(resolve, Math.min(2e3, 100 * 2 ** attempt)));
        continue;
      }
      this.reserved -= limit;
      const { accepted, claimed } = outcome;
      this.accept(claimed);
      if (claimed.length < limit && generation === this.wakeGeneration) this.idle = true;
      return accepted;
    }
  }
  async heartbeat() {
    if (this.active.size === 0 && this.queued.length === 0) return;
    const leases = [
      ...[...this.active.values()].map(({ run }) => ({ id: run.id, token: run.leaseToken })),
      ...this.queued.map((row) => ({ id: row.id, token: Number(row.lease_token) }))
    ];
    try {
      const refused = await this.options.queue.heartbeat(
        leases,
        this.options.clock.now(),
        this.options.leaseMs
      );
      for (const id of refused) {
        const index = this.queued.findIndex((row) => row.id === id);
        if (index >= 0) this.queued.splice(index, 1);
        const active = this.active.get(id);
        if (!active || active.controller.signal.aborted) continue;
        this.log.warn({ runId: id }, "heartbeat refused: lease taken over; aborting the run here");
        active.controller.abort(new RunAbort("lease_lost"));
      }
    } catch (error) {
      this.log.warn({ err: toError(error) }, "heartbeat failed; will try again");
    }
  }
  async rescue() {
    try {
      const rescued = await this.options.queue.rescueExpired(this.options.clock.now(), 100);
      if (rescued.length === 0) return;
      for (const row of rescued) {
        this.log.warn(
          { runId: row.id, status: row.status, attempt: row.attempt },
          "rescued a run whose lease expired"
        );
      }
      this.nudge();
    } catch (error) {
      this.log.warn({ err: toError(error) }, "rescue sweep failed; will try again");
    }
  }
  /** Runs every rescue sweep now (tests and shutdown hooks). */
  rescueNow() {
    return this.rescue();
  }
  wakeAt(runAt) {
    const delay = Math.max(0, runAt - this.options.clock.now());
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.nudge();
    }, delay + 1);
    this.retryTimers.add(timer);
  }
};

// apps/server/src/runs/kernel.ts
function createQueue(database) {
  return database.dialect === "postgres" ? createPostgresQueue(database) : createSqliteQueue(database);
}
function createRunKernel(options2) {
  const queue = createQueue(options2.database);
  const executors = new ExecutorRegistry();
  const relay = new OutboxRelay({
    database: options2.database,
    bus: options2.bus,
    clock: options2.clock,
    log: options2.log,
    ...options2.relayIntervalMs !== void 0 ? { intervalMs: options2.relayIntervalMs } : {}
  });
  let workerStarted = false;
  const worker = new Worker({
    ...options2.worker,
    queue,
    executors,
    clock: options2.clock,
    log: options2.log,
    onClaimed: (rows) => {
      const now2 = options2.clock.now();
      for (const row of rows) {
        relay.publishLive({
          id: 0,
          tenantId: row.tenant_id,
          runId: row.id,
          type: "run.running",
          payload: eventPayloadOf(row),
          createdAt: now2
        });
      }
      options2.worker.onClaimed?.(rows);
    },
    onSettled: (run, settlement, accepted) => {
      relay.kick();
      options2.worker.onSettled?.(run, settlement, accepted);
    }
  });
  const runs = createRunService({
    database: options2.database,
    bus: options2.bus,
    clock: options2.clock,
    log: options2.log,
    backpressure: options2.backpressure,
    ...options2.onDropped ? { onDropped: options2.onDropped } : {},
    onRunsDue: () => {
      relay.kick();
      if (workerStarted) worker.nudge();
    },
    onCancelled: (run) => {
      relay.kick();
      worker.abort(run.id);
    }
  });
  const unsubscribe = [];
  return {
    queue,
    executors,
    runs,
    worker,
    relay,
    start(startOptions = {}) {
      relay.start();
      unsubscribe.push(
        options2.bus.subscribe("control", (message) => {
          try {
            const parsed = JSON.parse(message);
            if (parsed.type === "cancel" && parsed.runId) worker.abort(parsed.runId);
          } catch {
            options2.log.warn({ message }, "ignored a malformed control message");
          }
        })
      );
      if (startOptions.worker ?? true) {
        workerStarted = true;
        unsubscribe.push(options2.bus.subscribe("wake", () => worker.nudge()));
        worker.start();
      }
    },
    async stop(graceMs) {
      for (const off of unsubscribe.splice(0)) off();
      if (workerStarted) await worker.stop(graceMs);
      await relay.stop();
    }
  };
}

// bench/src/engine/engine.run.ts
var dialect = process.argv[2];
var options = JSON.parse(process.argv[3] ?? "{}");
var log = pino({ level: "silent" });
var now = () => performance.timeOrigin + performance.now();
function traceMemory(phase) {
  if (process.env.BENCH_TRACE_MEMORY !== "1") return;
  const m = process.memoryUsage();
  const mb = (n) => Math.round(n / 1048576);
  process.stderr.write(
    `${phase}: rss ${mb(m.rss)} MB, heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} MB, external ${mb(m.external)} MB, peak ${mb(process.resourceUsage().maxRSS * 1024)} MB
`
  );
}
function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p / 100 * sorted.length))] ?? Number.NaN;
}
async function main() {
  const dir = fs2.mkdtempSync(path2.join(os.tmpdir(), "openorch-bench-"));
  const schema = `bench_oo_${randomBytes(4).toString("hex")}`;
  const location = dialect === "sqlite" ? { sqlitePath: path2.join(dir, "bench.db"), sqliteSynchronous: options.synchronous ?? "NORMAL" } : { url: options.databaseUrl, schema };
  traceMemory("start");
  const database = await openDatabase({ ...location, poolSize: options.concurrency + 4 });
  await migrateToLatest(database.db, dialect, migrations);
  const makeBus = () => dialect === "sqlite" ? createLocalBus() : createPostgresBus({
    pool: database.pool,
    clientConfig: database.pgClientConfig,
    namespace: schema,
    log
  });
  const bus = makeBus();
  await bus.ready();
  let completed = 0;
  let done;
  const starts = /* @__PURE__ */ new Map();
  const oneByOne = options.mode === "one-by-one";
  const kernel = createRunKernel({
    database,
    bus,
    clock: systemClock,
    log,
    backpressure: { warnPending: Number.MAX_SAFE_INTEGER, dropPending: Number.MAX_SAFE_INTEGER },
    worker: {
      concurrency: options.concurrency,
      leaseMs: 3e4,
      pollIntervalMs: 1e3,
      claimBatchSize: oneByOne ? 1 : 500,
      localQueueSize: oneByOne ? 0 : 500,
      settleBatchSize: oneByOne ? 1 : 500,
      onSettled: () => {
        completed++;
        if (completed === options.jobs) done?.();
      }
    }
  });
  kernel.executors.register("noop", async ({ run }) => {
    const sentAt = run.input?.sentAt;
    if (sentAt !== void 0) starts.set(run.id, now() - sentAt);
    return {};
  });
  const requests = Array.from({ length: options.jobs }, () => ({
    tenantId: "default",
    kind: "noop",
    trigger: "api"
  }));
  const enqueueStart = now();
  for (let i = 0; i < requests.length; i += options.batchSize) {
    await kernel.runs.enqueueMany(requests.slice(i, i + options.batchSize));
  }
  const enqueueSeconds = (now() - enqueueStart) / 1e3;
  traceMemory("after enqueue");
  const finished = new Promise((resolve) => {
    done = resolve;
  });
  const drainStart = now();
  kernel.start();
  await finished;
  const seconds = (now() - drainStart) / 1e3;
  traceMemory("after drain");
  const latencies = [];
  for (let i = 0; i < options.latencySamples; i++) {
    const result2 = await kernel.runs.enqueue({
      tenantId: "default",
      kind: "noop",
      trigger: "api",
      input: { sentAt: now() }
    });
    if (result2.status === "dropped") throw new Error("dropped");
    const id = result2.run.id;
    while (!starts.has(id)) await new Promise((resolve) => setImmediate(resolve));
    latencies.push(starts.get(id));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  latencies.sort((a, b) => a - b);
  let cross = null;
  if (dialect === "postgres") {
    const producerBus = makeBus();
    await producerBus.ready();
    const producer = createRunKernel({
      database,
      bus: producerBus,
      clock: systemClock,
      log,
      backpressure: { warnPending: Number.MAX_SAFE_INTEGER, dropPending: Number.MAX_SAFE_INTEGER },
      worker: { concurrency: 1, leaseMs: 3e4, pollIntervalMs: 1e3 }
    });
    cross = [];
    for (let i = 0; i < options.latencySamples; i++) {
      const result2 = await producer.runs.enqueue({
        tenantId: "default",
        kind: "noop",
        trigger: "api",
        input: { sentAt: now() }
      });
      if (result2.status === "dropped") throw new Error("dropped");
      const id = result2.run.id;
      while (!starts.has(id)) await new Promise((resolve) => setTimeout(resolve, 0));
      cross.push(starts.get(id));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    cross.sort((a, b) => a - b);
    await producerBus.close();
  }
  await kernel.stop(5e3);
  await bus.close();
  await database.close();
  if (dialect === "postgres") {
    const client = new pg3.Client({ connectionString: options.databaseUrl });
    await client.connect();
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
    await client.end();
  }
  fs2.rmSync(dir, { recursive: true, force: true });
  const name = dialect === "sqlite" ? `openOrchestrator SQLite (synchronous=${options.synchronous ?? "NORMAL"})` : "openOrchestrator PostgreSQL";
  return {
    name,
    mode: options.mode,
    jobs: options.jobs,
    enqueuePerSecond: Math.round(options.jobs / enqueueSeconds),
    seconds: Number(seconds.toFixed(3)),
    jobsPerSecond: Math.round(options.jobs / seconds),
    latencyP50Ms: Number(percentile(latencies, 50).toFixed(2)),
    latencyP99Ms: Number(percentile(latencies, 99).toFixed(2)),
    crossProcessLatencyP50Ms: cross ? Number(percentile(cross, 50).toFixed(2)) : null,
    crossProcessLatencyP99Ms: cross ? Number(percentile(cross, 99).toFixed(2)) : null,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024)
  };
}
var result = await main();
process.stdout.write(`${JSON.stringify(result)}
`);
process.exit(0);
