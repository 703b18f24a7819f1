import pg from 'pg';
import { SlotInUseError } from './logical-errors.js';
import { type Lsn, parseLsn } from './lsn.js';

/** A connection or pool to run the slot queries on; a connection string opens (and closes) a connection for the call. */
export type SlotQueryTarget = string | Pick<pg.Pool, 'query'>;

export interface SlotLag {
  /** WAL the server keeps for the slot: from its confirmed position to the current end of the WAL. */
  readonly lagBytes: bigint;
  /** A stream reads from it now. */
  readonly active: boolean;
  /** The last position acknowledged as flushed; undefined before the first. */
  readonly confirmedFlush: Lsn | undefined;
}

/**
 * Drops a replication slot; harmless when it does not exist. A slot a stream reads from cannot be
 * dropped: `SlotInUseError`.
 */
export async function dropReplicationSlot(target: SlotQueryTarget, slot: string): Promise<void> {
  try {
    await withTarget(target, (db) =>
      db.query('SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1', [slot]),
    );
  } catch (error) {
    if ((error as { code?: unknown }).code === '55006') throw new SlotInUseError(slot, error);
    throw error;
  }
}

/** The slot's lag (for metrics), or undefined when it does not exist. */
export async function readSlotLag(target: SlotQueryTarget, slot: string): Promise<SlotLag | undefined> {
  const { rows } = await withTarget(target, (db) =>
    db.query<{ lag: string | null; active: boolean; confirmed: string | null }>(
      `SELECT (pg_catalog.pg_current_wal_lsn() - confirmed_flush_lsn)::text AS lag, active, confirmed_flush_lsn::text AS confirmed
       FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`,
      [slot],
    ),
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    lagBytes: row.lag === null ? 0n : BigInt(row.lag),
    active: row.active,
    confirmedFlush: row.confirmed === null ? undefined : parseLsn(row.confirmed),
  };
}

async function withTarget<T>(target: SlotQueryTarget, use: (db: Pick<pg.Pool, 'query'>) => Promise<T>): Promise<T> {
  if (typeof target !== 'string') return use(target);
  const client = new pg.Client({ connectionString: target });
  client.on('error', () => undefined); // its query rejects with the same error
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}
