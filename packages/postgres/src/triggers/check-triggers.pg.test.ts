import { InvalidOptionsError } from '@tablecache/core';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { PostgresAccess } from '../postgres-access.js';
import { checkTriggers, MissingTriggersError, requireTriggers, type TriggerCheck } from './check-triggers.js';
import { installTriggers, TriggerInstallError, uninstallTriggers } from './install-triggers.js';

/** Every problem of a check, as kind and message. */
const problemsOf = (check: TriggerCheck) => [...check.problems, ...check.tables.flatMap((table) => table.problems)];

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`checking triggers on ${backend.name}`, () => {
    let database: OpenBackend;
    let access: PostgresAccess;
    /** The name of the default channel's trigger for an operation. */
    let trigger: (op: string) => string;

    beforeAll(async () => {
      database = await backend.open();
      access = new PostgresAccess(database.connection);
      const [row] = await database.exec<{ id: string }>("SELECT left(md5('tablecache'), 12) AS id");
      trigger = (op) => `tablecache_${row!.id}_${op}`;
    });

    beforeEach(async () => {
      await database.exec('CREATE TABLE items (id integer PRIMARY KEY, label text)');
    });

    afterEach(async () => {
      await uninstallTriggers(access);
      await database.exec(
        'DROP TABLE IF EXISTS items, goods, keyless, measurements CASCADE; DROP VIEW IF EXISTS items_view; DROP SCHEMA IF EXISTS "Sales" CASCADE',
      );
    });

    afterAll(async () => {
      await access?.close();
      await database?.close();
    });

    async function expectOneProblem(tables: string[], kind: string, message: RegExp) {
      const check = await checkTriggers(access, { tables });
      expect(check.ok).toBe(false);
      expect(problemsOf(check)).toEqual([{ kind, message: expect.stringMatching(message) }]);
    }

    test('installed triggers check out, each name resolved to the table changes will name', async () => {
      await database.exec(
        'CREATE SCHEMA "Sales"; CREATE TABLE "Sales"."Order Items" (id integer PRIMARY KEY); CREATE TABLE "Sales"."a.b" (id integer PRIMARY KEY)',
      );
      const tables = ['items', 'public.items', '"Sales"."Order Items"', 'Sales.Order Items', '"Sales"."a.b"'];
      await installTriggers(access, { tables });
      expect(await checkTriggers(access, { tables })).toEqual({
        channel: 'tablecache',
        problems: [],
        ok: true,
        tables: [
          { name: 'items', table: { schema: 'public', table: 'items' }, problems: [] },
          { name: 'public.items', table: { schema: 'public', table: 'items' }, problems: [] },
          { name: '"Sales"."Order Items"', table: { schema: 'Sales', table: 'Order Items' }, problems: [] },
          { name: 'Sales.Order Items', table: { schema: 'Sales', table: 'Order Items' }, problems: [] },
          { name: '"Sales"."a.b"', table: { schema: 'Sales', table: 'a.b' }, problems: [] },
        ],
      });
    });

    test('a name without a schema is found through the search path, as Postgres finds it', async () => {
      await database.exec('CREATE SCHEMA "Sales"; CREATE TABLE "Sales".orders (id integer PRIMARY KEY)');
      const tables = ['orders'];
      if ('pglite' in database.connection) {
        await database.exec('SET search_path = "Sales", public');
        try {
          expect((await checkTriggers(access, { tables })).tables[0]?.table).toEqual({ schema: 'Sales', table: 'orders' });
        } finally {
          await database.exec('RESET search_path');
        }
      } else {
        const url = new URL(database.connection.connectionString);
        url.searchParams.set('options', '-c search_path="Sales",public');
        const inSales = new PostgresAccess({ connectionString: url.toString() });
        expect((await checkTriggers(inSales, { tables })).tables[0]?.table).toEqual({ schema: 'Sales', table: 'orders' });
        await inSales.close();
      }
      expect((await checkTriggers(access, { tables })).tables[0]?.problems.map((problem) => problem.kind)).toEqual(['no-such-table']);
    });

    test('a table that does not exist is a problem that suggests a name differing only in case', async () => {
      await expectOneProblem(['Items'], 'no-such-table', /^table 'Items' does not exist \(did you mean public\.items\?\)$/);
    });

    test('a view is a problem that says to watch the tables it reads', async () => {
      await database.exec('CREATE VIEW items_view AS SELECT * FROM items');
      await expectOneProblem(['items_view'], 'not-a-table', /'items_view' is a view, not a table: watch the tables it reads/);
    });

    test('a table without a primary key is a problem', async () => {
      await database.exec('CREATE TABLE keyless (id integer)');
      await expectOneProblem(['keyless'], 'no-primary-key', /table 'keyless' has no primary key/);
    });

    test('a table without triggers for the channel is a problem', async () => {
      await expectOneProblem(['items'], 'missing-triggers', /^table 'items' lacks the tablecache triggers for channel 'tablecache'$/);
    });

    test('a table missing one of its triggers is a problem naming it, and installing again repairs it', async () => {
      await installTriggers(access, { tables: ['items'] });
      await database.exec(`DROP TRIGGER "${trigger('delete')}" ON items`);
      await expectOneProblem(['items'], 'missing-triggers', /lacks the tablecache delete trigger for channel 'tablecache'/);
      await installTriggers(access, { tables: ['items'] });
      expect((await checkTriggers(access, { tables: ['items'] })).ok).toBe(true);
    });

    test('triggers whose key columns are no longer the primary key are a problem, and installing again repairs them', async () => {
      await installTriggers(access, { tables: ['items'] });
      await database.exec('ALTER TABLE items DROP CONSTRAINT items_pkey, ADD PRIMARY KEY (id, label)');
      await expectOneProblem(
        ['items'],
        'key-mismatch',
        /key columns \["id"\] \(types \[23\]\), but its primary key is now \["id","label"\] \(types \[23,25\]\)/,
      );
      await installTriggers(access, { tables: ['items'] });
      expect((await checkTriggers(access, { tables: ['items'] })).ok).toBe(true);
    });

    test('a trigger installed by an older version (other arguments) is a problem, and installing again repairs it', async () => {
      await installTriggers(access, { tables: ['items'] });
      const [row] = await database.exec<{ sql: string }>(
        "SELECT replace(pg_get_triggerdef(oid), '''public'', ''items'', ', '') AS sql FROM pg_trigger WHERE tgname = $1",
        [trigger('insert')],
      );
      await database.exec(`DROP TRIGGER "${trigger('insert')}" ON items; ${row!.sql}`);
      await expectOneProblem(['items'], 'outdated', /table 'items' has tablecache insert trigger .* from another tablecache version/);
      await installTriggers(access, { tables: ['items'] });
      expect((await checkTriggers(access, { tables: ['items'] })).ok).toBe(true);
    });

    test('a trigger function of another version is a problem of the channel, and installing again repairs it', async () => {
      await installTriggers(access, { tables: ['items'] });
      await database.exec(
        `CREATE OR REPLACE FUNCTION tablecache."notify_${trigger('x').split('_')[1]}"() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'`,
      );
      await expectOneProblem(
        ['items'],
        'outdated',
        /^the trigger function of channel 'tablecache' \(.*\) is from another tablecache version$/,
      );
      await installTriggers(access, { tables: ['items'] });
      expect((await checkTriggers(access, { tables: ['items'] })).ok).toBe(true);
    });

    test('a disabled trigger is a problem, and installing again enables it', async () => {
      await installTriggers(access, { tables: ['items'] });
      await database.exec(`ALTER TABLE items DISABLE TRIGGER "${trigger('update')}"`);
      await expectOneProblem(
        ['items'],
        'disabled',
        /table 'items' has tablecache update trigger for channel 'tablecache' that do not fire/,
      );
      await installTriggers(access, { tables: ['items'] });
      expect((await checkTriggers(access, { tables: ['items'] })).ok).toBe(true);
    });

    test('a table renamed since installing is a problem: its triggers report the old name', async () => {
      await installTriggers(access, { tables: ['items'] });
      await database.exec('ALTER TABLE items RENAME TO goods');
      await expectOneProblem(
        ['goods'],
        'other-table',
        /table 'goods' has tablecache triggers .* that report its changes as changes to public\.items/,
      );
    });

    test('a partition of a watched table is a problem: its changes are reported as changes to the root', async () => {
      await database.exec(`
        CREATE TABLE measurements (id integer, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
        CREATE TABLE measurements_eu PARTITION OF measurements FOR VALUES IN ('eu')`);
      await installTriggers(access, { tables: ['measurements'] });
      await expectOneProblem(['measurements_eu'], 'other-table', /that report its changes as changes to public\.measurements$/);
    });

    test('a partition added later without triggers is a problem naming it', async () => {
      await database.exec(`
        CREATE TABLE measurements (id integer, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
        CREATE TABLE measurements_eu PARTITION OF measurements FOR VALUES IN ('eu')`);
      await installTriggers(access, { tables: ['measurements'], partitions: 'existing' });
      await database.exec("CREATE TABLE measurements_us PARTITION OF measurements FOR VALUES IN ('us')");
      await expectOneProblem(
        ['measurements'],
        'uncovered-partition',
        /^partition public\.measurements_us of 'measurements' lacks the tablecache triggers for channel 'tablecache': changes written to it directly reach no cache$/,
      );
    });

    test('without tables, a channel that no table sends on is a problem', async () => {
      const check = await checkTriggers(access, { channel: 'quiet' });
      expect(check).toEqual({
        channel: 'quiet',
        tables: [],
        problems: [{ kind: 'nothing-sends', message: "nothing sends on channel 'quiet': no table has its triggers" }],
        ok: false,
      });
    });

    test('without tables, every table the channel reports is checked', async () => {
      await installTriggers(access, { tables: ['items'] });
      await database.exec(`ALTER TABLE items DISABLE TRIGGER "${trigger('insert')}"`);
      const check = await checkTriggers(access);
      expect(check.tables.map(({ name, table }) => ({ name, table }))).toEqual([
        { name: 'public.items', table: { schema: 'public', table: 'items' } },
      ]);
      expect(problemsOf(check).map((problem) => problem.kind)).toEqual(['disabled']);
    });

    test('a malformed name is refused with InvalidOptionsError', async () => {
      await expect(checkTriggers(access, { tables: ['a.b.c'] })).rejects.toThrow(InvalidOptionsError);
    });

    test('requireTriggers resolves each name to its table when all is in place', async () => {
      await installTriggers(access, { tables: ['items'] });
      expect(await requireTriggers(access, { tables: ['items'] })).toEqual(new Map([['items', { schema: 'public', table: 'items' }]]));
    });

    test('requireTriggers rejects with a MissingTriggersError that lists every problem', async () => {
      await database.exec('CREATE VIEW items_view AS SELECT * FROM items');
      const required = requireTriggers(access, { tables: ['items', 'itmes', 'items_view'] });
      await expect(required).rejects.toThrow(MissingTriggersError);
      await expect(required).rejects.toThrow(
        [
          "changes may not reach channel 'tablecache':",
          "  - table 'items' lacks the tablecache triggers for channel 'tablecache'",
          "  - table 'itmes' does not exist",
          "  - 'items_view' is a view, not a table: watch the tables it reads",
        ].join('\n'),
      );
    });

    test('requireTriggers with install puts missing triggers in place, and still rejects for what it cannot repair', async () => {
      await database.exec('CREATE TABLE keyless (id integer)');
      await expect(requireTriggers(access, { tables: ['items', 'keyless'], install: true })).rejects.toThrow(
        /^(?!.*'items').*'keyless' has no primary key/s,
      );
      expect((await checkTriggers(access, { tables: ['items'] })).ok).toBe(true);
    });

    test('requireTriggers with install passes on a refusal to install', async () => {
      await database.exec(`
        CREATE TABLE measurements (id integer, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
        CREATE TABLE measurements_eu PARTITION OF measurements FOR VALUES IN ('eu')`);
      await installTriggers(access, { tables: ['measurements'] });
      await expect(requireTriggers(access, { tables: ['measurements_eu'], install: true })).rejects.toThrow(TriggerInstallError);
    });
  });
}
