import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'
import { batchedBackfill, smallEnoughInline } from './backfill.postgres.ts'

// The full-text index keyed by workspace first (issue 11, decision 0012 "Workspaces"). Until now both
// engines kept one index for the installation and filtered the tenant afterwards: a search walked every
// other workspace's matching documents too, so a workspace with 50,000 runs of a word made another's
// search for it 20–40× slower, and the time told how often that word occurs elsewhere. Now a search
// reads only its own workspace's part of the index.
//
// SQLite: FTS5 walks documents by their integer key and seeks to a key range. The key becomes
//   doc_id = tag × 2^52 + creation ms × 1024 + sequence
// with a small per-workspace `tag` (0–2047) kept in run_search_tenants, so each workspace's documents
// are one contiguous key range and a search is limited to it (`rowid BETWEEN`). Creation ms × 1024
// stays below 2^52 until the year 2109. The 'default' workspace gets tag 0, so its doc ids (nearly
// always all of them) stay as they were; the others' documents are renumbered into their range.
// Past 2048 workspaces tags are shared (n mod 2048): those workspaces share a range, results stay
// exact (the tenant condition on runs), only their timing is coupled. The word being typed is
// expanded through an `instance` vocabulary (one seek per word) instead of the `row` one, which
// counted every workspace's documents of each word.
//
// PostgreSQL: every lexeme of a run's vector starts with a tag of its workspace (the first 8 hex
// digits of sha256(tenant_id)) and so does every lexeme of the query: the GIN index holds one entry
// per workspace and word, and a search (prefix queries included) reads only its own. The tenant
// condition stays as well (tags of two workspaces could collide). Positions are dropped: searches
// AND words (plainto_tsquery), they never ask for phrases. run_search gets an index on
// (tenant_id, run_id) for the walk newest first that serves words common in the workspace, and the
// probe that starts every search becomes a function that keeps the planner off sequential scans.

const tagSpan = '4503599627370496' // 2^52
const tagCount = 2048

export function runSearchByWorkspace(dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      if (dialect === 'sqlite') {
        await sql`CREATE TABLE run_search_tenants (tenant_id TEXT PRIMARY KEY, tag INTEGER NOT NULL)`.execute(
          db,
        )
        // 'default' first (tag 0: its doc ids do not change), then the others in creation order.
        await sql
          .raw(`INSERT INTO run_search_tenants (tenant_id, tag)
  SELECT tenant_id, (row_number() OVER (ORDER BY tenant_id <> 'default', created_at, tenant_id) - 1) % ${tagCount}
  FROM tenants`)
          .execute(db)
        // The word being typed is expanded through the `instance` vocabulary, one seek per word; the
        // `row` vocabulary counted the documents of every word it listed, in every workspace.
        await sql`DROP TABLE run_search_terms`.execute(db)
        await sql`CREATE VIRTUAL TABLE run_search_instances USING fts5vocab(run_search_fts, 'instance')`.execute(
          db,
        )
        for (const trigger of ['runs_search_insert', 'runs_search_update'])
          await sql.raw(`DROP TRIGGER ${trigger}`).execute(db)
        await sql
          .raw(`CREATE TRIGGER runs_search_insert AFTER INSERT ON runs WHEN new.output IS NOT NULL BEGIN
  ${sqliteInsertDoc('new', '1')}
  INSERT INTO run_search_fts (rowid, body)
    VALUES ((SELECT doc_id FROM run_search WHERE run_id = new.id), ${sqliteBody('new.output')});
END`)
          .execute(db)
        await sql
          .raw(`CREATE TRIGGER runs_search_update AFTER UPDATE OF output ON runs WHEN old.output IS NOT new.output BEGIN
  DELETE FROM run_search_fts WHERE rowid = (SELECT doc_id FROM run_search WHERE run_id = old.id);
  DELETE FROM run_search WHERE run_id = old.id;
  ${sqliteInsertDoc('new', 'new.output IS NOT NULL')}
  INSERT INTO run_search_fts (rowid, body)
    SELECT doc_id, ${sqliteBody('new.output')} FROM run_search WHERE run_id = new.id;
END`)
          .execute(db)
        // Documents of workspaces with a tag other than 0 move into their range: out of the index,
        // renumbered per tag as migration 0007 numbered them (a running maximum), back in.
        const moved = `SELECT r.id FROM runs r JOIN run_search_tenants t ON t.tenant_id = r.tenant_id WHERE t.tag > 0`
        await sql
          .raw(
            `DELETE FROM run_search_fts WHERE rowid IN (SELECT doc_id FROM run_search WHERE run_id IN (${moved}))`,
          )
          .execute(db)
        await sql.raw(`DELETE FROM run_search WHERE run_id IN (${moved})`).execute(db)
        await sql
          .raw(`INSERT INTO run_search (doc_id, run_id)
  SELECT tag * ${tagSpan} + rn + max(base - rn) OVER (PARTITION BY tag ORDER BY rn ROWS UNBOUNDED PRECEDING), id FROM (
    SELECT r.id, t.tag, r.created_at * 1024 AS base,
      row_number() OVER (PARTITION BY t.tag ORDER BY r.created_at, r.id) AS rn
    FROM runs r JOIN run_search_tenants t ON t.tenant_id = r.tenant_id
    WHERE r.output IS NOT NULL AND t.tag > 0)`)
          .execute(db)
        await sql
          .raw(`INSERT INTO run_search_fts (rowid, body)
  SELECT s.doc_id, ${sqliteBody('r.output')} FROM run_search s JOIN runs r ON r.id = s.run_id
  JOIN run_search_tenants t ON t.tenant_id = r.tenant_id WHERE t.tag > 0`)
          .execute(db)
        return
      }
      await sql`CREATE FUNCTION run_search_tag(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT left(encode(sha256(convert_to($1, 'UTF8')), 'hex'), 8) $$`.execute(db)
      // The lexemes of a vector with the tag in front (positions dropped: no phrase is ever searched).
      await sql`CREATE FUNCTION run_search_tagged(text, tsvector) RETURNS tsvector LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT array_to_tsvector(ARRAY(SELECT $1 || lexeme FROM unnest(tsvector_to_array($2)) AS lexeme)) $$`.execute(
        db,
      )
      await sql`CREATE OR REPLACE FUNCTION run_search_sync() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF NEW.output IS NULL THEN
    DELETE FROM run_search WHERE run_id = NEW.id;
  ELSE
    INSERT INTO run_search (run_id, tenant_id, vector)
      VALUES (NEW.id, NEW.tenant_id, run_search_tagged(run_search_tag(NEW.tenant_id), run_search_vector(NEW.output)))
      ON CONFLICT (run_id) DO UPDATE SET vector = excluded.vector;
  END IF;
  RETURN NULL;
END $$`.execute(db)
      // The stored vectors are tagged by the backfill below, after this commits, the index rebuilt
      // after them. DROP INDEX locks run_search: it waits for every writer that used the old
      // run_search_sync, and from this commit on every writer uses the new one.
      await sql`DROP INDEX run_search_vector_idx`.execute(db)
      // A word common in the workspace is searched by walking its runs newest first (run.store.ts).
      // Without run_search_tenant_idx (built by the backfill) the walk went through run_search's
      // primary key, every workspace's rows newest first: 50,000 newer runs of another workspace cost
      // 55 ms before the first match.
      const inline = await smallEnoughInline(db, 'run_search')
      if (inline) {
        // A new or small installation: the stored vectors tagged as they are, the indexes at once.
        await sql`UPDATE run_search SET vector = run_search_tagged(run_search_tag(tenant_id), vector)`.execute(
          db,
        )
        await sql`CREATE INDEX run_search_vector_idx ON run_search USING gin (vector)`.execute(db)
        await sql`CREATE INDEX run_search_tenant_idx ON run_search (tenant_id, run_id)`.execute(db)
      } else {
        await sql`CREATE TABLE migration_0015_backfill (after text NOT NULL)`.execute(db)
        await sql`INSERT INTO migration_0015_backfill (after) VALUES ('')`.execute(db)
      }
      // Up to `n` matching run ids of a workspace, the probe every search starts with (run.store.ts).
      // For a word common in the workspace the planner liked a sequential scan with LIMIT, which reads
      // run_search in physical order: 50,000 rows of another workspace before it cost 20 ms. Without
      // it, the planner takes the GIN index (rare words: the workspace's entries only) or the
      // workspace's rows through run_search_tenant_idx (common words: stops after n matches).
      // EXECUTE … USING plans with the actual values, as a query sent by the client is.
      await sql`CREATE FUNCTION run_search_matches(tenant text, query tsquery, n integer) RETURNS SETOF text
  LANGUAGE plpgsql STABLE SET enable_seqscan = off AS $$
BEGIN
  RETURN QUERY EXECUTE 'SELECT run_id FROM run_search WHERE tenant_id = $1 AND vector @@ $2 LIMIT $3'
    USING tenant, query, n;
END $$`.execute(db)
      if (inline) await sql`ANALYZE run_search`.execute(db)
    },
    // The vectors of run_search's rows in run id order, a batch a transaction, computed again from the
    // output: a vector the new trigger wrote in the meantime cannot be told from an old one by looking
    // at it, and recomputing gives both the same tagged vector (run_search_vector is immutable). The
    // batch's runs are locked FOR SHARE, so no trigger rewrites their vectors under the batch.
    backfill:
      dialect === 'postgres'
        ? batchedBackfill({
            cursorTable: 'migration_0015_backfill',
            async batch(trx, after, limit) {
              const { rows } = await sql<{ last: string | null }>`
                WITH batch AS MATERIALIZED (
                  SELECT run_id FROM run_search WHERE run_id > ${after} ORDER BY run_id LIMIT ${limit}
                ), locked AS MATERIALIZED (
                  SELECT id, output FROM runs WHERE id IN (SELECT run_id FROM batch) ORDER BY id FOR SHARE
                ), tagged AS (
                  UPDATE run_search s
                  SET vector = run_search_tagged(run_search_tag(s.tenant_id), run_search_vector(l.output))
                  FROM locked l WHERE s.run_id = l.id AND l.output IS NOT NULL
                )
                SELECT max(run_id) AS last FROM batch`.execute(trx)
              return rows[0]?.last ?? null
            },
            indexes: {
              run_search_vector_idx: 'run_search USING gin (vector)',
              run_search_tenant_idx: 'run_search (tenant_id, run_id)',
            },
            analyze: 'run_search',
          })
        : undefined,
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      if (dialect === 'sqlite') {
        // Back to one key space: every document renumbered as migration 0007 numbers them.
        for (const trigger of ['runs_search_insert', 'runs_search_update'])
          await sql.raw(`DROP TRIGGER ${trigger}`).execute(db)
        await sql.raw(`INSERT INTO run_search_fts (run_search_fts) VALUES ('delete-all')`).execute(db)
        await sql`DELETE FROM run_search`.execute(db)
        await sql`DROP TABLE run_search_tenants`.execute(db)
        await sql`DROP TABLE run_search_instances`.execute(db)
        await sql`CREATE VIRTUAL TABLE run_search_terms USING fts5vocab(run_search_fts, 'row')`.execute(db)
        await sql
          .raw(`CREATE TRIGGER runs_search_insert AFTER INSERT ON runs WHEN new.output IS NOT NULL BEGIN
  ${sqliteInsertDocUntagged('new', '1')}
  INSERT INTO run_search_fts (rowid, body)
    VALUES ((SELECT doc_id FROM run_search WHERE run_id = new.id), ${sqliteBody('new.output')});
END`)
          .execute(db)
        await sql
          .raw(`CREATE TRIGGER runs_search_update AFTER UPDATE OF output ON runs WHEN old.output IS NOT new.output BEGIN
  DELETE FROM run_search_fts WHERE rowid = (SELECT doc_id FROM run_search WHERE run_id = old.id);
  DELETE FROM run_search WHERE run_id = old.id;
  ${sqliteInsertDocUntagged('new', 'new.output IS NOT NULL')}
  INSERT INTO run_search_fts (rowid, body)
    SELECT doc_id, ${sqliteBody('new.output')} FROM run_search WHERE run_id = new.id;
END`)
          .execute(db)
        await sql`INSERT INTO run_search (doc_id, run_id)
  SELECT rn + max(base - rn) OVER (ORDER BY rn ROWS UNBOUNDED PRECEDING), id FROM (
    SELECT id, created_at * 1024 AS base, row_number() OVER (ORDER BY created_at, id) AS rn
    FROM runs WHERE output IS NOT NULL)`.execute(db)
        await sql
          .raw(`INSERT INTO run_search_fts (rowid, body)
  SELECT s.doc_id, ${sqliteBody('r.output')} FROM run_search s JOIN runs r ON r.id = s.run_id`)
          .execute(db)
        return
      }
      await sql`DROP TABLE IF EXISTS migration_0015_backfill`.execute(db)
      await sql`CREATE OR REPLACE FUNCTION run_search_sync() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF NEW.output IS NULL THEN
    DELETE FROM run_search WHERE run_id = NEW.id;
  ELSE
    INSERT INTO run_search (run_id, tenant_id, vector)
      VALUES (NEW.id, NEW.tenant_id, run_search_vector(NEW.output))
      ON CONFLICT (run_id) DO UPDATE SET vector = excluded.vector;
  END IF;
  RETURN NULL;
END $$`.execute(db)
      await sql`DROP INDEX IF EXISTS run_search_vector_idx`.execute(db)
      await sql`UPDATE run_search s SET vector = run_search_vector(r.output) FROM runs r WHERE r.id = s.run_id`.execute(
        db,
      )
      await sql`CREATE INDEX run_search_vector_idx ON run_search USING gin (vector)`.execute(db)
      await sql`DROP FUNCTION run_search_matches(text, tsquery, integer)`.execute(db)
      await sql`DROP INDEX IF EXISTS run_search_tenant_idx`.execute(db)
      await sql`DROP FUNCTION run_search_tagged(text, tsvector)`.execute(db)
      await sql`DROP FUNCTION run_search_tag(text)`.execute(db)
    },
  }
}

/** The text of a stored output (SQLite), as migration 0007 indexes it. */
const sqliteBody = (column: string) =>
  `CASE WHEN json_valid(${column}) THEN (SELECT group_concat(value, ' ') FROM json_tree(${column}) WHERE type = 'text') ELSE ${column} END`

/** The tag of the run's workspace (SQLite). */
const sqliteTag = (row: string) => `(SELECT tag FROM run_search_tenants WHERE tenant_id = ${row}.tenant_id)`

/**
 * Inserts the run_search row of `row` (SQLite), in its workspace's key range: the run's creation ms ×
 * 1024 past the range's start, or the next free id of that millisecond. A workspace seen for the
 * first time gets the next tag. If the doc id is taken (a millisecond that ran over met the next one's
 * runs), the run goes to the top of its workspace's range rather than failing the statement that
 * writes its output.
 */
const sqliteInsertDoc = (row: string, when: string) => {
  const start = `${sqliteTag(row)} * ${tagSpan}`
  const base = `(${start} + ${row}.created_at * 1024)`
  return `
  INSERT INTO run_search_tenants (tenant_id, tag)
    SELECT ${row}.tenant_id, (SELECT count(*) FROM run_search_tenants) % ${tagCount}
    WHERE ${when} AND NOT EXISTS (SELECT 1 FROM run_search_tenants WHERE tenant_id = ${row}.tenant_id);
  INSERT OR IGNORE INTO run_search (doc_id, run_id)
    SELECT coalesce((SELECT max(doc_id) + 1 FROM run_search WHERE doc_id >= ${base} AND doc_id < ${base} + 1024), ${base}), ${row}.id
    WHERE ${when};
  INSERT INTO run_search (doc_id, run_id)
    SELECT coalesce((SELECT max(doc_id) + 1 FROM run_search WHERE doc_id >= ${start} AND doc_id <= ${start} + (${tagSpan} - 1)), ${start}), ${row}.id
    WHERE ${when} AND NOT EXISTS (SELECT 1 FROM run_search WHERE run_id = ${row}.id);`
}

/** Migration 0007's doc ids (for down()). */
const sqliteInsertDocUntagged = (row: string, when: string) => `
  INSERT OR IGNORE INTO run_search (doc_id, run_id) SELECT coalesce((SELECT max(doc_id) + 1 FROM run_search WHERE doc_id >= ${row}.created_at * 1024 AND doc_id < (${row}.created_at + 1) * 1024), ${row}.created_at * 1024), ${row}.id WHERE ${when};
  INSERT INTO run_search (doc_id, run_id) SELECT (SELECT max(doc_id) + 1 FROM run_search), ${row}.id
    WHERE ${when} AND NOT EXISTS (SELECT 1 FROM run_search WHERE run_id = ${row}.id);`
