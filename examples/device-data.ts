/** The schema of the time-range and custom-index examples: readings of devices over time. */
import type { Kysely } from 'kysely';

export const DEVICE_SCHEMA = 'tablecache_devices';

export interface DeviceDatabase {
  device_data: { data_id: number; device_id: number; data: string; ts: Date };
}

export type Reading = DeviceDatabase['device_data'];

export const CREATE_DEVICE_STATEMENTS: readonly string[] = [
  `DROP SCHEMA IF EXISTS ${DEVICE_SCHEMA} CASCADE`,
  `CREATE SCHEMA ${DEVICE_SCHEMA}`,
  `CREATE TABLE ${DEVICE_SCHEMA}.device_data (
    data_id integer PRIMARY KEY,
    device_id integer NOT NULL,
    data text NOT NULL,
    ts timestamptz NOT NULL
  )`,
  `CREATE INDEX ON ${DEVICE_SCHEMA}.device_data (ts)`,
  `CREATE INDEX ON ${DEVICE_SCHEMA}.device_data (device_id, ts)`,
];

export const MINUTE = 60_000;

/** Readings of `devices` devices, one per device per minute, for the minutes [from, to). */
export function readingsFor(devices: number, from: number, to: number, firstId: number): Reading[] {
  const readings: Reading[] = [];
  let id = firstId;
  for (let minute = from; minute < to; minute += MINUTE) {
    for (let device = 1; device <= devices; device++) {
      readings.push({ data_id: id++, device_id: device, data: `reading of device ${device}`, ts: new Date(minute) });
    }
  }
  return readings;
}

export function deviceData(db: Kysely<DeviceDatabase>) {
  return db.withSchema(DEVICE_SCHEMA).selectFrom('device_data').selectAll();
}
