import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'
import { batchedBackfill, smallEnoughInline } from './backfill.postgres.ts'

// Full-text search over run outputs (decision 0012). What is indexed is the text of the output: the
// string values of its JSON, not the keys, quotes or escapes (`\n` would otherwise glue two words into
// one). On both engines triggers keep the index in the statement that writes or deletes a run's output,
// so it cannot disagree with the runs after a crash, and retention's deletes remove the runs from it
// too. The migration indexes the runs already stored (the upgrade path).

// Letters with diacritics (Latin-1 and Latin Extended-A that decompose to one ASCII letter) and their
// base letter. PostgreSQL's `simple` configuration keeps accents; folding both the document and the
// query with this table makes "uber" find "Über", as SQLite's `remove_diacritics 2` does. translate()
// is immutable and built in: no extension (`unaccent`) is needed.
const withDiacritics =
  'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽž'
const withoutDiacritics =
  'AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiiiinooooouuuuyyAaAaAaCcCcCcCcDdEeEeEeEeEeGgGgGgGgHhIiIiIiIiIJjKkLlLlLlNnNnNnOoOoOoRrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZz'

/** The text of a stored output (SQLite): its JSON string values, or the raw text if it is not JSON. */
const sqliteBody = (column: string) =>
  `CASE WHEN json_valid(${column}) THEN (SELECT group_concat(value, ' ') FROM json_tree(${column}) WHERE type = 'text') ELSE ${column} END`

/**
 * The doc id of a run being indexed (SQLite): its creation time in ms × 1024, or the next free id of
 * that millisecond. A batch enqueue creates many runs in one millisecond; past 1024 they run on into
 * the next millisecond's ids while those are free.
 */
const sqliteDocId = (row: string) =>
  `coalesce((SELECT max(doc_id) + 1 FROM run_search WHERE doc_id >= ${row}.created_at * 1024 AND doc_id < (${row}.created_at + 1) * 1024), ${row}.created_at * 1024)`

/**
 * Inserts the run_search row of `row`. If its doc id is taken (a millisecond that ran over met the
 * next one's runs), the run goes to the top (the largest doc id + 1) rather than failing the statement
 * that writes its output; it is then listed a little early.
 */
const sqliteInsertDoc = (row: string, when: string) => `
  INSERT OR IGNORE INTO run_search (doc_id, run_id) SELECT ${sqliteDocId(row)}, ${row}.id WHERE ${when};
  INSERT INTO run_search (doc_id, run_id) SELECT (SELECT max(doc_id) + 1 FROM run_search), ${row}.id
    WHERE ${when} AND NOT EXISTS (SELECT 1 FROM run_search WHERE run_id = ${row}.id);`

export function runSearch(dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      if (dialect === 'sqlite') {
        // FTS5 keys its documents by an integer, and walks a word's documents in that order, newest
        // first if asked, stopping at the page's end. So the key is the run's creation time:
        // doc_id = created_at × 1024 + a sequence within the millisecond (in the order the outputs
        // were indexed; see sqliteDocId). A search reads the newest
        // matching documents first instead of collecting all of them to sort by run id (decision
        // 0012). run_search maps doc ids to runs. The runs' own rowid could not serve: VACUUM may
        // renumber the rows of a table without an INTEGER PRIMARY KEY.
        await sql`CREATE TABLE run_search (doc_id INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE)`.execute(
          db,
        )
        // unicode61 with remove_diacritics 2: case and accents folded (Über = uber), words split at
        // anything but letters and digits. Prefix indexes of 2 and 3 characters keep "su*" and "sum*"
        // (the word being typed) from merging a large part of the term list. Contentless: the text
        // lives once, in runs.output; contentless_delete removes a document by its doc id.
        await sql`CREATE VIRTUAL TABLE run_search_fts USING fts5(body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2', prefix='2 3')`.execute(
          db,
        )
        // The vocabulary, to expand the word being typed into the words it starts (run.store.ts).
        await sql`CREATE VIRTUAL TABLE run_search_terms USING fts5vocab(run_search_fts, 'row')`.execute(db)
        // Enqueues insert runs without output: the WHEN clause keeps the queue's hot path untouched.
        await sql
          .raw(`CREATE TRIGGER runs_search_insert AFTER INSERT ON runs WHEN new.output IS NOT NULL BEGIN
  ${sqliteInsertDoc('new', '1')}
  INSERT INTO run_search_fts (rowid, body)
    VALUES ((SELECT doc_id FROM run_search WHERE run_id = new.id), ${sqliteBody('new.output')});
END`)
          .execute(db)
        // Heartbeats and claims do not name `output`, so only settlements (and retries) fire this.
        await sql
          .raw(`CREATE TRIGGER runs_search_update AFTER UPDATE OF output ON runs WHEN old.output IS NOT new.output BEGIN
  DELETE FROM run_search_fts WHERE rowid = (SELECT doc_id FROM run_search WHERE run_id = old.id);
  DELETE FROM run_search WHERE run_id = old.id;
  ${sqliteInsertDoc('new', 'new.output IS NOT NULL')}
  INSERT INTO run_search_fts (rowid, body)
    SELECT doc_id, ${sqliteBody('new.output')} FROM run_search WHERE run_id = new.id;
END`)
          .execute(db)
        await sql
          .raw(`CREATE TRIGGER runs_search_delete AFTER DELETE ON runs WHEN old.output IS NOT NULL BEGIN
  DELETE FROM run_search_fts WHERE rowid = (SELECT doc_id FROM run_search WHERE run_id = old.id);
  DELETE FROM run_search WHERE run_id = old.id;
END`)
          .execute(db)
        // Existing runs, in (creation time, id) order: doc id i = max(created_at × 1024, doc id i-1 + 1),
        // written as rank + the running maximum of (created_at × 1024 − rank).
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
      // Folds the query's text as run_search_vector folds the document.
      await sql
        .raw(`CREATE FUNCTION run_search_fold(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT translate($1, '${withDiacritics}', '${withoutDiacritics}') $$`)
        .execute(db)
      // The string values of the output's JSON, folded, as words of the language-neutral `simple`
      // configuration (outputs are English, German or both: no stemming, no stop words). An output
      // that jsonb refuses (JSON.stringify writes \u0000, which jsonb cannot hold) is indexed as plain
      // text rather than failing the statement that completes the run. It calls nothing outside
      // pg_catalog, so it works under any search_path.
      await sql
        .raw(`CREATE FUNCTION run_search_vector(text) RETURNS tsvector LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE folded text := translate($1, '${withDiacritics}', '${withoutDiacritics}');
BEGIN
  RETURN jsonb_to_tsvector('simple'::regconfig, folded::jsonb, '["string"]');
EXCEPTION WHEN others THEN
  RETURN to_tsvector('simple'::regconfig, folded);
END $$`)
        .execute(db)
      // The vectors live in a table of their own, kept by triggers, not in an expression index on runs:
      // - PostgreSQL keeps statistics on a column, not on the expression of a partial index, so the
      //   planner knows "xylophone" is rare and "summary" common. With the default guess it walked the
      //   runs newest first, computing the vector of each: 25 s for a word found nowhere in 100,000 runs.
      // - A filter or a lossy bitmap's recheck reads a stored vector instead of parsing the JSON again.
      // - Not a (generated) column of runs: the enqueue inserts `SELECT *` of a runs record, and every
      //   claim and settlement returns the runs' rows; neither should carry or compute vectors.
      await sql`CREATE TABLE run_search (
  run_id text PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  tenant_id text NOT NULL,
  vector tsvector NOT NULL
)`.execute(db)
      // SET search_path FROM CURRENT: the trigger finds run_search in this schema whoever fires it.
      await sql`CREATE FUNCTION run_search_sync() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
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
      // Enqueues insert runs without output and heartbeats do not touch it: the WHEN clauses keep the
      // queue's hot path free of the trigger. Deletes (retention) cascade through the foreign key.
      await sql`CREATE TRIGGER runs_search_insert AFTER INSERT ON runs FOR EACH ROW WHEN (NEW.output IS NOT NULL)
  EXECUTE FUNCTION run_search_sync()`.execute(db)
      await sql`CREATE TRIGGER runs_search_update AFTER UPDATE OF output ON runs FOR EACH ROW
  WHEN (OLD.output IS DISTINCT FROM NEW.output) EXECUTE FUNCTION run_search_sync()`.execute(db)
      // Existing runs, then the index (faster than maintaining it row by row), then statistics, so
      // the first search after the upgrade is planned with them: the backfill below, after this
      // commits. In this transaction the trigger's lock on runs held back every write to runs for as
      // long as the vectors took (73 s per 100,000 runs, decision 0041).
      if (await smallEnoughInline(db, 'runs')) {
        // A new or small installation: all at once, the lock lasts a moment.
        await sql`INSERT INTO run_search (run_id, tenant_id, vector)
  SELECT id, tenant_id, run_search_vector(output) FROM runs WHERE output IS NOT NULL`.execute(db)
        await sql`CREATE INDEX run_search_vector_idx ON run_search USING gin (vector)`.execute(db)
        await sql`ANALYZE run_search`.execute(db)
        return
      }
      await sql`CREATE TABLE migration_0007_backfill (after text NOT NULL)`.execute(db)
      await sql`INSERT INTO migration_0007_backfill (after) VALUES ('')`.execute(db)
    },
    // Existing runs in id order, a batch a transaction. The batch's runs are locked FOR SHARE: a writer
    // that changes one of their outputs waits for the batch, then its trigger writes the new vector
    // (ON CONFLICT DO UPDATE); a vector the trigger wrote first is kept (DO NOTHING). Runs written
    // after the trigger existed are the trigger's. Only runs with an output are locked: the queue's
    // pending and running runs have none.
    backfill:
      dialect === 'postgres'
        ? batchedBackfill({
            cursorTable: 'migration_0007_backfill',
            async batch(trx, after, limit) {
              const { rows } = await sql<{ last: string | null }>`
                WITH batch AS MATERIALIZED (
                  SELECT id, tenant_id, output FROM runs WHERE id > ${after} AND output IS NOT NULL
                  ORDER BY id LIMIT ${limit} FOR SHARE
                ), indexed AS (
                  INSERT INTO run_search (run_id, tenant_id, vector)
                  SELECT id, tenant_id, run_search_vector(output) FROM batch
                  ON CONFLICT (run_id) DO NOTHING
                )
                SELECT max(id) AS last FROM batch`.execute(trx)
              return rows[0]?.last ?? null
            },
            indexes: { run_search_vector_idx: 'run_search USING gin (vector)' },
            analyze: 'run_search',
          })
        : undefined,
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      if (dialect === 'sqlite') {
        for (const trigger of ['runs_search_insert', 'runs_search_update', 'runs_search_delete'])
          await sql.raw(`DROP TRIGGER ${trigger}`).execute(db)
        await sql`DROP TABLE run_search_terms`.execute(db)
        await sql`DROP TABLE run_search_fts`.execute(db)
        await sql`DROP TABLE run_search`.execute(db)
        return
      }
      await sql`DROP TABLE IF EXISTS migration_0007_backfill`.execute(db)
      await sql`DROP TRIGGER runs_search_update ON runs`.execute(db)
      await sql`DROP TRIGGER runs_search_insert ON runs`.execute(db)
      await sql`DROP TABLE run_search`.execute(db)
      await sql`DROP FUNCTION run_search_sync()`.execute(db)
      await sql`DROP FUNCTION run_search_vector(text)`.execute(db)
      await sql`DROP FUNCTION run_search_fold(text)`.execute(db)
    },
  }
}
