import type { SourceTable } from '@tablecache/core';
import { parseTableName, type TableName } from './trigger-target.js';

/** Runs one statement in the caller's transaction and returns its rows. */
export type Run = <R>(query: { sql: string; parameters?: readonly unknown[] }) => Promise<R[]>;

/** The schema that holds tablecache's functions. */
export const FUNCTION_SCHEMA = 'tablecache';
/** The event trigger that gives partitions created or attached later their parent's triggers (one per database). */
export const EVENT_TRIGGER = 'tablecache_partitions';
export const EVENT_FUNCTION = 'cover_partitions';
/** The commands the event trigger runs after: those that create or attach partitions. */
export const EVENT_TAGS = ['CREATE TABLE', 'ALTER TABLE'];
/** The trigger functions' names start with this (one function per channel). */
export const NOTIFY_FUNCTION_PREFIX = 'notify_';

/** The statement-level triggers each table gets, one per operation, with the pg_trigger.tgtype of each (AFTER, FOR EACH STATEMENT). */
export const OPERATIONS = [
  { op: 'insert', type: 4, oldTable: null, newTable: 'tablecache_new' },
  { op: 'update', type: 16, oldTable: 'tablecache_old', newTable: 'tablecache_new' },
  { op: 'delete', type: 8, oldTable: 'tablecache_old', newTable: null },
  { op: 'truncate', type: 32, oldTable: null, newTable: null },
] as const;

export type Operation = (typeof OPERATIONS)[number];
export type OperationName = Operation['op'];

/**
 * SQL for the arguments of a trigger as text[], from pg_trigger.tgargs (bytea: each argument
 * followed by a zero byte, in the database's encoding). Shared by the catalog reads here and the
 * event trigger function, which copies triggers with their arguments.
 */
export function triggerArgumentsSql(tgargs: string): string {
  return `ARRAY(SELECT convert_from(substring(${tgargs} FROM z.start + 1 FOR z.stop - z.start), getdatabaseencoding())
                  FROM (SELECT i AS stop, coalesce(lag(i) OVER (ORDER BY i) + 1, 0) AS start
                          FROM generate_series(0, length(${tgargs}) - 1) AS i
                         WHERE get_byte(${tgargs}, i) = 0) z
                 ORDER BY z.stop)`;
}

/** The names of a channel's function and triggers: a hash keeps them short, valid and distinct per channel. */
export interface ChannelNames {
  readonly channel: string;
  readonly function: string;
  /** The trigger of each operation, e.g. `tablecache_0123456789ab_insert`. */
  readonly triggers: Readonly<Record<OperationName, string>>;
}

/** SQL for the part of a channel's names that its hash gives, from the channel's name as text. */
const channelId = (channel: string) => `left(md5(${channel}), 12)`;

export async function channelNames(run: Run, channel: string): Promise<ChannelNames> {
  const [row] = await run<{ id: string }>({ sql: `SELECT ${channelId('$1::text')} AS id`, parameters: [channel] });
  const id = row!.id;
  const triggers = Object.fromEntries(OPERATIONS.map(({ op }) => [op, `tablecache_${id}_${op}`])) as Record<OperationName, string>;
  return { channel, function: `${NOTIFY_FUNCTION_PREFIX}${id}`, triggers };
}

export interface PrimaryKey {
  readonly columns: readonly string[];
  readonly types: readonly number[];
}

export interface ResolvedTable extends SourceTable {
  readonly id: number;
  /** pg_class.relkind: 'r' table, 'p' partitioned table, 'v' view, … */
  readonly kind: string;
  readonly isPartition: boolean;
  readonly primaryKey: PrimaryKey | null;
}

/** Finds a table by name (through the search path when it has no schema), as `to_regclass` does. */
export async function resolveTable(run: Run, name: TableName): Promise<ResolvedTable | undefined> {
  const { schema, table } = parseTableName(name);
  const [row] = await run<Omit<ResolvedTable, 'primaryKey'> & { columns: string[] | null; types: number[] | null }>({
    sql: `SELECT c.oid::int AS id, n.nspname AS schema, c.relname AS table, c.relkind::text AS kind, c.relispartition AS "isPartition",
                 (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum) AS columns,
                 (SELECT json_agg(a.atttypid::int ORDER BY k.ord) FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum) AS types
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
           WHERE c.oid = to_regclass(CASE WHEN $1::text IS NULL THEN format('%I', $2::text) ELSE format('%I.%I', $1::text, $2::text) END)`,
    parameters: [schema, table],
  });
  if (row === undefined) return undefined;
  const { columns, types, ...resolved } = row;
  return { ...resolved, primaryKey: columns === null || types === null ? null : { columns, types } };
}

/** A relation whose name differs from `name` only in case, to suggest for a misspelt name. */
export async function similarTable(run: Run, name: TableName): Promise<SourceTable | undefined> {
  const { schema, table } = parseTableName(name);
  const [row] = await run<SourceTable>({
    sql: `SELECT n.nspname AS schema, c.relname AS table
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE lower(c.relname) = lower($2::text) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
             AND CASE WHEN $1::text IS NULL THEN pg_table_is_visible(c.oid) ELSE lower(n.nspname) = lower($1::text) END
           ORDER BY n.nspname, c.relname LIMIT 1`,
    parameters: [schema, table],
  });
  return row;
}

/** A trigger as the catalog has it, with its arguments read. */
export interface InstalledTrigger {
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly functionId: number;
  /** pg_trigger.tgenabled: 'O' fires (origin and local sessions), 'A' always, 'R' in replica sessions only, 'D' disabled. */
  readonly enabled: string;
  readonly oldTable: string | null;
  readonly newTable: string | null;
  readonly args: readonly string[];
}

/** A table or one of its partitions (any level), with the channel's triggers on it. */
export interface Member extends SourceTable {
  readonly id: number;
  readonly kind: string;
  /** 0 for the table itself, 1 for its partitions, 2 for theirs, … */
  readonly level: number;
  readonly triggers: readonly InstalledTrigger[];
}

/** The table and all its partitions, each with the triggers named `names.triggers` on it. */
export async function readMembers(run: Run, table: ResolvedTable, names: ChannelNames): Promise<Member[]> {
  return run<Member>({
    sql: `SELECT c.oid::int AS id, n.nspname AS schema, c.relname AS table, c.relkind::text AS kind, m.level,
                 coalesce((SELECT json_agg(json_build_object(
                            'id', t.oid::int, 'name', t.tgname, 'type', t.tgtype, 'functionId', t.tgfoid::int, 'enabled', t.tgenabled::text,
                            'oldTable', t.tgoldtable, 'newTable', t.tgnewtable, 'args', ${triggerArgumentsSql('t.tgargs')})
                            ORDER BY t.tgname)
                             FROM pg_trigger t
                            WHERE t.tgrelid = c.oid AND t.tgname = ANY($2::text[]) AND NOT t.tgisinternal), '[]') AS triggers
            FROM (SELECT $1::oid AS relid, 0 AS level
                   UNION SELECT relid::oid, level FROM pg_partition_tree($1::oid::regclass)) m
            JOIN pg_class c ON c.oid = m.relid
            JOIN pg_namespace n ON n.oid = c.relnamespace
           ORDER BY m.level, n.nspname, c.relname`,
    parameters: [table.id, Object.values(names.triggers)],
  });
}

/** The partitioned tables above a partition that have the channel's triggers. */
export async function coveringAncestors(run: Run, table: ResolvedTable, names: ChannelNames): Promise<SourceTable[]> {
  if (!table.isPartition) return [];
  return run<SourceTable>({
    sql: `SELECT n.nspname AS schema, c.relname AS table
            FROM pg_partition_ancestors($1::oid::regclass) a
            JOIN pg_class c ON c.oid = a.relid
            JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE a.relid <> $1::oid
             AND EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = a.relid AND t.tgname = ANY($2::text[]) AND NOT t.tgisinternal)`,
    parameters: [table.id, Object.values(names.triggers)],
  });
}

/** A function of tablecache's schema. */
export interface InstalledFunction {
  readonly id: number;
  readonly body: string;
  /** Its SET clauses, as `name=value`. */
  readonly config: readonly string[];
  /** Whether the current role may replace it (owns it, or is a member of its owner). */
  readonly owned: boolean;
}

export async function readFunction(run: Run, name: string): Promise<InstalledFunction | undefined> {
  const [row] = await run<InstalledFunction>({
    sql: `SELECT p.oid::int AS id, p.prosrc AS body, coalesce(p.proconfig, '{}') AS config,
                 pg_has_role(p.proowner, 'MEMBER') AS owned
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = $1::text AND p.proname = $2::text`,
    parameters: [FUNCTION_SCHEMA, name],
  });
  return row;
}

/** What else is in place in the database: the schema, the event trigger, and who is asking. */
export interface DatabaseState {
  readonly schemaExists: boolean;
  /** The current role's rights on the schema (true when it does not exist: whoever creates it owns it). */
  readonly schemaUsage: boolean;
  readonly schemaCreate: boolean;
  readonly superuser: boolean;
  readonly role: string;
  /** The event trigger's function, when the event trigger is in place and enabled. */
  readonly eventTrigger: InstalledFunction | undefined;
}

export async function readDatabaseState(run: Run): Promise<DatabaseState> {
  const [row] = await run<Omit<DatabaseState, 'eventTrigger'>>({
    sql: `SELECT s.oid IS NOT NULL AS "schemaExists",
                 s.oid IS NULL OR has_schema_privilege(s.oid, 'USAGE') AS "schemaUsage",
                 s.oid IS NULL OR has_schema_privilege(s.oid, 'CREATE') AS "schemaCreate",
                 current_setting('is_superuser') = 'on' AS superuser, current_user AS role
            FROM (SELECT) AS one LEFT JOIN pg_namespace s ON s.nspname = $1::text`,
    parameters: [FUNCTION_SCHEMA],
  });
  const [event] = await run<InstalledFunction>({
    sql: `SELECT p.oid::int AS id, p.prosrc AS body, coalesce(p.proconfig, '{}') AS config,
                 pg_has_role(p.proowner, 'MEMBER') AS owned
            FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE e.evtname = $1::text AND e.evtenabled <> 'D' AND e.evtevent = 'ddl_command_end'
             AND e.evttags @> $4::text[] AND e.evttags <@ $4::text[]
             AND n.nspname = $2::text AND p.proname = $3::text AND p.prosecdef`,
    parameters: [EVENT_TRIGGER, FUNCTION_SCHEMA, EVENT_FUNCTION, EVENT_TAGS],
  });
  return { ...row!, eventTrigger: event };
}

/** The tables a channel's triggers report changes for (those named in their arguments). */
export async function channelTables(run: Run, names: ChannelNames, argumentCount: number): Promise<SourceTable[]> {
  return run<SourceTable>({
    sql: `SELECT DISTINCT CASE WHEN cardinality(a.args) = $3::int THEN a.args[2] ELSE n.nspname END AS schema,
                          CASE WHEN cardinality(a.args) = $3::int THEN a.args[3] ELSE c.relname END AS table
            FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
           CROSS JOIN LATERAL (SELECT ${triggerArgumentsSql('t.tgargs')} AS args) a
           WHERE t.tgname = ANY($1::text[]) AND NOT t.tgisinternal
             AND t.tgfoid = to_regproc(format('%I.%I', $2::text, $4::text))
           ORDER BY 1, 2`,
    parameters: [Object.values(names.triggers), FUNCTION_SCHEMA, argumentCount, names.function],
  });
}

/**
 * Every channel some table has triggers for: the channel a trigger passes its function (its first
 * argument), where that function is the channel's (`channelNames`), so another version's
 * arguments cannot name a channel that is not there.
 */
export async function installedChannels(run: Run): Promise<string[]> {
  const rows = await run<{ channel: string }>({
    sql: `SELECT DISTINCT a.args[1] AS channel
            FROM pg_trigger t
            JOIN pg_proc p ON p.oid = t.tgfoid
            JOIN pg_namespace n ON n.oid = p.pronamespace
           CROSS JOIN LATERAL (SELECT ${triggerArgumentsSql('t.tgargs')} AS args) a
           WHERE n.nspname = $1::text AND NOT t.tgisinternal AND p.proname = $2::text || ${channelId('a.args[1]')}
           ORDER BY 1`,
    parameters: [FUNCTION_SCHEMA, NOTIFY_FUNCTION_PREFIX],
  });
  return rows.map((row) => row.channel);
}

/** `format(template, ...args)` run by Postgres, so identifiers and literals are quoted by it. */
export async function sqlFormat(run: Run, template: string, ...args: unknown[]): Promise<string> {
  const placeholders = args.map((_, i) => `$${i + 2}::text`).join(', ');
  const [row] = await run<{ sql: string }>({
    sql: `SELECT format($1::text${placeholders ? `, ${placeholders}` : ''}) AS sql`,
    parameters: [template, ...args],
  });
  return row!.sql;
}

/** What would remain of tablecache's objects once the triggers `dropped` are gone, for uninstalling. */
export interface Usage {
  readonly schemaExists: boolean;
  readonly functionExists: boolean;
  /** Triggers left calling the channel's function. */
  readonly channelTriggers: number;
  /** Triggers calling other channels' functions. */
  readonly otherChannelTriggers: number;
  readonly eventTriggerExists: boolean;
  /** Functions and relations in the schema that are neither the channel's function nor the event trigger's. */
  readonly otherObjects: number;
}

export async function readUsage(run: Run, names: ChannelNames, dropped: readonly number[]): Promise<Usage> {
  const [row] = await run<Usage>({
    sql: `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1::text) AS "schemaExists",
                 to_regproc(format('%I.%I', $1::text, $2::text)) IS NOT NULL AS "functionExists",
                 (SELECT count(*)::int FROM pg_trigger t
                   WHERE t.tgfoid = to_regproc(format('%I.%I', $1::text, $2::text)) AND NOT (t.oid::int = ANY($3::int[]))) AS "channelTriggers",
                 (SELECT count(*)::int FROM pg_trigger t
                    JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = $1::text AND starts_with(p.proname, $4::text) AND p.proname <> $2::text
                     AND NOT t.tgisinternal) AS "otherChannelTriggers",
                 EXISTS (SELECT FROM pg_event_trigger WHERE evtname = $5::text)
                   OR to_regproc(format('%I.%I', $1::text, $6::text)) IS NOT NULL AS "eventTriggerExists",
                 (SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = $1::text AND p.proname NOT IN ($2::text, $6::text))
                   + (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = $1::text) AS "otherObjects"`,
    parameters: [FUNCTION_SCHEMA, names.function, dropped, NOTIFY_FUNCTION_PREFIX, EVENT_TRIGGER, EVENT_FUNCTION],
  });
  return row!;
}
