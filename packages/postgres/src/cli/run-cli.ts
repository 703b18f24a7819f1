import { parseArgs } from 'node:util';
import { installTriggers, triggerStatements, uninstallTriggers } from '../triggers/install-triggers.js';
import { DEFAULT_CHANNEL } from '../triggers/trigger-target.js';

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export const USAGE = `usage: tablecache <install|uninstall> [options] [table ...]

  install TABLE...       install NOTIFY triggers on the tables (plain names, optionally schema.table)
  uninstall [TABLE...]   remove them from the tables; with no table, everything of the channel

options:
  --url URL          the database (default: $DATABASE_URL)
  --channel NAME     the NOTIFY channel (default: ${DEFAULT_CHANNEL})
  --dry-run          print the SQL instead of running it
  -h, --help         show this help
`;

function parseOptions(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      channel: { type: 'string', default: DEFAULT_CHANNEL },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

/** The `tablecache` command. Returns the exit code: 0 done, 1 failed, 2 wrong usage. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (error) {
    io.stderr(`tablecache: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const [command, ...tables] = positionals;
  if (command !== 'install' && command !== 'uninstall') {
    io.stderr(`tablecache: ${command === undefined ? 'no command' : `unknown command '${command}'`}\n\n${USAGE}`);
    return 2;
  }
  if (command === 'install' && tables.length === 0) {
    io.stderr(`tablecache: install needs at least one table\n\n${USAGE}`);
    return 2;
  }
  const url = values.url ?? io.env.DATABASE_URL;
  if (!url) {
    io.stderr('tablecache: no database: pass --url or set DATABASE_URL\n');
    return 2;
  }
  const target = { connectionString: url };
  const options = { channel: values.channel, ...(command === 'install' || tables.length > 0 ? { tables } : {}) };
  try {
    if (values['dry-run']) {
      const statements = await triggerStatements(target, command, options);
      io.stdout(statements.map((statement) => `${statement};\n`).join(''));
      return 0;
    }
    if (command === 'install') {
      await installTriggers(target, { ...options, tables });
      io.stdout(`installed triggers for channel '${values.channel}' on ${tables.join(', ')}\n`);
    } else {
      await uninstallTriggers(target, options);
      io.stdout(`removed triggers for channel '${values.channel}'${tables.length > 0 ? ` from ${tables.join(', ')}` : ''}\n`);
    }
    return 0;
  } catch (error) {
    io.stderr(`tablecache: ${(error as Error).message}\n`);
    return 1;
  }
}
