import { FUNCTION_SCHEMA, NOTIFY_FUNCTION_PREFIX, OPERATIONS, triggerArgumentsSql } from './catalog.js';

/**
 * The body of the event trigger function (PL/pgSQL, run at `ddl_command_end` of CREATE TABLE and
 * ALTER TABLE) that gives a partition created or attached later the tablecache triggers of its
 * parent, of every channel, with the same arguments: they report the table the triggers were
 * installed on. Statement triggers on a partitioned table do not fire for statements addressed to
 * a partition, and Postgres does not clone them to new partitions as it clones row triggers.
 *
 * `CREATE TABLE … PARTITION OF` names the new partition; `ALTER TABLE … ATTACH PARTITION` names
 * the parent. Either way the tree below the named table is walked, parents before their
 * partitions, so a partitioned partition passes what it got on to its own partitions (a table
 * attached with partitions of its own). A partition's trigger that differs from its parent's (a
 * table attached with triggers of its own install) is replaced: its changes now belong to the
 * parent's table. A partition that cannot take the triggers (a foreign table) fails the DDL, since
 * changes written to it would reach no cache.
 *
 * It runs as its owner (SECURITY DEFINER, a superuser: only they can create event triggers), so
 * any role that may create or attach partitions gets them covered, with a fixed search_path.
 */
export const PARTITION_FUNCTION_BODY = `
DECLARE
  member record;
  parent_trigger record;
  partition_name text;
BEGIN
  FOR member IN
    SELECT DISTINCT tree.relid, tree.parentrelid, n.nspname, c.relname,
           (SELECT count(*) FROM pg_partition_ancestors(tree.relid)) AS depth
      FROM pg_event_trigger_ddl_commands() AS command
     CROSS JOIN LATERAL pg_partition_tree(command.objid) AS tree
      JOIN pg_class c ON c.oid = tree.relid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE command.classid = 'pg_class'::regclass AND command.object_type = 'table' AND tree.parentrelid IS NOT NULL
     ORDER BY depth
  LOOP
    partition_name := format('%I.%I', member.nspname, member.relname);
    FOR parent_trigger IN
      SELECT t.tgname, t.tgoldtable, t.tgnewtable, fn.nspname AS function_schema, p.proname AS function_name,
             CASE t.tgtype ${OPERATIONS.map(({ op, type }) => `WHEN ${type} THEN '${op.toUpperCase()}'`).join(' ')} END AS event,
             ${triggerArgumentsSql('t.tgargs')} AS args,
             EXISTS (SELECT FROM pg_trigger own WHERE own.tgrelid = member.relid AND own.tgname = t.tgname) AS replaced
        FROM pg_trigger t
        JOIN pg_proc p ON p.oid = t.tgfoid
        JOIN pg_namespace fn ON fn.oid = p.pronamespace
       WHERE t.tgrelid = member.parentrelid AND NOT t.tgisinternal
         AND fn.nspname = '${FUNCTION_SCHEMA}' AND starts_with(p.proname, '${NOTIFY_FUNCTION_PREFIX}')
         AND t.tgtype IN (${OPERATIONS.map(({ type }) => type).join(', ')})
         AND NOT EXISTS (SELECT FROM pg_trigger own
                          WHERE own.tgrelid = member.relid AND own.tgname = t.tgname AND own.tgfoid = t.tgfoid
                            AND own.tgtype = t.tgtype AND own.tgargs = t.tgargs
                            AND own.tgoldtable IS NOT DISTINCT FROM t.tgoldtable
                            AND own.tgnewtable IS NOT DISTINCT FROM t.tgnewtable)
    LOOP
      IF parent_trigger.replaced THEN
        EXECUTE format('DROP TRIGGER %I ON %I.%I', parent_trigger.tgname, member.nspname, member.relname);
      END IF;
      EXECUTE format('CREATE TRIGGER %I AFTER %s ON %I.%I %s FOR EACH STATEMENT EXECUTE FUNCTION %I.%I(%s)',
        parent_trigger.tgname, parent_trigger.event, member.nspname, member.relname,
        concat_ws(' ',
          CASE WHEN parent_trigger.tgoldtable IS NOT NULL OR parent_trigger.tgnewtable IS NOT NULL THEN 'REFERENCING' END,
          CASE WHEN parent_trigger.tgoldtable IS NOT NULL THEN format('OLD TABLE AS %I', parent_trigger.tgoldtable) END,
          CASE WHEN parent_trigger.tgnewtable IS NOT NULL THEN format('NEW TABLE AS %I', parent_trigger.tgnewtable) END),
        parent_trigger.function_schema, parent_trigger.function_name,
        (SELECT string_agg(format('%L', arg), ', ' ORDER BY n) FROM unnest(parent_trigger.args) WITH ORDINALITY AS a(arg, n)));
    END LOOP;
  END LOOP;
EXCEPTION WHEN OTHERS THEN
  RAISE EXCEPTION 'tablecache: partition % cannot get the NOTIFY triggers of its parent: %', partition_name, SQLERRM
    USING HINT = 'Changes written to it would reach no cache. Remove tablecache''s triggers from the partitioned table (tablecache uninstall TABLE) first.';
END
`;
