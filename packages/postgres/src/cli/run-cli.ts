import { parseArgs } from 'node:util';
import { describePlan } from '@tablecache/core';
import { explainInvalidation } from '../invalidation-plan/explain-invalidation.js';
import { PostgresAccess } from '../postgres-access.js';
import { checkTriggers, type TriggerCheck } from '../triggers/check-triggers.js';
import { installTriggers, type PartitionCoverage, triggerStatements, uninstallTriggers } from '../triggers/install-triggers.js';
import { DEFAULT_CHANNEL, formatTable, withAccess } from '../triggers/trigger-target.js';
import { describeStatus, readStatus } from './status.js';

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export const USAGE = `usage: tablecache <install|uninstall|verify> [options] [table ...]
       tablecache status [options]
       tablecache explain [options] SQL

  install TABLE...       install NOTIFY triggers on the tables and, for partitioned tables, on
                         every partition
  uninstall [TABLE...]   remove them from the tables; with no table, everything of the channel
  verify [TABLE...]      check that changes to the tables reach the channel (with no table: every
                         table the channel's triggers cover); exits 1 when any has a problem
  status                 for every channel (or --channel's): the tables with its triggers and
                         whether they are complete and current, the feeds listening on it (pid,
                         client, since when, state), a warning for a channel with triggers but no
                         listener or the reverse; then how full the notification queue is
  explain SQL            print how changes to each table the query reads map to its records
                         (row-precise through which output columns, or whole-table and why)

  A table is a plain name, taken exactly as written (users, sales.Orders, 'Mixed Case'), or
  SQL-quoted ('"Sales"."Order Items"'); without a schema it is found through the search path.

options:
  --url URL              the database (default: $DATABASE_URL)
  --channel NAME         the NOTIFY channel (default: ${DEFAULT_CHANNEL}; status: every channel)
  --partitions all|existing
                         install: cover partitions created or attached later too (all, the
                         default: needs a superuser once per database, for an event trigger), or
                         only the partitions there are now (existing)
  --dry-run              install, uninstall: print the SQL instead of running it
  --json                 status: print it as JSON
  -h, --help             show this help

exit codes: 0 done (verify: all is in place), 1 failed (verify: a problem; status: the database
            could not be read), 2 wrong usage
`;

const COMMANDS = ['install', 'uninstall', 'verify', 'status', 'explain'] as const;
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
  if (command === 'install' && tables.length === 0) return usageError(io, 'install needs at least one table');
  if (command === 'explain' && tables.length !== 1) return usageError(io, 'explain takes one SQL query (quote it as one argument)');
  if (command === 'status' && tables.length > 0) return usageError(io, 'status takes no table (it reports every table with triggers)');
  if (values.json && command !== 'status') return usageError(io, '--json applies to status only');
  if (command === 'explain' && (values['dry-run'] || values.channel !== undefined)) {
    return usageError(io, 'explain reads only; --dry-run and --channel do not apply');
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
