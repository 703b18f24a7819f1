import { CachedTable, InvalidOptionsError, type Key, type KeyPart, type LoadProgress, PrimaryKeyIndexes } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { formatBytes } from '../load-progress-bar.js';
import type { PostgresAccess } from '../postgres-access.js';

/** What loading a query into memory took. */
export interface LoadMeasurement {
  readonly rows: number;
  readonly seconds: number;
  /** The table's estimate of the memory its records take (see `tablecache.memory.bytes`). */
  readonly estimatedBytes: number;
  /** How much the heap grew, measured around the load: noisier, but not an estimate. */
  readonly heapGrowthBytes: number;
  /** The planner's estimate of the rows, for comparison. */
  readonly expectedRows: number | undefined;
}

type Row = Readonly<Record<string, unknown>>;

/**
 * Loads `sql`'s rows into a table in this process's heap, keyed by the `key` columns, exactly as
 * an application would, and says what it took: for sizing a cache before deploying it.
 */
export async function measureLoad(
  access: PostgresAccess,
  sql: string,
  key: readonly string[],
  onProgress: ((progress: LoadProgress) => void) | undefined,
): Promise<LoadMeasurement> {
  const query = { sql };
  const keyOf = (row: Row): Key => {
    const values = key.map((column) => {
      if (!Object.hasOwn(row, column)) throw new InvalidOptionsError(`the query returns no column '${column}' for --key`);
      return row[column] as KeyPart;
    });
    return values.length === 1 ? (values[0] as KeyPart) : values;
  };
  const indexes = new PrimaryKeyIndexes<Row, Key>({
    primaryKey: keyOf,
    queryAll: query,
    querySome: (keys) =>
      access.linkQuery(
        query,
        key,
        keys.map((one) => (key.length === 1 ? [one] : (one as readonly KeyPart[]))),
      ),
  });
  const table = new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'measured' }), { meterProvider: false });
  let last: LoadProgress | undefined;
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  try {
    await table.load(
      { index: 'primaryKey', all: true },
      {
        onProgress: (progress) => {
          last = progress;
          onProgress?.(progress);
        },
      },
    );
    return {
      rows: last?.rows ?? 0,
      seconds: (performance.now() - started) / 1000,
      estimatedBytes: last?.bytes ?? 0,
      heapGrowthBytes: process.memoryUsage().heapUsed - heapBefore,
      expectedRows: last?.expectedRows,
    };
  } finally {
    await table.close();
  }
}

/** One fact per line, stable enough to grep. */
export function describeMeasurement(measurement: LoadMeasurement): string {
  const { rows, seconds, estimatedBytes, heapGrowthBytes, expectedRows } = measurement;
  const perRow = (bytes: number) => (rows === 0 ? '' : ` (${Math.round(bytes / rows)} B a row)`);
  return [
    `rows: ${rows}${expectedRows === undefined ? '' : ` (the planner expected ${Math.round(expectedRows)})`}`,
    `load: ${seconds.toFixed(2)} s, ${Math.round(rows / Math.max(seconds, 0.001))} rows/s`,
    `memory, estimated: ${formatBytes(estimatedBytes)}${perRow(estimatedBytes)}`,
    `heap growth: ${formatBytes(heapGrowthBytes)}${perRow(heapGrowthBytes)} (measured around the load; includes garbage not yet collected)`,
    '',
  ].join('\n');
}
