import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Full-text search over run outputs (decision 0012). What is indexed is the text of the output: the
// string values of its JSON, not the keys, quotes or escapes (`\n` would otherwise glue two words into
// one). Both indexes are maintained by the database in the statement that writes or deletes a run's
// output, so the index cannot disagree with the runs after a crash, and retention's deletes remove the
// runs from it too. Creating them indexes the runs already stored (the upgrade path).

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

export function runSearch(dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      if (dialect === 'sqlite') {
        // FTS5 keys its documents by an integer. The runs' own rowid is not stable (VACUUM may renumber
        // the rows of a table without an INTEGER PRIMARY KEY), so run_search gives each indexed run a
        // doc_id of its own. The index is contentless (the text lives once, in runs.output) with
        // contentless_delete, so a deleted or changed output is removed by rowid.
        await sql`CREATE TABLE run_search (doc_id INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE)`.execute(
          db,
        )
        // unicode61 with remove_diacritics 2: case and accents folded (Über = uber), words split at
        // anything but letters and digits. Prefix indexes of 2 and 3 characters keep "su*" and "sum*"
        // (the word being typed) from walking a large part of the term list.
        await sql`CREATE VIRTUAL TABLE run_search_fts USING fts5(body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2', prefix='2 3')`.execute(
          db,
        )
        // Enqueues insert runs without output: the WHEN clause keeps the queue's hot path untouched.
        await sql
          .raw(`CREATE TRIGGER runs_search_insert AFTER INSERT ON runs WHEN new.output IS NOT NULL BEGIN
  INSERT INTO run_search (run_id) VALUES (new.id);
  INSERT INTO run_search_fts (rowid, body)
    VALUES ((SELECT doc_id FROM run_search WHERE run_id = new.id), ${sqliteBody('new.output')});
END`)
          .execute(db)
        // Heartbeats and claims do not name `output`, so only settlements (and retries) fire this.
        await sql
          .raw(`CREATE TRIGGER runs_search_update AFTER UPDATE OF output ON runs WHEN old.output IS NOT new.output BEGIN
  DELETE FROM run_search_fts WHERE rowid = (SELECT doc_id FROM run_search WHERE run_id = old.id);
  DELETE FROM run_search WHERE run_id = old.id;
  INSERT INTO run_search (run_id) SELECT new.id WHERE new.output IS NOT NULL;
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
        // Existing runs, oldest first (doc ids then follow the runs' order).
        await sql`INSERT INTO run_search (run_id) SELECT id FROM runs WHERE output IS NOT NULL ORDER BY id`.execute(
          db,
        )
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
      // text rather than failing the statement that completes the run.
      // It calls nothing but pg_catalog: maintenance (ANALYZE, REINDEX; PostgreSQL 17 runs them with a
      // search_path of pg_catalog only) evaluates it outside the schema it lives in.
      await sql
        .raw(`CREATE FUNCTION run_search_vector(text) RETURNS tsvector LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE folded text := translate($1, '${withDiacritics}', '${withoutDiacritics}');
BEGIN
  RETURN jsonb_to_tsvector('simple'::regconfig, folded::jsonb, '["string"]');
EXCEPTION WHEN others THEN
  RETURN to_tsvector('simple'::regconfig, folded);
END $$`)
        .execute(db)
      // An expression index, not a stored column: the runs' rows (returned by every claim and
      // settlement, and inserted with `SELECT *` by the enqueue) stay as they are. Partial, so runs
      // without output (every pending and running run) cost the index nothing.
      await sql`CREATE INDEX runs_search_idx ON runs USING gin (run_search_vector(output)) WHERE output IS NOT NULL`.execute(
        db,
      )
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      if (dialect === 'sqlite') {
        for (const trigger of ['runs_search_insert', 'runs_search_update', 'runs_search_delete'])
          await sql.raw(`DROP TRIGGER ${trigger}`).execute(db)
        await sql`DROP TABLE run_search_fts`.execute(db)
        await sql`DROP TABLE run_search`.execute(db)
        return
      }
      await sql`DROP INDEX runs_search_idx`.execute(db)
      await sql`DROP FUNCTION run_search_vector(text)`.execute(db)
      await sql`DROP FUNCTION run_search_fold(text)`.execute(db)
    },
  }
}
