/** The wire format version the triggers write and `parsePayload` reads; any other is unreadable. */
export const PAYLOAD_VERSION = 2;

/**
 * The session settings keys are written as text under: the trigger function runs under them (`SET`
 * clauses on CREATE FUNCTION, which Postgres restores when the function returns), and so does the
 * logical feed's walsender (its connection's startup options). They fix the text that output
 * functions give for key values, so a key reads the same whatever the writing session, the
 * database or the role set: DateStyle and TimeZone (dates and times), IntervalStyle,
 * bytea_output, extra_float_digits (1: the shortest text that reads back to the same float).
 */
export const KEY_TEXT_SETTINGS: readonly (readonly [name: string, value: string])[] = [
  ['DateStyle', 'ISO, MDY'],
  ['IntervalStyle', 'postgres'],
  ['TimeZone', 'UTC'],
  ['bytea_output', 'hex'],
  ['extra_float_digits', '1'],
];

/**
 * The number of arguments the triggers pass: channel, the watched table's schema and name, its
 * primary-key columns and their type OIDs (both JSON arrays). Triggers with another number were
 * installed by another tablecache version.
 */
export const NOTIFY_TRIGGER_ARGUMENTS = 5;

/**
 * The body of the trigger function (PL/pgSQL) that turns a statement's changed rows into NOTIFY
 * payloads. One statement-level trigger per operation calls it, with the transition table of that
 * operation and the arguments above. The table it reports is the one named in its arguments, not
 * the one it fires on: the triggers on a partition report its partitioned root, the table the
 * user watches (a statement addressed to a partition fires only the partition's triggers).
 *
 * Wire format, version 2 (JSON, each payload under Postgres's 8000-byte limit):
 *   {"v":2,"op":"insert|update|delete|truncate","schema":"…","table":"…","at":<ms>,
 *    "columns":["…",…],"types":[<oid>,…],
 *    <one of> "keys":[["…",…],…]  rows whose primary key the statement kept (update)
 *             "old":[["…",…],…]   primary keys before (delete; update rows whose key changed)
 *             "new":[["…",…],…]   primary keys after (insert; update rows whose key changed)
 *             "overflow":true     keys too long for a payload: the whole table may have changed }
 * A truncate carries no key list; an overflow may lack `columns` and `types`. `at` is when the
 * statement's trigger ran (clock_timestamp(), shortly before commit), in whole milliseconds since
 * the Unix epoch on the database server's clock: arrival time minus `at` bounds the feed's lag
 * from above. Each key value is the text its type's output function gives under
 * KEY_TEXT_SETTINGS (`format('%s', col)`, not a cast to text: `bool::text` is 'true', the
 * output is 't'), so a reader decodes it as it decodes that column in rows.
 *
 * Keys are packed into payloads of at most about 2 × CHUNK_BYTES (a running sum of key lengths,
 * cut every CHUNK_BYTES; a cut lands at most one key late), so one UPDATE of 100,000 rows sends a
 * few hundred notifications, not 100,000. Identifiers go through format('%I'). Any error is
 * caught (a write must never fail because of this trigger) and sends an overflow payload
 * instead, so listeners still learn that the table changed.
 */
export const NOTIFY_FUNCTION_BODY = `
DECLARE
  channel constant text := TG_ARGV[0];
  chunk_bytes constant integer := 3400;
  -- Triggers of another version may pass other arguments: they report the table they fire on.
  current_version constant boolean := TG_NARGS = ${NOTIFY_TRIGGER_ARGUMENTS};
  base constant text := left(json_build_object(
    'v', ${PAYLOAD_VERSION}, 'op', lower(TG_OP),
    'schema', CASE WHEN current_version THEN TG_ARGV[1] ELSE TG_TABLE_SCHEMA END,
    'table', CASE WHEN current_version THEN TG_ARGV[2] ELSE TG_TABLE_NAME END,
    'at', (extract(epoch FROM clock_timestamp()) * 1000)::bigint)::text, -1);
  header text;
  key_expression text;
  longest integer;
  list_kind text;
  list_query text;
BEGIN
  IF NOT current_version THEN
    RAISE WARNING 'tablecache: the % trigger on %.% was installed by another tablecache version; install the triggers again', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME;
    PERFORM pg_notify(channel, base || ',"overflow":true}');
    RETURN NULL;
  END IF;
  header := base || ',"columns":' || TG_ARGV[3]::json::text || ',"types":' || TG_ARGV[4]::json::text;
  IF octet_length(header) > 1000 THEN
    -- Key column names this long leave no room for keys.
    PERFORM pg_notify(channel, base || ',"overflow":true}');
    RETURN NULL;
  END IF;
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify(channel, header || '}');
    RETURN NULL;
  END IF;

  SELECT 'json_build_array(' || string_agg(format('format(''%%s'', %I)', c), ', ') || ')::text'
    INTO key_expression FROM json_array_elements_text(TG_ARGV[3]::json) AS c;

  -- One query per kind of key list; each sends its keys in as many payloads as they need.
  FOR list_kind, list_query IN
    SELECT kind, query FROM (VALUES
      ('new', CASE WHEN TG_OP = 'INSERT' THEN format('SELECT %s AS k FROM tablecache_new', key_expression) END),
      ('old', CASE WHEN TG_OP = 'DELETE' THEN format('SELECT %s AS k FROM tablecache_old', key_expression) END),
      ('keys', CASE WHEN TG_OP = 'UPDATE' THEN format('SELECT %1$s AS k FROM tablecache_old INTERSECT SELECT %1$s FROM tablecache_new', key_expression) END),
      ('old', CASE WHEN TG_OP = 'UPDATE' THEN format('SELECT %1$s AS k FROM tablecache_old EXCEPT SELECT %1$s FROM tablecache_new', key_expression) END),
      ('new', CASE WHEN TG_OP = 'UPDATE' THEN format('SELECT %1$s AS k FROM tablecache_new EXCEPT SELECT %1$s FROM tablecache_old', key_expression) END)
    ) AS lists(kind, query)
    WHERE query IS NOT NULL
  LOOP
    EXECUTE format('SELECT max(octet_length(k)) FROM (%s) s', list_query) INTO longest;
    IF longest IS NULL THEN
      CONTINUE;
    ELSIF longest > chunk_bytes THEN
      PERFORM pg_notify(channel, header || ',"overflow":true}');
    ELSE
      EXECUTE format(
        'SELECT pg_notify($1, $2 || string_agg(k, '','') || '']}'')
           FROM (SELECT k, sum(octet_length(k) + 1) OVER (ORDER BY ord) / $3 AS chunk
                   FROM (SELECT row_number() OVER () AS ord, k FROM (%s) s) numbered) chunked
          GROUP BY chunk', list_query)
        USING channel, header || ',"' || list_kind || '":[', chunk_bytes;
    END IF;
  END LOOP;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  BEGIN
    PERFORM pg_notify(channel, base || ',"overflow":true}');
    RAISE WARNING 'tablecache: notifying % on %.% failed (%); sent an overflow notification instead', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, SQLERRM;
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'tablecache: notifying % on %.% failed: %', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, SQLERRM;
  END;
  RETURN NULL;
END
`;
