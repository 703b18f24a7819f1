/**
 * A sliding time window: the last N minutes of device readings stay in memory, the window moves
 * on a timer (loading only the minutes that enter), reads inside it are served from memory and
 * reads of older data go to the database. A reading whose time changes moves between ranges.
 *
 *   pnpm example:time-range                              # on embedded PGlite
 *   DATABASE_URL=postgres://... pnpm example:time-range  # on a server (schema tablecache_devices)
 */
import { CachedTable, type Change, RangeIndexes } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { installTriggers, PgNotifyFeed, PostgresAccess } from '@tablecache/postgres';
import { sql } from 'kysely';
import { type ExampleConnection, runAsScript } from './connect.js';
import { CREATE_DEVICE_STATEMENTS, DEVICE_SCHEMA, type DeviceDatabase, deviceData, MINUTE, readingsFor } from './device-data.js';

export interface TimeRangeResult {
  /** Per slide: the window's first minute, the records in memory, the queries the slide sent. */
  readonly slides: readonly { readonly from: Date; readonly cached: number; readonly queries: number }[];
  readonly hits: number;
  readonly misses: number;
  /** Where the moved reading was found: in the recent window before, in an old range after. */
  readonly movedReading: { readonly before: string; readonly afterInRecent: boolean; readonly afterInOld: boolean };
}

const DEVICES = 3;
const WINDOW_MINUTES = 10;

export async function runTimeRangeExample(
  connection: ExampleConnection,
  options: { readonly slides?: number; readonly tickMs?: number; readonly log?: (line: string) => void } = {},
): Promise<TimeRangeResult> {
  const log = options.log ?? console.log;
  const access = new PostgresAccess<DeviceDatabase>(connection);
  const db = access.kysely;
  const feed = new PgNotifyFeed(connection, { channel: 'tablecache_devices' });
  // A simulated clock: each tick of the timer is one minute.
  let now = Date.UTC(2026, 10, 21, 12, 0);
  let nextId = 1;
  const insertMinutes = async (from: number, to: number) => {
    const readings = readingsFor(DEVICES, from, to, nextId);
    nextId += readings.length;
    if (readings.length > 0) await db.withSchema(DEVICE_SCHEMA).insertInto('device_data').values(readings).execute();
  };
  const window = () => ({ index: 'range' as const, ge: new Date(now - WINDOW_MINUTES * MINUTE), lt: new Date(now + MINUTE) });

  // With ge and lt typed, the record type flows from the query to every read.
  const indexes = new RangeIndexes({
    queryRange: (ge: Date, lt: Date) => deviceData(db).where('ts', '>=', ge).where('ts', '<', lt).orderBy('ts').orderBy('data_id'),
    primaryKey: (reading) => reading.data_id,
    score: (reading) => reading.ts,
    querySome: (ids) => deviceData(db).where('data_id', 'in', ids),
  });
  const readings = new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'device_data' }));
  try {
    for (const statement of CREATE_DEVICE_STATEMENTS) await sql.raw(statement).execute(db);
    await insertMinutes(now - 60 * MINUTE, now + MINUTE);
    await installTriggers(access, { tables: [`${DEVICE_SCHEMA}.device_data`], channel: 'tablecache_devices' });
    await readings.watch(feed, {
      tables: {
        [`${DEVICE_SCHEMA}.device_data`]: (change: Change) => [
          { index: 'primaryKey', keys: [(change.new ?? change.old)!.data_id as number] },
        ],
      },
    });
    await readings.load(window());
    const count = async () => (await readings.getRecords(window())).length;
    log(`1. an hour of readings of ${DEVICES} devices; the last ${WINDOW_MINUTES} minutes are in memory: ${await count()} readings`);

    // The timer: every tick a minute passes, new readings arrive, the window slides.
    const slides: { from: Date; cached: number; queries: number }[] = [];
    const ticks = options.slides ?? 5;
    // One tick after another: a slow tick delays the next rather than overlapping it.
    for (let tick = 0; tick < ticks; tick++) {
      await new Promise((resolve) => setTimeout(resolve, options.tickMs ?? 100));
      now += MINUTE;
      await insertMinutes(now, now + MINUTE);
      const before = readings.stats.queries;
      await readings.adjust(window());
      const queries = readings.stats.queries - before;
      // The inserted rows were announced by NOTIFY: this read refreshes them (lazily).
      slides.push({ from: window().ge, cached: await count(), queries });
    }
    for (const slide of slides) {
      log(
        `2. slid to ${slide.from.toISOString().slice(11, 16)}: ${slide.cached} readings in memory; the slide sent ${slide.queries} query, for the minute that entered`,
      );
    }

    const recent = { index: 'range' as const, ge: new Date(now - 5 * MINUTE), lt: new Date(now + MINUTE) };
    const old = { index: 'range' as const, ge: new Date(now - 40 * MINUTE), lt: new Date(now - 30 * MINUTE) };
    const statsBefore = readings.stats;
    await readings.getRecords(recent);
    await readings.getRecords(recent);
    await readings.getRecords(old);
    const hits = readings.stats.readsFromStorage - statsBefore.readsFromStorage;
    const misses = readings.stats.readsFromDatabase - statsBefore.readsFromDatabase;
    log(`3. two reads of the last 5 minutes: ${hits} hits (memory); one read of 30 to 40 minutes ago: ${misses} miss (database)`);

    const [moving] = await readings.getRecords(recent);
    const id = moving!.data_id;
    await db
      .withSchema(DEVICE_SCHEMA)
      .updateTable('device_data')
      .set({ ts: new Date(now - 35 * MINUTE) })
      .where('data_id', '=', id)
      .execute();
    await readings.sync();
    const afterInRecent = (await readings.getRecords(recent)).some((r) => r.data_id === id);
    const afterInOld = (await readings.getRecords(old)).some((r) => r.data_id === id);
    const before = moving!.ts.toISOString().slice(11, 16);
    log(`4. reading ${id} (at ${before}) moved 35 minutes back: in the recent window ${afterInRecent}, in the old range ${afterInOld}`);
    return { slides, hits, misses, movedReading: { before, afterInRecent, afterInOld } };
  } finally {
    await readings.close();
    await feed.close();
    await access.close();
  }
}

await runAsScript(import.meta.url, 'tablecache time-range example', (connection) => runTimeRangeExample(connection));
