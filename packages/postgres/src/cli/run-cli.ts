import { parseArgs } from 'node:util';
import { describePlan } from '@tablecache/core';
import { explainInvalidation } from '../invalidation-plan/explain-invalidation.js';
import { loadProgressBar } from '../load-progress-bar.js';
import { DEFAULT_PUBLICATION, installPublication, publicationStatements, uninstallPublication } from '../logical/publication.js';
import { dropReplicationSlot, readSlotLag } from '../logical/slots.js';
import { PostgresAccess } from '../postgres-access.js';
import { checkTriggers, type TriggerCheck } from '../triggers/check-triggers.js';
import { installTriggers, type PartitionCoverage, triggerStatements, uninstallTriggers } from '../triggers/install-triggers.js';
import { DEFAULT_CHANNEL, formatTable, withAccess } from '../triggers/trigger-target.js';
import { describeMeasurement, measureLoad } from './measure.js';
import { describeStatus, readStatus } from './status.js';

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where `measure` draws its progress bar (a terminal: the process's stderr); none without it. */
  readonly progress?: NodeJS.WriteStream;
}

export const USAGE = `usage: tablecache <install|uninstall|verify> [options] [table ...]
       tablecache status [options]
       tablecache <publish|unpublish> [options] [table ...]
       tablecache drop-slot [options] SLOT
       tablecache explain [options] SQL
       tablecache measure --key COLUMN[,COLUMN...] [options] SQL

  install TABLE...       install NOTIFY triggers on the tables and, for partitioned tables, on
                         every partition
  uninstall [TABLE...]   remove them from the tables; with no table, everything of the channel
  verify [TABLE...]      check that changes to the tables reach the channel (with no table: every
                         table the channel's triggers cover); exits 1 when any has a problem
  publish TABLE...       for the logical feed: create the publication with the tables (or add
                         those it lacks), publishing every change, partitions through their root
  unpublish [TABLE...]   take the tables out of the publication; with no table, drop it
  drop-slot SLOT         drop a logical feed's durable replication slot (it keeps WAL on the
                         server while no feed reads it); harmless when it does not exist
  status                 for every channel (or --channel's): the tables with its triggers and
                         whether they are complete and current, the feeds listening on it (pid,
                         client, since when, state), a warning for a channel with triggers but no
                         listener or the reverse; then how full the notification queue is
  explain SQL            print how changes to each table the query reads map to its records
                         (row-precise through which output columns, or whole-table and why)
  measure SQL            load the query's rows into memory as a cached table would (keyed by
                         --key), with a progress bar on a terminal, and print the rows, the time
                         and the memory they take: for sizing a cache

  A table is a plain name, taken exactly as written (users, sales.Orders, 'Mixed Case'), or
  SQL-quoted ('"Sales"."Order Items"'); without a schema it is found through the search path.

options:
  --url URL              the database (default: $DATABASE_URL)
  --channel NAME         the NOTIFY channel (default: ${DEFAULT_CHANNEL}; status: every channel)
  --partitions all|existing
                         install: cover partitions created or attached later too (all, the
                         default: needs a superuser once per database, for an event trigger), or
                         only the partitions there are now (existing)
  --publication NAME     publish, unpublish: the publication (default: ${DEFAULT_PUBLICATION})
  --dry-run              install, uninstall, publish, unpublish: print the SQL instead of running it
  --json                 status: print it as JSON
  --key COLUMNS          measure: the primary-key column(s) of the query's rows
  -h, --help             show this help

exit codes: 0 done (verify: all is in place), 1 failed (verify: a problem; status: the database
            could not be read), 2 wrong usage
`;

const COMMANDS = ['install', 'uninstall', 'verify', 'status', 'explain', 'measure', 'publish', 'unpublish', 'drop-slot'] as const;
const isCommand = (word: string | undefined): word is (typeof COMMANDS)[number] => COMMANDS.some((command) => command === word);
const isCoverage = (word: string): word is PartitionCoverage => word === 'all' || word === 'existing';

function parseOptions(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      // No default here: without it, status reports every channel.
      channel: { type: 'string' },
      partitions: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      key: { type: 'string' },
      publication: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

/** The `tablecache` command. Returns the exit code: 0 done, 1 failed (or, for verify, a problem found), 2 wrong usage. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (error) {
    return usageError(io, (error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const [command, ...tables] = positionals;
  if (!isCommand(command)) {
    return usageError(io, command === undefined ? 'no command' : `unknown command '${command}'`);
  }
  if ((command === 'install' || command === 'publish') && tables.length === 0) return usageError(io, `${command} needs at least one table`);
  const publishing = command === 'publish' || command === 'unpublish';
  if (values.publication !== undefined && !publishing) return usageError(io, '--publication applies to publish and unpublish only');
  if (publishing && values.channel !== undefined) return usageError(io, `${command} is for the logical feed; --channel does not apply`);
  if ((command === 'explain' || command === 'measure') && tables.length !== 1)
    return usageError(io, `${command} takes one SQL query (quote it as one argument)`);
  if (command === 'drop-slot' && (tables.length !== 1 || values.channel !== undefined || values['dry-run']))
    return usageError(io, 'drop-slot takes one slot name, and no --channel or --dry-run');
  if (command === 'measure' && values.key === undefined) return usageError(io, 'measure needs --key, the primary-key column(s)');
  if (values.key !== undefined && command !== 'measure') return usageError(io, '--key applies to measure only');
  if (command === 'status' && tables.length > 0) return usageError(io, 'status takes no table (it reports every table with triggers)');
  if (values.json && command !== 'status') return usageError(io, '--json applies to status only');
  if ((command === 'explain' || command === 'measure') && (values['dry-run'] || values.channel !== undefined)) {
    return usageError(io, `${command} reads only; --dry-run and --channel do not apply`);
  }
  const { partitions } = values;
  if (partitions !== undefined && command !== 'install') return usageError(io, '--partitions applies to install only');
  if (partitions !== undefined && !isCoverage(partitions)) {
    return usageError(io, `--partitions takes all or existing, not '${partitions}'`);
  }
  if (values['dry-run'] && (command === 'verify' || command === 'status'))
    return usageError(io, `${command} changes nothing; --dry-run applies to install and uninstall`);
  const url = values.url ?? io.env.DATABASE_URL;
  if (!url) {
    io.stderr('tablecache: no database: pass --url or set DATABASE_URL\n');
    return 2;
  }
  const target = { connectionString: url };
  const channel = values.channel ?? DEFAULT_CHANNEL;
  try {
    if (command === 'explain') {
      const access = new PostgresAccess(target);
      try {
        io.stdout(`${describePlan(await explainInvalidation(access, { sql: tables[0] as string }))}\n`);
      } finally {
        await access.close();
      }
      return 0;
    }
    if (command === 'drop-slot') {
      const slot = tables[0] as string;
      const existed = (await readSlotLag(url, slot)) !== undefined;
      await dropReplicationSlot(url, slot);
      io.stdout(existed ? `dropped replication slot '${slot}'\n` : `no replication slot '${slot}': nothing to do\n`);
      return 0;
    }
    if (publishing) {
      const options = {
        ...(values.publication !== undefined && { publication: values.publication }),
        ...(tables.length > 0 && { tables }),
      };
      const publication = values.publication ?? DEFAULT_PUBLICATION;
      if (values['dry-run']) {
        const statements = await publicationStatements(target, command === 'publish' ? 'install' : 'uninstall', options);
        io.stdout(statements.length === 0 ? '-- nothing to do\n' : statements.map((statement) => `${statement};\n`).join(''));
      } else if (command === 'publish') {
        await installPublication(target, { ...options, tables });
        io.stdout(`publication '${publication}' publishes ${tables.join(', ')}\n`);
      } else {
        await uninstallPublication(target, options);
        io.stdout(
          tables.length > 0 ? `took ${tables.join(', ')} out of publication '${publication}'\n` : `dropped publication '${publication}'\n`,
        );
      }
      return 0;
    }
    if (command === 'measure') {
      const key = (values.key as string).split(',').map((column) => column.trim());
      const bar = io.progress === undefined ? undefined : loadProgressBar({ stream: io.progress, label: 'measure' });
      const access = new PostgresAccess(target);
      try {
        io.stdout(describeMeasurement(await measureLoad(access, tables[0] as string, key, bar)));
      } finally {
        await access.close();
      }
      return 0;
    }
    if (command === 'status') {
      const status = await withAccess(target, (access) => readStatus(access, values.channel));
      io.stdout(values.json ? `${JSON.stringify(status, null, 2)}\n` : describeStatus(status));
      return 0;
    }
    if (command === 'verify') {
      const check = await checkTriggers(target, { channel, ...(tables.length > 0 ? { tables } : {}) });
      io.stdout(describeCheck(check));
      return check.ok ? 0 : 1;
    }
    const options = { channel, ...(partitions === undefined ? {} : { partitions }), ...(tables.length > 0 ? { tables } : {}) };
    if (values['dry-run']) {
      const statements = await triggerStatements(target, command, command === 'install' ? { ...options, tables } : options);
      io.stdout(statements.length === 0 ? '-- nothing to do\n' : statements.map((statement) => `${statement};\n`).join(''));
      return 0;
    }
    if (command === 'install') {
      await installTriggers(target, { ...options, tables });
      io.stdout(`installed triggers for channel '${channel}' on ${tables.join(', ')}\n`);
    } else {
      await uninstallTriggers(target, options);
      io.stdout(`removed triggers for channel '${channel}'${tables.length > 0 ? ` from ${tables.join(', ')}` : ''}\n`);
    }
    return 0;
  } catch (error) {
    io.stderr(`tablecache: ${(error as Error).message}\n`);
    return 1;
  }
}

function usageError(io: CliIo, message: string): number {
  io.stderr(`tablecache: ${message}\n\n${USAGE}`);
  return 2;
}

/** One line per table (ok, or its problems below it), channel-wide problems first. */
function describeCheck(check: TriggerCheck): string {
  const lines = check.problems.map((problem) => `problem  ${problem.message}`);
  for (const table of check.tables) {
    const resolved = table.table === undefined ? '' : ` (${formatTable(table.table)})`;
    lines.push(`${table.problems.length === 0 ? 'ok     ' : 'problem'}  ${table.name}${resolved}`);
    for (const problem of table.problems) lines.push(`           - ${problem.message}`);
  }
  const failing = check.tables.filter((table) => table.problems.length > 0).length;
  lines.push(
    check.ok
      ? `changes to ${check.tables.length === 1 ? 'this table' : `these ${check.tables.length} tables`} reach channel '${check.channel}'`
      : `changes may not reach channel '${check.channel}'${failing > 0 ? ` from ${failing} of ${check.tables.length} tables` : ''}; tablecache install repairs what can be repaired`,
  );
  return `${lines.join('\n')}\n`;
}
