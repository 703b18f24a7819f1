/** Transaction ids wrap every 2^32; the server's snapshots count them with their epoch (xid8). */
const XID_SPAN = 2n ** 32n;

/** A snapshot as `pg_current_snapshot()` gives it: `xmin:xmax:xip,…`. */
export interface Snapshot {
  /** Every transaction below it has ended. */
  readonly xmin: bigint;
  /** No transaction from it on has ended. */
  readonly xmax: bigint;
  /** Between them, those still running. */
  readonly running: ReadonlySet<bigint>;
}

export function parseSnapshot(text: string): Snapshot {
  const [xmin, xmax, running = ''] = text.split(':');
  if (xmin === undefined || xmax === undefined) throw new Error(`not a snapshot: ${text}`);
  return { xmin: BigInt(xmin), xmax: BigInt(xmax), running: new Set(running === '' ? [] : running.split(',').map(BigInt)) };
}

/**
 * Whether a transaction that committed (its commit came through the stream) is visible in
 * `snapshot`. pgoutput gives its 32-bit xid; it is placed in the epoch next to the snapshot's
 * xmax: a just-committed transaction is less than 2^31 away from it.
 */
export function visibleIn(xid: number, snapshot: Snapshot): boolean {
  const epoch = (snapshot.xmax / XID_SPAN) * XID_SPAN;
  let full = epoch + BigInt(xid);
  if (full - snapshot.xmax >= XID_SPAN / 2n) full -= XID_SPAN;
  return full < snapshot.xmax && !snapshot.running.has(full);
}

/**
 * Holds each committed transaction back until new snapshots see it. The walsender sends a commit
 * once its WAL is flushed, which is a moment before the committing backend leaves the list of
 * running transactions: a refresh that queried the database in between would read the rows as
 * they were, mark them valid, and keep them stale. Snapshots are read on one connection, one at
 * a time, each answering every transaction waiting when it returns; a transaction a snapshot
 * still shows running leaves that list within moments of its commit record, and the next one sees it.
 */
export class VisibilityGate {
  readonly #snapshot: () => Promise<string>;
  readonly #waiting = new Map<number, { readonly resolve: () => void; readonly reject: (error: unknown) => void }[]>();
  #reading = false;
  /** The last snapshot read: what it sees needs no new one (visibility only grows). */
  #latest: Snapshot | undefined;

  /** `snapshot` returns `pg_current_snapshot()::text`. */
  constructor(snapshot: () => Promise<string>) {
    this.#snapshot = snapshot;
  }

  /** Resolves once transaction `xid` (committed) is visible to new snapshots; rejects when snapshots cannot be read. */
  visible(xid: number): Promise<void> {
    if (this.#latest !== undefined && visibleIn(xid, this.#latest)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiters = this.#waiting.get(xid) ?? [];
      waiters.push({ resolve, reject });
      this.#waiting.set(xid, waiters);
      this.#read().catch((error: unknown) => {
        for (const waiters of this.#waiting.values()) for (const waiter of waiters) waiter.reject(error);
        this.#waiting.clear();
      });
    });
  }

  async #read(): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    try {
      while (this.#waiting.size > 0) {
        // One turn of the event loop first: the commits of the same read from the socket (many,
        // under load) wait together, and one snapshot answers them all.
        await new Promise((resolve) => setImmediate(resolve));
        const snapshot = parseSnapshot(await this.#snapshot());
        this.#latest = snapshot;
        for (const [xid, waiters] of this.#waiting) {
          if (!visibleIn(xid, snapshot)) continue;
          this.#waiting.delete(xid);
          for (const waiter of waiters) waiter.resolve();
        }
      }
    } finally {
      this.#reading = false;
    }
  }
}
