/**
 * The body of the trigger function (PL/pgSQL) that turns a statement's changed rows into NOTIFY
 * payloads. One statement-level trigger per operation calls it, with the transition table of
 * that operation, and with three arguments: the channel, the primary-key columns and their type
 * OIDs (both as JSON arrays).
 *
 * Wire format, version 1 (JSON, each payload under Postgres's 8000-byte limit):
 *   {"v":1,"op":"insert|update|delete|truncate","schema":"…","table":"…","columns":[…],"types":[…],
 *    <one of> "keys":[[…],…]     rows whose primary key the statement kept (update)
 *             "old":[[…],…]      primary keys before (delete; update rows whose key changed)
 *             "new":[[…],…]      primary keys after (insert; update rows whose key changed)
 *             "overflow":true    keys too long for a payload: the whole table may have changed }
 * A truncate carries none of these. Key values are in Postgres's text form, so a listener can
 * parse them with the same parsers its driver uses for rows.
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
  header text;
  key_expression text;
  longest integer;
  list_kind text;
  list_query text;
BEGIN
  header := left(json_build_object(
    'v', 1, 'op', lower(TG_OP), 'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME,
    'columns', TG_ARGV[1]::json, 'types', TG_ARGV[2]::json)::text, -1);
  IF octet_length(header) > 1000 THEN
    -- Key column names this long leave no room for keys.
    header := left(json_build_object('v', 1, 'op', lower(TG_OP), 'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME)::text, -1);
    PERFORM pg_notify(channel, header || ',"overflow":true}');
    RETURN NULL;
  END IF;
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify(channel, header || '}');
    RETURN NULL;
  END IF;

  SELECT 'json_build_array(' || string_agg(format('%I::text', c), ', ') || ')::text'
    INTO key_expression FROM json_array_elements_text(TG_ARGV[1]::json) AS c;

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
    PERFORM pg_notify(channel, left(json_build_object('v', 1, 'op', lower(TG_OP), 'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME)::text, -1) || ',"overflow":true}');
    RAISE WARNING 'tablecache: notifying % on %.% failed (%); sent an overflow notification instead', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, SQLERRM;
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'tablecache: notifying % on %.% failed: %', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, SQLERRM;
  END;
  RETURN NULL;
END
`;
