import { InvalidOptionsError, type SourceTable, TablecacheError } from '@tablecache/core';
import { resolveWatchedTable } from '../watched-table.js';
import {
  type ChannelNames,
  channelNames,
  channelTables,
  FUNCTION_SCHEMA,
  type InstalledFunction,
  type Member,
  OPERATIONS,
  type OperationName,
  type Run,
  readFunction,
  readMembers,
} from './catalog.js';
import { notifyFunctionIsCurrent, reportedTable, type TriggerFault, triggerArguments, triggerFault } from './definitions.js';
import { installTriggers, type PartitionCoverage } from './install-triggers.js';
import { NOTIFY_TRIGGER_ARGUMENTS } from './notify-function.js';
import {
  checkChannel,
  DEFAULT_CHANNEL,
  describeTableName,
  formatTable,
  type TableName,
  type TriggerTarget,
  withAccess,
} from './trigger-target.js';

export type TriggerProblemKind =
  /** The name resolves to nothing (misspelt, or not in the search path). */
  | 'no-such-table'
  /** A view, materialized view, foreign table, sequence…: tablecache's triggers go on tables. */
  | 'not-a-table'
  | 'no-primary-key'
  /** The table lacks some or all of the channel's triggers. */
  | 'missing-triggers'
  /** A partition (any level) lacks some or all of them: changes addressed to it reach no cache. */
  | 'uncovered-partition'
  /** Triggers whose key columns are no longer the table's primary key. */
  | 'key-mismatch'
  /** Triggers, or the channel's function, from another tablecache version. */
  | 'outdated'
  /** Triggers that report changes as changes to another table (a renamed table, or a partition watched apart from its root). */
  | 'other-table'
  /** Triggers that do not fire in ordinary sessions. */
  | 'disabled'
  /** No table has triggers for the channel (checked without tables). */
  | 'nothing-sends';

export interface TriggerProblem {
  readonly kind: TriggerProblemKind;
  /** One line that names the table (and partition) concerned and what is wrong. */
  readonly message: string;
}

export interface TableCheck {
  /** The name as given (a `{ schema, table }` given as `schema.table`). */
  readonly name: string;
  /** The table the name resolves to, as changes name it; undefined when there is none. */
  readonly table: SourceTable | undefined;
  readonly problems: readonly TriggerProblem[];
}

export interface TriggerCheck {
  readonly channel: string;
  /** One per table asked about; without tables, one per table the channel's triggers report. */
  readonly tables: readonly TableCheck[];
  /** Problems of the channel as a whole. */
  readonly problems: readonly TriggerProblem[];
  /** True when there is no problem at all. */
  readonly ok: boolean;
}

export interface CheckTriggersOptions {
  /** Tables whose changes must reach the channel; without it, whatever the channel's triggers cover. */
  readonly tables?: readonly TableName[];
  readonly channel?: string;
}

export interface RequireTriggersOptions extends CheckTriggersOptions {
  /** Install what is missing or outdated (see `installTriggers`) before failing. */
  readonly install?: boolean;
  /** When installing: see `InstallTriggersOptions.partitions`. */
  readonly partitions?: PartitionCoverage;
}

/** Changes to some tables would not reach the channel's listeners; the message lists each problem. */
export class MissingTriggersError extends TablecacheError {
  override name = 'MissingTriggersError';
  constructor(readonly check: TriggerCheck) {
    const problems = [...check.problems, ...check.tables.flatMap((table) => table.problems)];
    super(
      `changes may not reach channel '${check.channel}':\n${problems.map((problem) => `  - ${problem.message}`).join('\n')}\n` +
        'installTriggers (or tablecache install) puts missing triggers in place and repairs outdated ones',
    );
  }
}

/**
 * Checks that changes to `tables` reach `channel`: each name resolves to a table with a primary
 * key, and it and every partition of it (any level) have the channel's triggers, current, with
 * its primary key, reporting it, enabled. Without `tables`, checks every table the channel's
 * triggers report, and that there is at least one. Reads the catalog only.
 */
export async function checkTriggers(target: TriggerTarget, options: CheckTriggersOptions = {}): Promise<TriggerCheck> {
  const { tables } = options;
  if (tables !== undefined && !Array.isArray(tables)) throw new InvalidOptionsError('tables must be an array of table names');
  const channel = checkChannel(options.channel ?? DEFAULT_CHANNEL);
  return withAccess(target, (access) =>
    access.transaction(async (run) => {
      const names = await channelNames(run, channel);
      const notifyFunction = await readFunction(run, names.function);
      const problems: TriggerProblem[] = [];
      if (notifyFunction !== undefined && !notifyFunctionIsCurrent(notifyFunction)) {
        problems.push({
          kind: 'outdated',
          message: `the trigger function of channel '${channel}' (${FUNCTION_SCHEMA}.${names.function}) is from another tablecache version`,
        });
      }
      const checked = tables ?? (await channelTables(run, names, NOTIFY_TRIGGER_ARGUMENTS));
      if (tables === undefined && checked.length === 0) {
        problems.push({ kind: 'nothing-sends', message: `nothing sends on channel '${channel}': no table has its triggers` });
      }
      const results: TableCheck[] = [];
      for (const name of checked) results.push(await checkTable(run, name, names, notifyFunction));
      return { channel, tables: results, problems, ok: problems.length === 0 && results.every((table) => table.problems.length === 0) };
    }),
  );
}

/**
 * `checkTriggers`, for a feed to call before it reports being ready: resolves with each name's
 * table, or rejects with a `MissingTriggersError` listing every problem. With `install`, it first
 * installs on the tables that can have triggers (repairing outdated ones), then checks again.
 */
export function requireTriggers(target: TriggerTarget, options: RequireTriggersOptions = {}): Promise<ReadonlyMap<string, SourceTable>> {
  return withAccess(target, async (access) => {
    let check = await checkTriggers(access, options);
    const installable = check.tables.filter((table) => table.problems.every((problem) => REPAIRABLE.has(problem.kind)));
    if (!check.ok && options.install === true && installable.length > 0) {
      await installTriggers(access, {
        tables: installable.map((table) => table.table!),
        ...(options.channel === undefined ? {} : { channel: options.channel }),
        ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
      });
      check = await checkTriggers(access, options);
    }
    if (!check.ok) throw new MissingTriggersError(check);
    return new Map(check.tables.map((table) => [table.name, table.table!]));
  });
}

/** What installing again repairs (the rest needs the user: a name to correct, a primary key to add). */
const REPAIRABLE = new Set<TriggerProblemKind>([
  'missing-triggers',
  'uncovered-partition',
  'key-mismatch',
  'outdated',
  'other-table',
  'disabled',
]);

async function checkTable(
  run: Run,
  name: TableName,
  names: ChannelNames,
  notifyFunction: InstalledFunction | undefined,
): Promise<TableCheck> {
  const label = typeof name === 'string' ? name : formatTable(name);
  const described = describeTableName(name);
  const watched = await resolveWatchedTable(run, name);
  if ('problem' in watched) return { name: label, table: watched.source, problems: [watched.problem] };
  const { table } = watched;
  const expected = triggerArguments(names, table, table.primaryKey);
  const problems: TriggerProblem[] = [];
  for (const member of await readMembers(run, table, names)) {
    const subject = member.level === 0 ? `table ${described}` : `partition ${formatTable(member)} of ${described}`;
    const faults = new Map<TriggerFault, OperationName[]>();
    for (const operation of OPERATIONS) {
      const installed = member.triggers.find((trigger) => trigger.name === names.triggers[operation.op]);
      const fault = triggerFault(installed, operation, notifyFunction?.id, expected);
      if (fault !== undefined) faults.set(fault, [...(faults.get(fault) ?? []), operation.op]);
    }
    for (const [fault, operations] of faults) problems.push(describeFault(fault, operations, subject, member, names, expected));
  }
  return { name: label, table: { schema: table.schema, table: table.table }, problems };
}

function describeFault(
  fault: TriggerFault,
  operations: readonly OperationName[],
  subject: string,
  member: Member,
  names: ChannelNames,
  expected: readonly string[],
): TriggerProblem {
  const which =
    operations.length === OPERATIONS.length ? 'triggers' : `${operations.join(', ')} trigger${operations.length > 1 ? 's' : ''}`;
  const channel = `channel '${names.channel}'`;
  switch (fault) {
    case 'missing':
      return member.level === 0
        ? { kind: 'missing-triggers', message: `${subject} lacks the tablecache ${which} for ${channel}` }
        : {
            kind: 'uncovered-partition',
            message: `${subject} lacks the tablecache ${which} for ${channel}: changes written to it directly reach no cache`,
          };
    case 'outdated':
      return { kind: 'outdated', message: `${subject} has tablecache ${which} for ${channel} from another tablecache version` };
    case 'other-table': {
      const installed = member.triggers.find((trigger) => trigger.name === names.triggers[operations[0]!]);
      const reported = installed === undefined ? undefined : reportedTable(installed);
      return {
        kind: 'other-table',
        message: `${subject} has tablecache ${which} for ${channel} that report its changes as changes to ${reported === undefined ? 'another table' : formatTable(reported)}`,
      };
    }
    case 'key-mismatch': {
      const installed = member.triggers.find((trigger) => trigger.name === names.triggers[operations[0]!]);
      return {
        kind: 'key-mismatch',
        message: `${subject} has tablecache ${which} for ${channel} with key columns ${installed?.args[3]} (types ${installed?.args[4]}), but its primary key is now ${expected[3]} (types ${expected[4]})`,
      };
    }
    case 'disabled':
      return {
        kind: 'disabled',
        message: `${subject} has tablecache ${which} for ${channel} that do not fire (disabled, or enabled for replica sessions only)`,
      };
  }
}
