import type { SourceTable } from '@tablecache/core';
import {
  type ChannelNames,
  EVENT_FUNCTION,
  EVENT_TAGS,
  EVENT_TRIGGER,
  FUNCTION_SCHEMA,
  type InstalledFunction,
  type InstalledTrigger,
  type Operation,
  type PrimaryKey,
  type Run,
  sqlFormat,
} from './catalog.js';
import { KEY_TEXT_SETTINGS, NOTIFY_FUNCTION_BODY, NOTIFY_TRIGGER_ARGUMENTS } from './notify-function.js';
import { PARTITION_FUNCTION_BODY } from './partition-function.js';

/**
 * What tablecache puts in place, as SQL, and how what is in place differs from it. Installing and
 * verifying share these, so a trigger verification accepts is exactly one installing would leave.
 */

/** A SECURITY DEFINER function must not find functions or tables through the caller's search path. */
const EVENT_FUNCTION_SEARCH_PATH = ['pg_catalog', 'pg_temp'];

/** The arguments of the triggers that report changes to `table`, on it or on any of its partitions. */
export function triggerArguments(names: ChannelNames, table: SourceTable, primaryKey: PrimaryKey): readonly string[] {
  return [names.channel, table.schema, table.table, JSON.stringify(primaryKey.columns), JSON.stringify(primaryKey.types)];
}

/**
 * How an installed trigger differs from the one expected:
 * - 'missing': there is none;
 * - 'outdated': made by another tablecache version (other arguments, type or function);
 * - 'other-table': it reports changes as changes to another table than expected;
 * - 'key-mismatch': its key columns are not the table's primary key any more;
 * - 'disabled': it does not fire in ordinary sessions.
 * Undefined when it is as expected.
 */
export type TriggerFault = 'missing' | 'outdated' | 'other-table' | 'key-mismatch' | 'disabled';

export function triggerFault(
  installed: InstalledTrigger | undefined,
  operation: Operation,
  functionId: number | undefined,
  expected: readonly string[],
): TriggerFault | undefined {
  if (installed === undefined) return 'missing';
  const { args } = installed;
  if (
    installed.functionId !== functionId ||
    installed.type !== operation.type ||
    installed.oldTable !== operation.oldTable ||
    installed.newTable !== operation.newTable ||
    args.length !== NOTIFY_TRIGGER_ARGUMENTS ||
    args[0] !== expected[0]
  ) {
    return 'outdated';
  }
  if (args[1] !== expected[1] || args[2] !== expected[2]) return 'other-table';
  if (args[3] !== expected[3] || args[4] !== expected[4]) return 'key-mismatch';
  // 'O' fires in ordinary sessions, 'A' in every session; 'R' only under session_replication_role = replica.
  if (installed.enabled !== 'O' && installed.enabled !== 'A') return 'disabled';
  return undefined;
}

/** The table the arguments of a current-version trigger report changes for. */
export function reportedTable(trigger: InstalledTrigger): SourceTable | undefined {
  const [, schema, table] = trigger.args;
  return trigger.args.length === NOTIFY_TRIGGER_ARGUMENTS && schema !== undefined && table !== undefined ? { schema, table } : undefined;
}

export function sameTable(a: SourceTable | undefined, b: SourceTable): boolean {
  return a !== undefined && a.schema === b.schema && a.table === b.table;
}

export function notifyFunctionIsCurrent(installed: InstalledFunction | undefined): boolean {
  return installed !== undefined && installed.body === NOTIFY_FUNCTION_BODY && sameSettings(installed.config, KEY_TEXT_SETTINGS);
}

export function eventFunctionIsCurrent(installed: InstalledFunction | undefined): boolean {
  return (
    installed !== undefined &&
    installed.body === PARTITION_FUNCTION_BODY &&
    sameSettings(installed.config, [['search_path', EVENT_FUNCTION_SEARCH_PATH.join(', ')]])
  );
}

function sameSettings(config: readonly string[], settings: readonly (readonly [string, string])[]): boolean {
  const expected = settings.map(([name, value]) => `${name}=${value}`);
  return config.length === expected.length && expected.every((setting) => config.includes(setting));
}

export function createNotifyFunction(run: Run, names: ChannelNames): Promise<string> {
  return sqlFormat(
    run,
    `CREATE OR REPLACE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql${KEY_TEXT_SETTINGS.map(() => ' SET %I = %L').join('')} AS %L`,
    FUNCTION_SCHEMA,
    names.function,
    ...KEY_TEXT_SETTINGS.flat(),
    NOTIFY_FUNCTION_BODY,
  );
}

export function createTrigger(
  run: Run,
  names: ChannelNames,
  operation: Operation,
  on: SourceTable,
  args: readonly string[],
): Promise<string> {
  const referencing = [
    operation.oldTable === null ? null : 'OLD TABLE AS %I',
    operation.newTable === null ? null : 'NEW TABLE AS %I',
  ].filter((clause) => clause !== null);
  return sqlFormat(
    run,
    `CREATE TRIGGER %I AFTER ${operation.op.toUpperCase()} ON %I.%I${referencing.length > 0 ? ` REFERENCING ${referencing.join(' ')}` : ''} FOR EACH STATEMENT EXECUTE FUNCTION %I.%I(${args.map(() => '%L').join(', ')})`,
    names.triggers[operation.op],
    on.schema,
    on.table,
    ...[operation.oldTable, operation.newTable].filter((name) => name !== null),
    FUNCTION_SCHEMA,
    names.function,
    ...args,
  );
}

export function dropTrigger(run: Run, names: ChannelNames, operation: Operation, on: SourceTable): Promise<string> {
  return sqlFormat(run, 'DROP TRIGGER IF EXISTS %I ON %I.%I', names.triggers[operation.op], on.schema, on.table);
}

/** The event trigger, and its function, that cover partitions created or attached later. */
export async function createEventTrigger(run: Run): Promise<string[]> {
  return [
    await sqlFormat(
      run,
      `CREATE OR REPLACE FUNCTION %I.%I() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = ${EVENT_FUNCTION_SEARCH_PATH.map(() => '%I').join(', ')} AS %L`,
      FUNCTION_SCHEMA,
      EVENT_FUNCTION,
      ...EVENT_FUNCTION_SEARCH_PATH,
      PARTITION_FUNCTION_BODY,
    ),
    await sqlFormat(run, 'DROP EVENT TRIGGER IF EXISTS %I', EVENT_TRIGGER),
    await sqlFormat(
      run,
      `CREATE EVENT TRIGGER %I ON ddl_command_end WHEN TAG IN (${EVENT_TAGS.map(() => '%L').join(', ')}) EXECUTE FUNCTION %I.%I()`,
      EVENT_TRIGGER,
      ...EVENT_TAGS,
      FUNCTION_SCHEMA,
      EVENT_FUNCTION,
    ),
  ];
}

export async function dropEventTrigger(run: Run): Promise<string[]> {
  return [
    await sqlFormat(run, 'DROP EVENT TRIGGER IF EXISTS %I', EVENT_TRIGGER),
    await sqlFormat(run, 'DROP FUNCTION IF EXISTS %I.%I()', FUNCTION_SCHEMA, EVENT_FUNCTION),
  ];
}
