import { type OpenBackend, testBackends } from '@tablecache/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { PostgresAccess } from '../postgres-access.js';
import { installTriggers, uninstallTriggers } from './install-triggers.js';
import { recordPayloads } from './notifications.fixture.js';

/** One key column per type whose output text depends on session settings (or on a cast to text, for bool). */
const KEY_COLUMNS = {
  ts: ['timestamptz', "'2024-03-05 10:00:00.25+00'", '2024-03-05 10:00:00.25+00'],
  t: ['timestamp', "'2024-03-05 10:00:00'", '2024-03-05 10:00:00'],
  d: ['date', "'2024-03-05'", '2024-03-05'],
  b: ['bytea', "'\\x0102ff'", '\\x0102ff'],
  flag: ['boolean', 'true', 't'],
  n: ['numeric', "'1.50'", '1.50'],
  f: ['float8', "'0.30000000000000004'", '0.30000000000000004'],
  i: ['interval', "'1 day 02:00:00'", '1 day 02:00:00'],
} as const;
const columns = Object.keys(KEY_COLUMNS);
const expectedTexts = Object.values(KEY_COLUMNS).map(([, , text]) => text);
const insertRow = `INSERT INTO keyed VALUES (${Object.values(KEY_COLUMNS)
  .map(([type, literal]) => `${literal}::${type}`)
  .join(', ')})`;

/** Settings unlike the defaults in every way that changes how these types are written out. */
const WRITER_SETTINGS = {
  DateStyle: 'SQL, DMY',
  TimeZone: 'America/New_York',
  bytea_output: 'escape',
  IntervalStyle: 'sql_standard',
  extra_float_digits: '0',
};
const showSettings = `SELECT ${Object.keys(WRITER_SETTINGS)
  .map((name) => `current_setting('${name}') AS "${name}"`)
  .join(', ')}`;

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`key values in payloads on ${backend.name}`, () => {
    let database: OpenBackend;
    let access: PostgresAccess;

    beforeAll(async () => {
      database = await backend.open();
      access = new PostgresAccess(database.connection);
      await database.exec(
        `CREATE TABLE keyed (${Object.entries(KEY_COLUMNS)
          .map(([name, [type]]) => `${name} ${type}`)
          .join(', ')}, PRIMARY KEY (${columns.join(', ')}))`,
      );
      await installTriggers(access, { tables: ['keyed'] });
    });

    afterEach(async () => {
      await database.exec('DELETE FROM keyed');
    });

    afterAll(async () => {
      await uninstallTriggers(access);
      await access?.close();
      await database?.close();
    });

    /** Runs `work` in a session of its own, so settings made there stay there. */
    async function inSession<T>(work: (exec: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
      if ('pglite' in database.connection) {
        const { pglite } = database.connection;
        try {
          return await work(async (sql) => (await pglite.query<Record<string, unknown>>(sql)).rows);
        } finally {
          await pglite.exec('RESET ALL');
        }
      }
      const client = new pg.Client({ connectionString: database.connection.connectionString });
      await client.connect();
      try {
        return await work(async (sql) => (await client.query<Record<string, unknown>>(sql)).rows);
      } finally {
        await client.end();
      }
    }

    async function insertedKeys(settings: Record<string, string>) {
      const recording = await recordPayloads(database);
      try {
        await inSession(async (exec) => {
          for (const [name, value] of Object.entries(settings)) await exec(`SET ${name} = '${value}'`);
          await exec(insertRow);
        });
        await recording.sync();
        return recording.changes().map((change) => ({ columns: change.keyColumns.map((c) => c.name), new: change.new }));
      } finally {
        await recording.close();
      }
    }

    test("a key value is written as its type's output text (bool as 't', not 'true')", async () => {
      expect(await insertedKeys({})).toEqual([{ columns, new: expectedTexts }]);
    });

    test('a session with its own DateStyle, TimeZone, IntervalStyle, bytea_output and extra_float_digits writes the same key texts', async () => {
      expect(await insertedKeys(WRITER_SETTINGS)).toEqual([{ columns, new: expectedTexts }]);
    });

    test("the writing session's settings are as it set them after its statement", async () => {
      const after = await inSession(async (exec) => {
        for (const [name, value] of Object.entries(WRITER_SETTINGS)) await exec(`SET ${name} = '${value}'`);
        await exec(insertRow);
        return (await exec(showSettings))[0];
      });
      expect(after).toEqual(WRITER_SETTINGS);
    });

    test('a payload carries the time its statement ran, on the database clock', async () => {
      const recording = await recordPayloads(database);
      const clock = async () =>
        Number((await database.exec<{ ms: string }>('SELECT extract(epoch FROM clock_timestamp()) * 1000 AS ms'))[0]!.ms);
      const before = await clock();
      await database.exec(insertRow);
      const after = await clock();
      await recording.sync();
      const [payload] = recording.texts.map((text) => JSON.parse(text) as { at: number });
      await recording.close();
      expect(payload!.at).toBeGreaterThanOrEqual(Math.floor(before));
      expect(payload!.at).toBeLessThanOrEqual(Math.ceil(after));
    });
  });
}
