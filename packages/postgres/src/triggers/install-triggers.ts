import { type InvalidationPlan, InvalidOptionsError, TablecacheError } from '@tablecache/core';
import {
  channelNames,
  coveringAncestors,
  FUNCTION_SCHEMA,
  OPERATIONS,
  type ResolvedTable,
  type Run,
  readDatabaseState,
  readFunction,
  readMembers,
  readUsage,
  resolveTable,
  sqlFormat,
} from './catalog.js';
import {
  createEventTrigger,
  createNotifyFunction,
  createTrigger,
  dropEventTrigger,
  dropTrigger,
  eventFunctionIsCurrent,
  notifyFunctionIsCurrent,
  reportedTable,
  sameTable,
  triggerArguments,
  triggerFault,
} from './definitions.js';
import {
  checkChannel,
  DEFAULT_CHANNEL,
  describeTableName,
  formatTable,
  type TableName,
  type TriggerTarget,
  withAccess,
} from './trigger-target.js';

/**
 * Which partitions of a partitioned table get triggers: 'all' (the default), those there are and
 * those created or attached later (through an event trigger, which only a superuser can create,
 * once per database); 'existing', only those there are now.
 */
export type PartitionCoverage = 'all' | 'existing';

export interface InstallTriggersOptions {
  /** Tables to watch: plain names (optionally `schema.table`) or SQL-quoted ones. Each needs a primary key. */
  readonly tables: readonly TableName[];
  /** The NOTIFY channel (default `tablecache`); one trigger function per channel. */
  readonly channel?: string;
  readonly partitions?: PartitionCoverage;
}

/** `installTriggers` for a cached table: the tables are those its query reads. */
export interface InstallTriggersForOptions extends Omit<InstallTriggersOptions, 'tables'> {
  /** A table (a `CachedTable`) whose invalidation plan names the source tables: exactly those get triggers. */
  readonly for: { describeInvalidation(): Promise<InvalidationPlan> };
}

export interface UninstallTriggersOptions {
  /** Tables to stop watching; without it, every table of the channel. */
  readonly tables?: readonly TableName[];
  readonly channel?: string;
}

/** Triggers cannot be put in place: a table does not exist, is not a table, has no primary key, or more rights are needed. */
export class TriggerInstallError extends TablecacheError {
  override name = 'TriggerInstallError';
}

/**
 * Puts in place the statement-level triggers that NOTIFY `channel` with the primary keys of the
 * rows each statement changes, on each table and every partition of it. It changes only what is
 * missing or differs (an older version, a primary key changed since, a disabled trigger), so
 * installing again is harmless, repairs, and takes no lock when all is in place. Every identifier
 * in the SQL is quoted by Postgres (`format('%I')`), never pasted. With `for: table`, the tables
 * are exactly those the table's query reads (`table.describeInvalidation()`).
 */
export async function installTriggers(target: TriggerTarget, options: InstallTriggersOptions | InstallTriggersForOptions): Promise<void> {
  let resolved: InstallTriggersOptions;
  if (typeof options === 'object' && options !== null && 'for' in options) {
    const { for: table, ...rest } = options;
    resolved = { ...rest, tables: (await table.describeInvalidation()).sources.map((source) => source.table) };
  } else resolved = options;
  await withAccess(target, (access) => access.transaction(async (run) => runAll(run, await installStatements(run, resolved))));
}

/**
 * Removes what `installTriggers` created for these tables (or, without tables, for the channel):
 * their triggers and their partitions', then the channel's function once no trigger calls it,
 * and the event trigger and the schema once no table of any channel has triggers.
 */
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
  const partitions = options.partitions ?? 'all';
  if (partitions !== 'all' && partitions !== 'existing') {
    throw new InvalidOptionsError(`partitions must be 'all' or 'existing'; got ${String(partitions)}`);
  }
  const names = await channelNames(run, checkChannel(options.channel ?? DEFAULT_CHANNEL));
  const database = await readDatabaseState(run);
  const notifyFunction = await readFunction(run, names.function);
  const statements: string[] = [];
  if (!database.schemaExists) statements.push(await sqlFormat(run, 'CREATE SCHEMA IF NOT EXISTS %I', FUNCTION_SCHEMA));
  if (!notifyFunctionIsCurrent(notifyFunction)) {
    if (!database.schemaCreate || (notifyFunction !== undefined && !notifyFunction.owned)) {
      throw new TriggerInstallError(
        `the trigger function of channel '${names.channel}' (${FUNCTION_SCHEMA}.${names.function}) must be ${notifyFunction === undefined ? 'created' : 'replaced'}, and role '${database.role}' may not: it needs CREATE on schema ${FUNCTION_SCHEMA}${notifyFunction === undefined ? '' : ' and to own the function'}. Install as the role that owns them (or a superuser), or grant those rights`,
      );
    }
    statements.push(await createNotifyFunction(run, names));
  }
  const partitioned: TableName[] = [];
  // The table each relation (a table or partition) gets triggers for, among the tables given:
  // the catalog is read before anything is installed, so overlaps within one call are caught here.
  const claims = new Map<number, { readonly table: number; readonly name: TableName }>();
  let createsTriggers = false;
  for (const name of options.tables) {
    const table = await installableTable(run, name);
    if (claims.get(table.id)?.table === table.id) continue; // the same table named twice
    const [ancestor] = await coveringAncestors(run, table, names);
    if (ancestor !== undefined) {
      throw new TriggerInstallError(
        `${describeTableName(name)} is a partition of ${formatTable(ancestor)}, whose triggers for channel '${names.channel}' report its changes as changes to ${formatTable(ancestor)}; watch ${formatTable(ancestor)}, or use another channel for this table`,
      );
    }
    const args = triggerArguments(names, table, table.primaryKey);
    for (const member of await readMembers(run, table, names)) {
      const claim = claims.get(member.id);
      if (claim !== undefined) {
        throw new TriggerInstallError(
          `${describeTableName(claim.name)} and ${describeTableName(name)} both cover ${formatTable(member)} (one is a partition of the other); install on one of them`,
        );
      }
      claims.set(member.id, { table: table.id, name });
      if (member.level > 0) {
        if (member.kind === 'f') {
          throw new TriggerInstallError(
            `partition ${formatTable(member)} of ${describeTableName(name)} is a foreign table, which cannot have the statement triggers with transition tables that tablecache needs; changes written to it would reach no cache`,
          );
        }
        if (member.triggers.some((trigger) => sameTable(reportedTable(trigger), member))) {
          throw new TriggerInstallError(
            `partition ${formatTable(member)} of ${describeTableName(name)} has triggers for channel '${names.channel}' of its own, which report its changes as changes to it; remove them (tablecache uninstall ${formatTable(member)}) or use another channel`,
          );
        }
      }
      for (const operation of OPERATIONS) {
        const installed = member.triggers.find((trigger) => trigger.name === names.triggers[operation.op]);
        if (triggerFault(installed, operation, notifyFunction?.id, args) === undefined) continue;
        if (installed !== undefined) statements.push(await dropTrigger(run, names, operation, member));
        statements.push(await createTrigger(run, names, operation, member, args));
        createsTriggers = true;
      }
    }
    if (table.kind === 'p') partitioned.push(name);
  }
  if (createsTriggers && !database.schemaUsage) {
    throw new TriggerInstallError(
      `role '${database.role}' needs USAGE on schema ${FUNCTION_SCHEMA} to create triggers that call its functions (GRANT USAGE ON SCHEMA ${FUNCTION_SCHEMA} TO ${database.role})`,
    );
  }
  if (partitioned.length > 0 && partitions === 'all' && !eventFunctionIsCurrent(database.eventTrigger)) {
    if (!database.superuser) {
      throw new TriggerInstallError(
        `${partitioned.map(describeTableName).join(', ')} ${partitioned.length === 1 ? 'is' : 'are'} partitioned. A statement addressed to a partition fires only that partition's triggers, so tablecache puts triggers on every partition, and an event trigger gives partitions created or attached later theirs; creating that event trigger needs a superuser, and role '${database.role}' is not one. Either install once as a superuser (the event trigger then serves every later install in this database), or pass { partitions: 'existing' } (tablecache install --partitions existing) to cover only the partitions there are now: checkTriggers and tablecache verify then name partitions added later that lack triggers`,
      );
    }
    statements.push(...(await createEventTrigger(run)));
  }
  return statements;
}

/** The table of `name`, refused with a TriggerInstallError unless it is a table with a primary key. */
async function installableTable(
  run: Run,
  name: TableName,
): Promise<ResolvedTable & { primaryKey: NonNullable<ResolvedTable['primaryKey']> }> {
  const table = await resolveTable(run, name);
  if (table === undefined) throw new TriggerInstallError(`table ${describeTableName(name)} does not exist`);
  if (table.kind !== 'r' && table.kind !== 'p') throw new TriggerInstallError(`${describeTableName(name)} is not a table`);
  const { primaryKey } = table;
  if (primaryKey === null) {
    throw new TriggerInstallError(`table ${describeTableName(name)} has no primary key; tablecache names changed rows by primary key`);
  }
  return { ...table, primaryKey };
}

async function uninstallStatements(run: Run, options: UninstallTriggersOptions): Promise<string[]> {
  const names = await channelNames(run, checkChannel(options.channel ?? DEFAULT_CHANNEL));
  const statements: string[] = [];
  const dropped: number[] = [];
  for (const name of options.tables ?? []) {
    const table = await resolveTable(run, name);
    // A dropped table took its triggers with it; a view never had any.
    if (table === undefined || (table.kind !== 'r' && table.kind !== 'p')) continue;
    for (const member of await readMembers(run, table, names)) {
      for (const operation of OPERATIONS) {
        const trigger = member.triggers.find((installed) => installed.name === names.triggers[operation.op]);
        // A partition's triggers of its own install report it, not this table: they stay.
        if (trigger === undefined || (member.level > 0 && sameTable(reportedTable(trigger), member))) continue;
        dropped.push(trigger.id);
        statements.push(await dropTrigger(run, names, operation, member));
      }
    }
  }
  const usage = await readUsage(run, names, dropped);
  const dropFunction = usage.functionExists && (options.tables === undefined || usage.channelTriggers === 0);
  if (dropFunction) statements.push(await sqlFormat(run, 'DROP FUNCTION IF EXISTS %I.%I() CASCADE', FUNCTION_SCHEMA, names.function));
  const triggersLeft = usage.otherChannelTriggers + (dropFunction ? 0 : usage.channelTriggers);
  // Only a superuser may drop the event trigger; left in place, it copies nothing, since no table has triggers.
  const dropEvent = usage.eventTriggerExists && triggersLeft === 0 && (await readDatabaseState(run)).superuser;
  if (dropEvent) statements.push(...(await dropEventTrigger(run)));
  if (usage.schemaExists && dropFunction && (!usage.eventTriggerExists || dropEvent) && usage.otherObjects === 0) {
    statements.push(await sqlFormat(run, 'DROP SCHEMA IF EXISTS %I', FUNCTION_SCHEMA));
  }
  return statements;
}

async function runAll(run: Run, statements: readonly string[]): Promise<void> {
  for (const sql of statements) await run({ sql });
}
