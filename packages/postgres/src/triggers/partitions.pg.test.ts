import { randomBytes } from 'node:crypto';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { PgNotifyFeed } from '../notify/pg-notify-feed.js';
import { PostgresAccess } from '../postgres-access.js';
import { installTriggers, TriggerInstallError, uninstallTriggers } from './install-triggers.js';
import { recordingFeed } from './notifications.fixture.js';

/**
 * measurements, partitioned by region: _eu (a leaf) and _us, itself partitioned by id into _us_low
 * [0, 1000) and _us_high [1000, 2000).
 */
const CREATE_MEASUREMENTS = `
  CREATE TABLE measurements (id integer, region text, value text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
  CREATE TABLE measurements_eu PARTITION OF measurements FOR VALUES IN ('eu');
  CREATE TABLE measurements_us PARTITION OF measurements FOR VALUES IN ('us') PARTITION BY RANGE (id);
  CREATE TABLE measurements_us_low PARTITION OF measurements_us FOR VALUES FROM (0) TO (1000);
  CREATE TABLE measurements_us_high PARTITION OF measurements_us FOR VALUES FROM (1000) TO (2000)`;

const root = { schema: 'public', table: 'measurements' };

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`triggers on partitioned tables on ${backend.name}`, () => {
    let database: OpenBackend;
    let access: PostgresAccess;
    const feeds: PgNotifyFeed[] = [];

    beforeAll(async () => {
      database = await backend.open();
      access = new PostgresAccess(database.connection);
    });

    beforeEach(async () => {
      await database.exec(CREATE_MEASUREMENTS);
    });

    afterEach(async () => {
      for (const feed of feeds.splice(0)) await feed.close();
      await uninstallTriggers(access);
      await uninstallTriggers(access, { channel: 'other' });
      await database.exec('DROP TABLE IF EXISTS measurements, measurements_af, measurements_sa CASCADE');
    });

    afterAll(async () => {
      await access?.close();
      await database?.close();
    });

    async function watched() {
      await installTriggers(access, { tables: ['measurements'] });
      const recording = await recordingFeed(database);
      feeds.push(recording.feed);
      return recording;
    }

    /** The relations that have a tablecache trigger, with how many. */
    const covered = () =>
      database.exec(
        `SELECT c.relname AS relation, count(*)::int AS triggers FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          WHERE t.tgname LIKE 'tablecache\\_%' GROUP BY c.relname ORDER BY c.relname`,
      );
    const eventTriggers = () => database.exec('SELECT evtname FROM pg_event_trigger');

    test('installing on a partitioned table puts the triggers on it and on every partition at every level', async () => {
      await installTriggers(access, { tables: ['measurements'] });
      expect(await covered()).toEqual(
        ['measurements', 'measurements_eu', 'measurements_us', 'measurements_us_high', 'measurements_us_low'].map((relation) => ({
          relation,
          triggers: 4,
        })),
      );
      expect(await eventTriggers()).toEqual([{ evtname: 'tablecache_partitions' }]);
    });

    test('an insert, update and delete addressed to a partition reach the feed as changes to the root', async () => {
      const { feed, changes } = await watched();
      await database.exec("INSERT INTO measurements_eu VALUES (1, 'eu', 'a')");
      await database.exec("UPDATE measurements_eu SET value = 'b' WHERE id = 1");
      await database.exec('DELETE FROM measurements_eu WHERE id = 1');
      await feed.sync();
      expect(changes()).toEqual([
        { op: 'insert', ...root, new: ['1', 'eu'] },
        { op: 'update', ...root, old: ['1', 'eu'], new: ['1', 'eu'] },
        { op: 'delete', ...root, old: ['1', 'eu'] },
      ]);
    });

    test('a statement addressed to the root reaches the feed once per row, whichever partitions the rows land in', async () => {
      const { feed, changes } = await watched();
      await database.exec("INSERT INTO measurements VALUES (1, 'eu', 'a'), (2, 'us', 'a'), (1500, 'us', 'a')");
      await feed.sync();
      expect(changes()).toEqual([
        { op: 'insert', ...root, new: ['1', 'eu'] },
        { op: 'insert', ...root, new: ['2', 'us'] },
        { op: 'insert', ...root, new: ['1500', 'us'] },
      ]);
    });

    test('a row moving between partitions is an update with its old and its new key', async () => {
      const { feed, changes } = await watched();
      await database.exec("INSERT INTO measurements VALUES (1, 'eu', 'a')");
      await database.exec("UPDATE measurements SET region = 'us' WHERE id = 1");
      await feed.sync();
      expect(changes().filter((change) => change.op === 'update')).toEqual([
        { op: 'update', ...root, old: ['1', 'eu'] },
        { op: 'update', ...root, new: ['1', 'us'] },
      ]);
    });

    test('statements addressed to a partitioned partition and to a leaf below it reach the feed as changes to the root', async () => {
      const { feed, changes } = await watched();
      await database.exec("INSERT INTO measurements_us_low VALUES (5, 'us', 'a')");
      await database.exec('UPDATE measurements_us SET id = 1005 WHERE id = 5');
      await feed.sync();
      expect(changes()).toEqual([
        { op: 'insert', ...root, new: ['5', 'us'] },
        { op: 'update', ...root, old: ['5', 'us'] },
        { op: 'update', ...root, new: ['1005', 'us'] },
      ]);
    });

    test('a truncate of a partition reaches the feed as a truncate of the root', async () => {
      const { feed, changes } = await watched();
      await database.exec('TRUNCATE measurements_eu');
      await feed.sync();
      expect(changes()).toEqual([{ op: 'truncate', ...root }]);
    });

    test('a truncate of the root reaches the feed as truncates of the root only (one per partition truncated)', async () => {
      const { feed, changes } = await watched();
      await database.exec('TRUNCATE measurements');
      await feed.sync();
      expect(new Set(changes().map((change) => JSON.stringify(change)))).toEqual(new Set([JSON.stringify({ op: 'truncate', ...root })]));
    });

    test('a partition created with PARTITION OF after installing gets the triggers, at any level', async () => {
      const { feed, changes } = await watched();
      await database.exec("CREATE TABLE measurements_asia PARTITION OF measurements FOR VALUES IN ('asia')");
      await database.exec('CREATE TABLE measurements_us_top PARTITION OF measurements_us FOR VALUES FROM (2000) TO (MAXVALUE)');
      await database.exec("INSERT INTO measurements_asia VALUES (1, 'asia', 'a')");
      await database.exec("INSERT INTO measurements_us_top VALUES (3000, 'us', 'a')");
      await feed.sync();
      expect(changes()).toEqual([
        { op: 'insert', ...root, new: ['1', 'asia'] },
        { op: 'insert', ...root, new: ['3000', 'us'] },
      ]);
    });

    test('a table attached with ATTACH PARTITION after installing gets the triggers', async () => {
      const { feed, changes } = await watched();
      await database.exec('CREATE TABLE measurements_af (id integer NOT NULL, region text NOT NULL, value text)');
      await database.exec("ALTER TABLE measurements ATTACH PARTITION measurements_af FOR VALUES IN ('af')");
      await database.exec("INSERT INTO measurements_af VALUES (1, 'af', 'a')");
      await feed.sync();
      expect(changes()).toEqual([{ op: 'insert', ...root, new: ['1', 'af'] }]);
    });

    test('a partitioned table attached after installing passes the triggers on to its own partitions', async () => {
      const { feed, changes } = await watched();
      await database.exec(`
        CREATE TABLE measurements_sa (id integer NOT NULL, region text NOT NULL, value text) PARTITION BY RANGE (id);
        CREATE TABLE measurements_sa_low PARTITION OF measurements_sa FOR VALUES FROM (0) TO (1000)`);
      await database.exec("ALTER TABLE measurements ATTACH PARTITION measurements_sa FOR VALUES IN ('sa')");
      await database.exec("INSERT INTO measurements_sa_low VALUES (1, 'sa', 'a')");
      await database.exec("UPDATE measurements_sa SET value = 'b'");
      await feed.sync();
      expect(changes()).toEqual([
        { op: 'insert', ...root, new: ['1', 'sa'] },
        { op: 'update', ...root, old: ['1', 'sa'], new: ['1', 'sa'] },
      ]);
    });

    test('a table attached with triggers of its own install gets the root’s instead', async () => {
      const { feed, changes } = await watched();
      await database.exec('CREATE TABLE measurements_af (id integer, region text, value text, PRIMARY KEY (id, region))');
      await installTriggers(access, { tables: ['measurements_af'] });
      await database.exec("ALTER TABLE measurements ATTACH PARTITION measurements_af FOR VALUES IN ('af')");
      await database.exec("INSERT INTO measurements_af VALUES (1, 'af', 'a')");
      await feed.sync();
      expect(changes()).toEqual([{ op: 'insert', ...root, new: ['1', 'af'] }]);
    });

    test('tables that are not partitions are left alone by the event trigger', async () => {
      await watched();
      await database.exec('CREATE TABLE measurements_af (id integer PRIMARY KEY)');
      await database.exec('ALTER TABLE measurements_af ADD COLUMN value text');
      expect((await covered()).map((row) => row.relation)).not.toContain('measurements_af');
    });

    test('uninstalling removes the triggers from every partition, then the event trigger and the schema', async () => {
      await installTriggers(access, { tables: ['measurements'] });
      await uninstallTriggers(access, { tables: ['measurements'] });
      expect(await covered()).toEqual([]);
      expect(await eventTriggers()).toEqual([]);
      expect(await database.exec("SELECT nspname FROM pg_namespace WHERE nspname = 'tablecache'")).toEqual([]);
    });

    test('the event trigger stays while another channel still has triggers', async () => {
      await installTriggers(access, { tables: ['measurements'] });
      await installTriggers(access, { tables: ['measurements'], channel: 'other' });
      await uninstallTriggers(access, { tables: ['measurements'] });
      expect(await eventTriggers()).toEqual([{ evtname: 'tablecache_partitions' }]);
      await database.exec("CREATE TABLE measurements_asia PARTITION OF measurements FOR VALUES IN ('asia')");
      expect(await covered()).toContainEqual({ relation: 'measurements_asia', triggers: 4 });
    });

    test('installing on a partition of a watched table is refused, naming the table its changes are reported for', async () => {
      await installTriggers(access, { tables: ['measurements'] });
      await expect(installTriggers(access, { tables: ['measurements_eu'] })).rejects.toThrow(
        /'measurements_eu' is a partition of public\.measurements.*watch public\.measurements/,
      );
    });

    test('installing on a partitioned table and one of its partitions in one call is refused', async () => {
      await expect(installTriggers(access, { tables: ['measurements_us_low', 'measurements'] })).rejects.toThrow(
        "'measurements_us_low' and 'measurements' both cover public.measurements_us_low (one is a partition of the other)",
      );
    });

    test('installing on a partitioned table whose partition has triggers of its own is refused', async () => {
      await installTriggers(access, { tables: ['measurements_eu'] });
      const install = installTriggers(access, { tables: ['measurements'] });
      await expect(install).rejects.toThrow(TriggerInstallError);
      await expect(install).rejects.toThrow(/partition public\.measurements_eu of 'measurements' has triggers .* of its own/);
    });

    test('a partition installed on its own reports its changes as its own', async () => {
      await installTriggers(access, { tables: ['measurements_us'] });
      const { feed, changes } = await recordingFeed(database);
      feeds.push(feed);
      await database.exec("INSERT INTO measurements_us_low VALUES (1, 'us', 'a')");
      await feed.sync();
      expect(changes()).toEqual([{ op: 'insert', schema: 'public', table: 'measurements_us', new: ['1', 'us'] }]);
    });

    test("with partitions: 'existing', the existing partitions get triggers and no event trigger is created", async () => {
      await installTriggers(access, { tables: ['measurements'], partitions: 'existing' });
      expect(await covered()).toHaveLength(5);
      expect(await eventTriggers()).toEqual([]);
    });

    describe('as a role that is not a superuser', () => {
      // Roles belong to the whole server: a name of its own keeps parallel test runs apart.
      const role = `tablecache_test_${randomBytes(4).toString('hex')}`;

      beforeAll(async () => {
        await database.exec(`CREATE ROLE ${role} LOGIN`);
        const [{ name }] = (await database.exec('SELECT current_database() AS name')) as [{ name: string }];
        await database.exec(`GRANT CREATE ON DATABASE "${name}" TO ${role}; GRANT CREATE ON SCHEMA public TO ${role}`);
      });

      beforeEach(async () => {
        await database.exec(`GRANT TRIGGER ON ALL TABLES IN SCHEMA public TO ${role}`);
      });

      afterAll(async () => {
        await database.exec(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
      });

      /** Runs `work` with an access and a session of the role. */
      async function asRole<T>(work: (roleAccess: PostgresAccess, exec: (sql: string) => Promise<unknown>) => Promise<T>): Promise<T> {
        if ('pglite' in database.connection) {
          // PGlite has one session: the role is set on it for the duration.
          await database.exec(`SET ROLE ${role}`);
          try {
            return await work(access, (sql) => database.exec(sql));
          } finally {
            await database.exec('RESET ROLE');
          }
        }
        const url = new URL(database.connection.connectionString);
        url.username = role;
        const roleAccess = new PostgresAccess({ connectionString: url.toString() });
        const client = new pg.Client({ connectionString: url.toString() });
        await client.connect();
        try {
          return await work(roleAccess, (sql) => client.query(sql));
        } finally {
          await client.end();
          await roleAccess.close();
        }
      }

      test('installing on a partitioned table is refused with a TriggerInstallError that gives both ways out', async () => {
        const install = asRole((roleAccess) => installTriggers(roleAccess, { tables: ['measurements'] }));
        await expect(install).rejects.toThrow(TriggerInstallError);
        await expect(install).rejects.toThrow(
          new RegExp(
            `'measurements' is partitioned.*needs a superuser, and role '${role}' is not one.*install once as a superuser.*\\{ partitions: 'existing' \\}`,
          ),
        );
        expect(await covered()).toEqual([]);
      });

      test("with partitions: 'existing', the existing partitions get triggers", async () => {
        await asRole((roleAccess) => installTriggers(roleAccess, { tables: ['measurements'], partitions: 'existing' }));
        expect(await covered()).toHaveLength(5);
        expect(await eventTriggers()).toEqual([]);
      });

      test('without rights on the schema a superuser made, installing is refused with what to grant', async () => {
        await installTriggers(access, { tables: ['measurements'], channel: 'other' });
        await expect(asRole((roleAccess) => installTriggers(roleAccess, { tables: ['measurements'] }))).rejects.toThrow(
          `role '${role}' may not: it needs CREATE on schema tablecache`,
        );
      });

      test('once a superuser has put the event trigger in place, installing on a partitioned table works', async () => {
        await installTriggers(access, { tables: ['measurements'], channel: 'other' });
        await database.exec(`GRANT USAGE, CREATE ON SCHEMA tablecache TO ${role}`);
        await asRole((roleAccess) => installTriggers(roleAccess, { tables: ['measurements'] }));
        expect(await covered()).toContainEqual({ relation: 'measurements_eu', triggers: 8 });
      });

      test('a partition the role creates gets the triggers (the event trigger runs as its superuser owner)', async () => {
        await asRole(async (_, exec) => {
          await exec('CREATE TABLE measurements_sa (id integer, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)');
        });
        await installTriggers(access, { tables: ['measurements_sa'] });
        await asRole(async (_, exec) => {
          await exec("CREATE TABLE measurements_sa_1 PARTITION OF measurements_sa FOR VALUES IN ('1')");
        });
        expect(await covered()).toContainEqual({ relation: 'measurements_sa_1', triggers: 4 });
      });
    });
  });
}
