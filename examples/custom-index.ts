/**
 * A custom index written against the public `Indexes` contract alone: readings by device and
 * time. It caches a time window for a chosen set of devices, and answers
 * `{ index: 'deviceTime', deviceId, ge, lt }` from memory when that device's window covers it,
 * through a storage range index on the tuple [device_id, ts] (tuples compare element by element).
 *
 *   pnpm example:custom-index                              # on embedded PGlite
 *   DATABASE_URL=postgres://... pnpm example:custom-index  # on a server (schema tablecache_devices)
 */
import {
  type Adjustment,
  assertKey,
  CachedTable,
  type Indexes,
  Interval,
  MalformedSpecError,
  type PrimaryKeysSpec,
  type Query,
  type StorageIndexDefinition,
  type StorageRecordsSpec,
  UnknownIndexError,
} from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { PostgresAccess } from '@tablecache/postgres';
import { type Kysely, sql } from 'kysely';
import { type ExampleConnection, runAsScript } from './connect.js';
import {
  CREATE_DEVICE_STATEMENTS,
  DEVICE_SCHEMA,
  type DeviceDatabase,
  deviceData,
  MINUTE,
  type Reading,
  readingsFor,
} from './device-data.js';

/** What to cache: a window of time for some devices. */
export interface DevicesSpec {
  readonly index: 'devices';
  readonly deviceIds: readonly number[];
  readonly ge: Date;
  readonly lt: Date;
}

/** What to read: one device's readings in a time range. */
export interface DeviceTimeSpec {
  readonly index: 'deviceTime';
  readonly deviceId: number;
  readonly ge: Date;
  readonly lt: Date;
}

export type DeviceSpec = DevicesSpec | DeviceTimeSpec;

export class DeviceTimeIndexes implements Indexes<Reading, DeviceSpec, number> {
  readonly indexNames = ['primaryKey', 'devices', 'deviceTime'];
  readonly storageIndexes: Readonly<Record<string, StorageIndexDefinition<Reading>>> = {
    deviceTime: { kind: 'range', key: (reading) => [reading.device_id, reading.ts] },
  };
  readonly #db: Kysely<DeviceDatabase>;
  #devices: ReadonlySet<number> = new Set();
  #window: Interval<Date> | undefined;

  constructor(db: Kysely<DeviceDatabase>) {
    this.#db = db;
  }

  primaryKey(reading: Reading): number {
    return reading.data_id;
  }

  validateSpec(spec: unknown): asserts spec is DeviceSpec | PrimaryKeysSpec<number> {
    if (typeof spec !== 'object' || spec === null) throw new MalformedSpecError(spec, 'a spec is an object');
    const { index } = spec as { index?: unknown };
    if (index === 'primaryKey') {
      const { keys } = spec as { keys?: unknown };
      if (!Array.isArray(keys)) throw new MalformedSpecError(spec, 'primaryKey specs have keys: [...]');
      for (const [i, key] of keys.entries()) assertKey(key, `keys[${i}]`);
      return;
    }
    if (index !== 'devices' && index !== 'deviceTime') throw new UnknownIndexError(index, this.indexNames);
    const { ge, lt } = spec as { ge?: unknown; lt?: unknown };
    if (!(ge instanceof Date) || !(lt instanceof Date) || Number.isNaN(ge.getTime() + lt.getTime()) || ge > lt) {
      throw new MalformedSpecError(spec, 'ge and lt must be valid Dates with ge <= lt');
    }
    const devices = index === 'devices' ? (spec as { deviceIds?: unknown }).deviceIds : [(spec as { deviceId?: unknown }).deviceId];
    if (!Array.isArray(devices) || !devices.every((id) => Number.isInteger(id))) {
      throw new MalformedSpecError(spec, index === 'devices' ? 'deviceIds must be integers' : 'deviceId must be an integer');
    }
  }

  covers(spec: DeviceSpec | PrimaryKeysSpec<number>): boolean {
    if (spec.index === 'primaryKey' || this.#window === undefined) return false;
    const devices = spec.index === 'devices' ? spec.deviceIds : [spec.deviceId];
    return devices.every((id) => this.#devices.has(id)) && this.#window.covers(new Interval(spec.ge, spec.lt));
  }

  coversRecord(reading: Reading): boolean {
    return this.#window !== undefined && this.#devices.has(reading.device_id) && this.#window.contains(reading.ts);
  }

  storageRecordsSpec(spec: DeviceSpec | PrimaryKeysSpec<number>): StorageRecordsSpec<Reading> {
    switch (spec.index) {
      case 'primaryKey':
        return { kind: 'keys', index: 'primaryKey', keys: spec.keys };
      case 'deviceTime':
        return { kind: 'range', index: 'deviceTime', intervals: [new Interval([spec.deviceId, spec.ge], [spec.deviceId, spec.lt])] };
      case 'devices':
        return {
          kind: 'range',
          index: 'deviceTime',
          intervals: spec.deviceIds.map((id) => new Interval([id, spec.ge], [id, spec.lt])),
        };
    }
  }

  dbQuery(spec: DeviceSpec | PrimaryKeysSpec<number>): Query<Reading> {
    switch (spec.index) {
      case 'primaryKey':
        return deviceData(this.#db).where('data_id', 'in', spec.keys);
      case 'deviceTime':
        return this.#readings([spec.deviceId], spec.ge, spec.lt);
      case 'devices':
        return this.#readings(spec.deviceIds, spec.ge, spec.lt);
    }
  }

  loadedSpecs(): readonly DeviceSpec[] {
    const window = this.#window;
    return window === undefined ? [] : [{ index: 'devices', deviceIds: [...this.#devices], ge: window.ge, lt: window.lt }];
  }

  prepareAdjustment(spec: DeviceSpec): Adjustment<Reading> {
    const devices = spec.index === 'devices' ? new Set(spec.deviceIds) : new Set([spec.deviceId]);
    const window = new Interval(spec.ge, spec.lt);
    // Simple and correct: drop what is cached, load the new devices and window whole.
    return {
      expire: { kind: 'all' },
      load: [this.#readings([...devices], spec.ge, spec.lt)],
      commit: () => {
        this.#devices = devices;
        this.#window = window;
      },
    };
  }

  #readings(deviceIds: readonly number[], ge: Date, lt: Date) {
    return deviceData(this.#db)
      .where('device_id', 'in', deviceIds)
      .where('ts', '>=', ge)
      .where('ts', '<', lt)
      .orderBy('device_id')
      .orderBy('ts');
  }
}

export interface CustomIndexResult {
  readonly cachedReadings: number;
  readonly fromMemory: readonly number[];
  readonly fromDatabase: readonly number[];
  readonly queriesForMemoryReads: number;
}

export async function runCustomIndexExample(
  connection: ExampleConnection,
  log: (line: string) => void = console.log,
): Promise<CustomIndexResult> {
  const access = new PostgresAccess<DeviceDatabase>(connection);
  const db = access.kysely;
  const now = Date.UTC(2026, 10, 21, 12, 0);
  const indexes = new DeviceTimeIndexes(db);
  const readings = new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'device_data' }));
  try {
    for (const statement of CREATE_DEVICE_STATEMENTS) await sql.raw(statement).execute(db);
    await db
      .withSchema(DEVICE_SCHEMA)
      .insertInto('device_data')
      .values(readingsFor(5, now - 60 * MINUTE, now, 1))
      .execute();
    const window = { ge: new Date(now - 30 * MINUTE), lt: new Date(now) };
    await readings.load({ index: 'devices', deviceIds: [2, 4], ...window });
    const cachedReadings = (await readings.getRecords({ index: 'devices', deviceIds: [2, 4], ...window })).length;
    log(`1. cached the last 30 minutes of devices 2 and 4: ${cachedReadings} readings`);

    const lastTen = { ge: new Date(now - 10 * MINUTE), lt: new Date(now) };
    const before = readings.stats.queries;
    const fromMemory = [];
    for (const deviceId of [2, 4]) {
      const found = await readings.getRecords({ index: 'deviceTime', deviceId, ...lastTen });
      fromMemory.push(found.length);
      log(
        `2. device ${deviceId}, last 10 minutes: ${found.length} readings from memory, device ${found.every((r) => r.device_id === deviceId) ? 'correct' : 'WRONG'}`,
      );
    }
    const queriesForMemoryReads = readings.stats.queries - before;
    const fromDatabase = [];
    for (const [deviceId, range] of [
      [3, lastTen],
      [2, { ge: new Date(now - 50 * MINUTE), lt: new Date(now - 40 * MINUTE) }],
    ] as const) {
      const found = await readings.getRecords({ index: 'deviceTime', deviceId, ...range });
      fromDatabase.push(found.length);
      log(
        `3. device ${deviceId}, ${range.ge.toISOString().slice(11, 16)} to ${range.lt.toISOString().slice(11, 16)}: ${found.length} readings from the database (not cached)`,
      );
    }
    log(`   ${queriesForMemoryReads} queries for the memory reads; ${readings.stats.readsFromDatabase} reads went to the database`);
    return { cachedReadings, fromMemory, fromDatabase, queriesForMemoryReads };
  } finally {
    await readings.close();
    await access.close();
  }
}

await runAsScript(import.meta.url, 'tablecache custom-index example', (connection) => runCustomIndexExample(connection));
