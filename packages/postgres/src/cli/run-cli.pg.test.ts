import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { closedPort, ListenerFaults } from '../notify/feed.fixture.js';
import { PgNotifyFeed } from '../notify/pg-notify-feed.js';
import { runCli } from './run-cli.js';

async function cli(argv: string[], env: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env });
  return { code, stdout, stderr };
}

describe('the tablecache command without a database', () => {
  test('--help prints the usage', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('usage: tablecache');
  });

  test('an unknown command is a usage error', async () => {
    const { code, stderr } = await cli(['instal', 'users'], { DATABASE_URL: 'postgres://x' });
    expect(code).toBe(2);
    expect(stderr).toContain("unknown command 'instal'");
  });

  test('install without tables is a usage error', async () => {
    expect((await cli(['install'], { DATABASE_URL: 'postgres://x' })).code).toBe(2);
  });

  test('without --url or DATABASE_URL it says what is missing', async () => {
    const { code, stderr } = await cli(['install', 'users']);
    expect(code).toBe(2);
    expect(stderr).toContain('pass --url or set DATABASE_URL');
  });

  test('an unknown option is a usage error', async () => {
    expect((await cli(['install', '--force', 'users'], { DATABASE_URL: 'postgres://x' })).code).toBe(2);
  });

  test.each([
    ['--partitions with a value other than all or existing', ['install', '--partitions', 'some', 'users']],
    ['--partitions with another command than install', ['verify', '--partitions', 'existing', 'users']],
    ['--dry-run with verify', ['verify', '--dry-run', 'users']],
    ['explain without a query', ['explain']],
    ['explain with the query in several arguments', ['explain', 'SELECT', '1']],
    ['explain with --dry-run', ['explain', '--dry-run', 'SELECT 1']],
    ['status with a table', ['status', 'users']],
    ['--json with another command than status', ['verify', '--json', 'users']],
  ])('%s is a usage error', async (_, argv) => {
    const { code, stderr } = await cli(argv, { DATABASE_URL: 'postgres://x' });
    expect(code).toBe(2);
    expect(stderr).toContain('usage: tablecache');
  });

  test('status on a database that cannot be reached exits 1 and says why', async () => {
    const { code, stdout, stderr } = await cli(['status', '--url', `postgres://postgres@127.0.0.1:${await closedPort()}/postgres`]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain('ECONNREFUSED');
  });

  test('the built command runs with node', async () => {
    const main = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [main, '--help']);
    expect(stdout).toContain('usage: tablecache');
  });
});

const [server] = testBackends();

describe.skipIf(!server?.available)('the tablecache command on postgres', () => {
  let database: OpenBackend;
  let url: string;

  beforeAll(async () => {
    database = await server!.open();
    url = (database.connection as { connectionString: string }).connectionString;
    await database.exec(`
      CREATE TABLE "Mixed Case" (id integer PRIMARY KEY);
      CREATE TABLE measurements (id integer, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
      CREATE TABLE measurements_eu PARTITION OF measurements FOR VALUES IN ('eu')`);
  });

  afterEach(async () => {
    await cli(['uninstall', '--url', url]);
    await database.exec('DROP TABLE IF EXISTS measurements_us');
  });

  afterAll(async () => {
    await database?.close();
  });

  const triggers = () => database.exec('SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname');

  test('publish --dry-run prints the SQL, publish creates the publication, unpublish drops it', async () => {
    const dry = await cli(['publish', '--dry-run', '--publication', 'cli_pub', '--url', url, 'Mixed Case']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('CREATE PUBLICATION cli_pub FOR TABLE public."Mixed Case"');
    const publications = () => database.exec("SELECT pubname FROM pg_publication WHERE pubname = 'cli_pub'");
    expect(await publications()).toEqual([]);
    expect((await cli(['publish', '--publication', 'cli_pub', '--url', url, 'Mixed Case'])).code).toBe(0);
    expect(await publications()).toHaveLength(1);
    const { code, stdout } = await cli(['unpublish', '--publication', 'cli_pub', '--url', url]);
    expect(code).toBe(0);
    expect(stdout).toBe("dropped publication 'cli_pub'\n");
    expect(await publications()).toEqual([]);
  });

  test('publish refuses a table without a primary key, exiting 1 and naming it', async () => {
    await database.exec('CREATE TABLE IF NOT EXISTS no_key (id integer)');
    const { code, stderr } = await cli(['publish', '--publication', 'cli_pub', '--url', url, 'no_key']);
    expect(code).toBe(1);
    expect(stderr).toContain("table 'no_key' has no primary key");
  });

  test('drop-slot drops a durable slot, and says so when there is none', async () => {
    await database.exec("SELECT pg_create_logical_replication_slot('cli_test_slot', 'pgoutput')");
    const first = await cli(['drop-slot', '--url', url, 'cli_test_slot']);
    expect(first).toMatchObject({ code: 0, stdout: "dropped replication slot 'cli_test_slot'\n" });
    const again = await cli(['drop-slot', '--url', url, 'cli_test_slot']);
    expect(again).toMatchObject({ code: 0, stdout: "no replication slot 'cli_test_slot': nothing to do\n" });
  });

  test('measure loads a query into memory and prints its rows, time and memory', async () => {
    const sql = "SELECT g AS id, 'label ' || g AS label FROM generate_series(1, 2000) g";
    const { code, stdout } = await cli(['measure', '--key', 'id', '--url', url, sql]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^rows: 2000 \(the planner expected \d+\)$/m);
    expect(stdout).toMatch(/^load: [\d.]+ s, \d+ rows\/s$/m);
    expect(stdout).toMatch(/^memory, estimated: [\d.]+ KiB \(\d+ B a row\)$/m);
  });

  test('measure takes a composite key', async () => {
    const sql = 'SELECT a, b FROM generate_series(1, 3) a, generate_series(1, 3) b';
    const { code, stdout } = await cli(['measure', '--key', 'a,b', '--url', url, sql]);
    expect(code).toBe(0);
    expect(stdout).toContain('rows: 9');
  });

  test('measure with a key column the query lacks exits 1 naming it', async () => {
    const { code, stderr } = await cli(['measure', '--key', 'nope', '--url', url, 'SELECT 1 AS id']);
    expect(code).toBe(1);
    expect(stderr).toContain("no column 'nope'");
  });

  test('measure without --key is a usage error', async () => {
    const { code, stderr } = await cli(['measure', '--url', url, 'SELECT 1 AS id']);
    expect(code).toBe(2);
    expect(stderr).toContain('measure needs --key');
  });

  test('--dry-run prints the SQL and changes nothing', async () => {
    const { code, stdout } = await cli(['install', '--dry-run', '--url', url, 'Mixed Case']);
    expect(code).toBe(0);
    expect(stdout).toContain('CREATE TRIGGER');
    expect(stdout).toContain('public."Mixed Case"');
    expect(await triggers()).toEqual([]);
  });

  test('install, then uninstall, leaves nothing behind', async () => {
    expect((await cli(['install', '--channel', 'my channel', 'Mixed Case'], { DATABASE_URL: url })).code).toBe(0);
    expect(await triggers()).toHaveLength(4);
    const { code, stdout } = await cli(['uninstall', '--channel', 'my channel'], { DATABASE_URL: url });
    expect(code).toBe(0);
    expect(stdout).toContain("removed triggers for channel 'my channel'");
    expect(await triggers()).toEqual([]);
    expect(await database.exec("SELECT 1 FROM pg_namespace WHERE nspname = 'tablecache'")).toEqual([]);
  });

  test('verify prints each table as ok and exits 0 when its triggers are in place', async () => {
    await cli(['install', '--url', url, 'Mixed Case', 'measurements']);
    const { code, stdout } = await cli(['verify', '--url', url, '"Mixed Case"', 'measurements']);
    expect(stdout).toBe(
      [
        'ok       "Mixed Case" (public."Mixed Case")',
        'ok       measurements (public.measurements)',
        "changes to these 2 tables reach channel 'tablecache'",
        '',
      ].join('\n'),
    );
    expect(code).toBe(0);
  });

  test('verify prints the problems and exits 1 when a table lacks triggers', async () => {
    await cli(['install', '--url', url, 'measurements']);
    const { code, stdout } = await cli(['verify', '--url', url, 'Mixed Case', 'measurements', 'nope']);
    expect(stdout).toBe(
      [
        'problem  Mixed Case (public."Mixed Case")',
        "           - table 'Mixed Case' lacks the tablecache triggers for channel 'tablecache'",
        'ok       measurements (public.measurements)',
        'problem  nope',
        "           - table 'nope' does not exist",
        "changes may not reach channel 'tablecache' from 2 of 3 tables; tablecache install repairs what can be repaired",
        '',
      ].join('\n'),
    );
    expect(code).toBe(1);
  });

  test('verify without tables exits 1 when nothing sends on the channel', async () => {
    const { code, stdout } = await cli(['verify', '--url', url, '--channel', 'quiet']);
    expect(stdout).toContain("problem  nothing sends on channel 'quiet'");
    expect(code).toBe(1);
  });

  test('install --partitions existing covers the partitions there are, and verify names one added later', async () => {
    expect((await cli(['install', '--partitions', 'existing', '--url', url, 'measurements'])).code).toBe(0);
    expect(await database.exec('SELECT evtname FROM pg_event_trigger')).toEqual([]);
    await database.exec("CREATE TABLE measurements_us PARTITION OF measurements FOR VALUES IN ('us')");
    const { code, stdout } = await cli(['verify', '--url', url, 'measurements']);
    expect(stdout).toContain("- partition public.measurements_us of 'measurements' lacks the tablecache triggers");
    expect(code).toBe(1);
  });

  test('--dry-run on what is in place prints that there is nothing to do', async () => {
    await cli(['install', '--url', url, 'Mixed Case']);
    const { code, stdout } = await cli(['install', '--dry-run', '--url', url, 'Mixed Case']);
    expect(stdout).toBe('-- nothing to do\n');
    expect(code).toBe(0);
  });

  test('a table that does not exist fails with its name', async () => {
    const { code, stderr } = await cli(['install', '--url', url, 'nope']);
    expect(code).toBe(1);
    expect(stderr).toContain("table 'nope' does not exist");
  });

  test('explain prints how changes to each table the query reads map to its records', async () => {
    await database.exec(`
      CREATE TABLE users (user_id integer PRIMARY KEY, name text);
      CREATE TABLE banned (user_id integer PRIMARY KEY, reason text)`);
    const query = 'SELECT u.user_id, u.name FROM users u WHERE NOT EXISTS (SELECT 1 FROM banned b WHERE b.user_id = u.user_id)';
    const { code, stdout } = await cli(['explain', '--url', url, query]);
    expect(stdout).toBe(
      [
        'public.banned: rows by key (user_id) through output (user_id), because b.user_id = u.user_id, output column user_id',
        'public.users: rows by key (user_id) through output (user_id), because u.user_id is output column user_id',
        '',
      ].join('\n'),
    );
    expect(code).toBe(0);
  });

  test('explain of a query that does not plan fails with the database error', async () => {
    const { code, stderr } = await cli(['explain', '--url', url, 'SELECT nope FROM nowhere']);
    expect(code).toBe(1);
    expect(stderr).toContain('nowhere');
  });
});

describe.skipIf(!server?.available)('tablecache status on postgres', () => {
  let database: OpenBackend;
  let url: string;
  let faults: ListenerFaults;
  const feeds: PgNotifyFeed[] = [];
  /** 47 bytes: the listener's application name (20 bytes of prefix, then the channel) is cut at 63. */
  const longChannel = `orders_${'x'.repeat(40)}`;

  beforeAll(async () => {
    database = await server!.open();
    url = (database.connection as { connectionString: string }).connectionString;
    faults = await ListenerFaults.open(url);
    await database.exec(`
      CREATE TABLE users (id integer PRIMARY KEY);
      CREATE TABLE orders (id integer PRIMARY KEY)`);
  });

  afterEach(async () => {
    for (const feed of feeds.splice(0)) await feed.close();
    for (const channel of ['tablecache', 'billing', longChannel]) await cli(['uninstall', '--url', url, '--channel', channel]);
    // A closed feed's backend leaves pg_stat_activity shortly after.
    await vi.waitFor(async () => expect(await faults.listenerPids()).toEqual([]));
  });

  afterAll(async () => {
    await faults?.close();
    await database?.close();
  });

  async function listen(channel: string): Promise<PgNotifyFeed> {
    const feed = new PgNotifyFeed({ connectionString: url }, { channel });
    feeds.push(feed);
    await feed.ready();
    return feed;
  }

  async function status(...argv: string[]) {
    const { code, stdout, stderr } = await cli(['status', '--url', url, ...argv]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    return stdout.split('\n');
  }

  test('status lists the tables with triggers, grouped by channel', async () => {
    await cli(['install', '--url', url, 'users']);
    await cli(['install', '--url', url, '--channel', 'billing', 'orders', 'users']);
    expect((await status()).slice(0, 5)).toEqual([
      "channel 'billing': 2 tables, 0 listeners",
      "table public.orders on channel 'billing': ok",
      "table public.users on channel 'billing': ok",
      "channel 'tablecache': 1 table, 0 listeners",
      "table public.users on channel 'tablecache': ok",
    ]);
  });

  test('status with --channel reports that channel only', async () => {
    await cli(['install', '--url', url, 'users']);
    await cli(['install', '--url', url, '--channel', 'billing', 'orders']);
    const lines = await status('--channel', 'billing');
    expect(lines.filter((line) => line.includes("'tablecache'"))).toEqual([]);
    expect(lines).toContain("table public.orders on channel 'billing': ok");
  });

  test('status reports the problems verify finds, such as a missing trigger', async () => {
    await cli(['install', '--url', url, 'users']);
    const [trigger] = await database.exec<{ name: string }>(
      "SELECT tgname AS name FROM pg_trigger WHERE tgname LIKE 'tablecache_%_delete'",
    );
    await database.exec(`DROP TRIGGER ${trigger!.name} ON users`);
    expect(await status()).toContain(
      "table public.users on channel 'tablecache': problem: table 'public.users' lacks the tablecache delete trigger for channel 'tablecache'",
    );
  });

  test('status shows a connected PgNotifyFeed with its pid, channel, client, since when and state', async () => {
    await cli(['install', '--url', url, '--channel', 'billing', 'orders']);
    await listen('billing');
    const [pid] = await faults.listenerPids();
    const lines = await status();
    expect(lines).toContain("channel 'billing': 1 table, 1 listener");
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^listener pid ${pid} on channel 'billing': client 127\\.0\\.0\\.1, since \\d{4}-\\d\\d-\\d\\dT[^ ]+, state (idle|active)$`,
        ),
      ),
    );
  });

  test('status matches a listener whose application name Postgres cut to its channel, and says so', async () => {
    await cli(['install', '--url', url, '--channel', longChannel, 'orders']);
    await listen(longChannel);
    expect(await status()).toContainEqual(
      expect.stringMatching(
        new RegExp(`^listener pid \\d+ on channel '${longChannel}' \\(channel name truncated, matched by its start\\): `),
      ),
    );
  });

  test('status warns about a channel with triggers but no listener', async () => {
    await cli(['install', '--url', url, 'users']);
    expect(await status()).toContain("warning: channel 'tablecache' has triggers but no listener: changes to its tables reach no cache");
  });

  test('status warns about a listener on a channel no table has triggers for', async () => {
    await listen('billing');
    const lines = await status();
    expect(lines).toContain("channel 'billing': 0 tables, 1 listener");
    expect(lines).toContain("warning: channel 'billing' has listeners but no table has triggers for it: no change reaches them");
  });

  test('status reports how much of the notification queue is in use', async () => {
    expect(await status()).toContainEqual(expect.stringMatching(/^notification queue: \d+\.\d% used$/));
  });

  test("status lists the logical feeds' publications and slots, with the WAL each slot keeps", async () => {
    // Two statements: a slot cannot be made in a transaction that wrote.
    await database.exec('CREATE PUBLICATION status_pub FOR TABLE orders');
    await database.exec("SELECT pg_create_logical_replication_slot('status_test_slot', 'pgoutput')");
    try {
      const lines = await status();
      expect(lines).toContain("publication 'status_pub': 1 table");
      expect(lines).toContainEqual(
        expect.stringMatching(/^slot 'status_test_slot' \(durable\): read by no feed, keeps [\d.]+ MiB of WAL$/),
      );
    } finally {
      await database.exec('DROP PUBLICATION status_pub');
      await database.exec("SELECT pg_drop_replication_slot('status_test_slot')");
    }
  });

  test('status --json prints the same report as JSON', async () => {
    await cli(['install', '--url', url, 'users']);
    const { code, stdout } = await cli(['status', '--json', '--url', url]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      channels: [{ channel: 'tablecache', tables: [{ table: { schema: 'public', table: 'users' }, problems: [] }], listeners: [] }],
      queueUsage: expect.any(Number),
      warnings: [expect.stringContaining("channel 'tablecache' has triggers but no listener")],
    });
  });
});
