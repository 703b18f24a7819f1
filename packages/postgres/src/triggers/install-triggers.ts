import { InvalidOptionsError, TablecacheError } from '@tablecache/core';
import { NOTIFY_FUNCTION_BODY, NOTIFY_FUNCTION_SETTINGS } from './notify-function.js';
import { checkChannel, DEFAULT_CHANNEL, parseTableName, type TableName, type TriggerTarget, withAccess } from './trigger-target.js';

export interface InstallTriggersOptions {
  /** Tables to watch: plain names, optionally `schema.table`. Each needs a primary key. */
  readonly tables: readonly TableName[];
  /** The NOTIFY channel (default `tablecache`); one trigger function per channel. */
  readonly channel?: string;
}

export interface UninstallTriggersOptions {
  /** Tables to stop watching; without it, every table of the channel. */
  readonly tables?: readonly TableName[];
  readonly channel?: string;
}

/** A table cannot get triggers: it does not exist, is not a table, or has no primary key. */
export class TriggerInstallError extends TablecacheError {
  override name = 'TriggerInstallError';
}

/** The schema that holds the trigger functions. */
const FUNCTION_SCHEMA = 'tablecache';

const OPERATIONS = [
  { op: 'insert', referencing: 'REFERENCING NEW TABLE AS tablecache_new' },
  { op: 'update', referencing: 'REFERENCING OLD TABLE AS tablecache_old NEW TABLE AS tablecache_new' },
  { op: 'delete', referencing: 'REFERENCING OLD TABLE AS tablecache_old' },
  { op: 'truncate', referencing: '' },
] as const;

type Run = <R>(query: { sql: string; parameters?: readonly unknown[] }) => Promise<R[]>;

/**
 * Installs statement-level triggers that NOTIFY `channel` with the primary keys of the rows each
 * statement changes. Installing again is harmless (it replaces what is there). Every identifier in
 * the SQL is quoted by Postgres (`format('%I')`), never pasted.
 */
export async function installTriggers(target: TriggerTarget, options: InstallTriggersOptions): Promise<void> {
  await withAccess(target, (access) => access.transaction(async (run) => runAll(run, await installStatements(run, options))));
}

/** Removes what `installTriggers` created for these tables (or, without tables, for the channel). */
export async function uninstallTriggers(target: TriggerTarget, options: UninstallTriggersOptions = {}): Promise<void> {
  await withAccess(target, (access) => access.transaction(async (run) => runAll(run, await uninstallStatements(run, options))));
}

/** The SQL `installTriggers` or `uninstallTriggers` would run, for `--dry-run`. It reads the catalog. */
export function triggerStatements(
  target: TriggerTarget,
  action: 'install' | 'uninstall',
  options: InstallTriggersOptions | UninstallTriggersOptions,
): Promise<string[]> {
  return withAccess(target, (access) =>
    access.transaction((run) =>
      action === 'install' ? installStatements(run, options as InstallTriggersOptions) : uninstallStatements(run, options),
    ),
  );
}

async function installStatements(run: Run, options: InstallTriggersOptions): Promise<string[]> {
  if (typeof options !== 'object' || options === null || !Array.isArray(options.tables) || options.tables.length === 0) {
    throw new InvalidOptionsError('installTriggers needs { tables: [...] } with at least one table');
  }
  const names = await triggerNames(run, checkChannel(options.channel ?? DEFAULT_CHANNEL));
  const statements = [
    await format(run, 'CREATE SCHEMA IF NOT EXISTS %I', FUNCTION_SCHEMA),
    await format(
      run,
      `CREATE OR REPLACE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql${NOTIFY_FUNCTION_SETTINGS.map(() => ' SET %I = %L').join('')} AS %L`,
      FUNCTION_SCHEMA,
      names.function,
      ...NOTIFY_FUNCTION_SETTINGS.flat(),
      NOTIFY_FUNCTION_BODY,
    ),
  ];
  for (const name of options.tables) {
    const table = await resolveTable(run, name);
    if (table === undefined) throw new TriggerInstallError(`table ${describeTable(name)} does not exist`);
    if (table.kind !== 'r' && table.kind !== 'p') throw new TriggerInstallError(`${describeTable(name)} is not a table`);
    if (table.columns === null) {
      throw new TriggerInstallError(`table ${describeTable(name)} has no primary key; tablecache names changed rows by primary key`);
    }
    for (const { op, referencing } of OPERATIONS) {
      const trigger = `${names.trigger}_${op}`;
      statements.push(await format(run, 'DROP TRIGGER IF EXISTS %I ON %I.%I', trigger, table.schema, table.table));
      statements.push(
        await format(
          run,
          `CREATE TRIGGER %I AFTER ${op.toUpperCase()} ON %I.%I ${referencing} FOR EACH STATEMENT EXECUTE FUNCTION %I.%I(%L, %L, %L, %L, %L)`,
          trigger,
          table.schema,
          table.table,
          FUNCTION_SCHEMA,
          names.function,
          names.channel,
          table.schema,
          table.table,
          JSON.stringify(table.columns),
          JSON.stringify(table.types),
        ),
      );
    }
  }
  return statements;
}

async function uninstallStatements(run: Run, options: UninstallTriggersOptions): Promise<string[]> {
  const names = await triggerNames(run, checkChannel(options.channel ?? DEFAULT_CHANNEL));
  const statements: string[] = [];
  const tableIds: number[] = [];
  if (options.tables !== undefined) {
    for (const name of options.tables) {
      const table = await resolveTable(run, name);
      if (table === undefined) continue; // a dropped table took its triggers with it
      tableIds.push(table.id);
      for (const { op } of OPERATIONS) {
        statements.push(await format(run, 'DROP TRIGGER IF EXISTS %I ON %I.%I', `${names.trigger}_${op}`, table.schema, table.table));
      }
    }
  }
  // The function goes when no trigger of another table still calls it; the schema when empty.
  const [usage] = await run<{ function_exists: boolean; other_triggers: number; other_functions: number }>({
    sql: `SELECT to_regproc(format('%I.%I', $1::text, $2::text)) IS NOT NULL AS function_exists,
                 (SELECT count(*)::int FROM pg_trigger t
                   WHERE t.tgfoid = to_regproc(format('%I.%I', $1::text, $2::text))
                     AND NOT (t.tgrelid::int = ANY($3::int[]))) AS other_triggers,
                 (SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = $1::text AND p.proname <> $2::text) AS other_functions`,
    parameters: [FUNCTION_SCHEMA, names.function, tableIds],
  });
  if (usage?.function_exists && (options.tables === undefined || usage.other_triggers === 0)) {
    statements.push(await format(run, 'DROP FUNCTION IF EXISTS %I.%I() CASCADE', FUNCTION_SCHEMA, names.function));
    if (usage.other_functions === 0) statements.push(await format(run, 'DROP SCHEMA IF EXISTS %I', FUNCTION_SCHEMA));
  }
  return statements;
}

/** Names derived from the channel: a hash keeps them short, valid and distinct per channel. */
async function triggerNames(run: Run, channel: string): Promise<{ channel: string; function: string; trigger: string }> {
  const [row] = await run<{ id: string }>({ sql: 'SELECT left(md5($1::text), 12) AS id', parameters: [channel] });
  const id = row!.id;
  return { channel, function: `notify_${id}`, trigger: `tablecache_${id}` };
}

interface ResolvedTable {
  readonly id: number;
  readonly schema: string;
  readonly table: string;
  readonly kind: string;
  readonly columns: string[] | null;
  readonly types: number[] | null;
}

async function resolveTable(run: Run, name: TableName): Promise<ResolvedTable | undefined> {
  const { schema, table } = parseTableName(name);
  const [row] = await run<ResolvedTable>({
    sql: `SELECT c.oid::int AS id, n.nspname AS schema, c.relname AS table, c.relkind::text AS kind,
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
  return row;
}

/** `format(template, ...args)` run by Postgres, so identifiers and literals are quoted by it. */
async function format(run: Run, template: string, ...args: unknown[]): Promise<string> {
  const placeholders = args.map((_, i) => `$${i + 2}::text`).join(', ');
  const [row] = await run<{ sql: string }>({
    sql: `SELECT format($1::text${placeholders ? `, ${placeholders}` : ''}) AS sql`,
    parameters: [template, ...args],
  });
  return row!.sql;
}

async function runAll(run: Run, statements: readonly string[]): Promise<void> {
  for (const sql of statements) await run({ sql });
}

function describeTable(name: TableName): string {
  return typeof name === 'string' ? `'${name}'` : `'${name.schema}'.'${name.table}'`;
}
