import { type DbAccess, type HashKey, hashKey, type Key, type KeyDecoder, type Query, type RawQuery } from '../index.js';

/** A point where queries of a `MemoryDatabase` stop until released. */
export interface Gate {
  /** Resolves when a query is waiting at the gate. */
  readonly reached: Promise<void>;
  release(): void;
}

/**
 * A database in a `Map`, for engine tests without Postgres. It understands `queryAll`,
 * `querySome(keys)` and `where(description, predicate)`, snapshots its rows when a query starts (as a cursor does),
 * yields them in small batches with a turn of the event loop between, and can be paused or made
 * to fail mid-query to stage races and faults deterministically.
 */
export class MemoryDatabase<R> implements DbAccess {
  readonly rows = new Map<HashKey, R>();
  /** Every query run, in order. */
  readonly queries: RawQuery[] = [];
  readonly queryAll: RawQuery = { sql: 'select all' };
  /** Set to act as an access that decodes change keys as its rows are decoded. */
  decodeKeys?: KeyDecoder;
  /** Set to act as an access whose planner estimates rows. */
  estimateRows?: (query: Query) => Promise<number | undefined>;
  readonly #primaryKey: (record: R) => Key;
  readonly #batchSize: number;
  #gates: { reached: () => void; released: Promise<void> }[] = [];
  #failures: { error: unknown; afterRows: number }[] = [];
  #repeats = 0;

  constructor(primaryKey: (record: R) => Key, options: { batchSize?: number } = {}) {
    this.#primaryKey = primaryKey;
    this.#batchSize = options.batchSize ?? 2;
  }

  querySome = (keys: readonly Key[]): RawQuery => ({ sql: 'select some', parameters: [keys] });

  readonly #predicates = new Map<string, (record: R) => boolean>();

  /**
   * A query for the rows matching `predicate`, described by `description` (which names it in
   * `queries`, so tests can assert what was asked). Rows come in the order of `orderBy`, if given.
   */
  where(description: string, predicate: (record: R) => boolean): RawQuery {
    const sql = `select where ${description}`;
    this.#predicates.set(sql, predicate);
    return { sql };
  }

  set(...records: R[]): void {
    for (const record of records) this.rows.set(hashKey(this.#primaryKey(record)), record);
  }

  delete(...keys: Key[]): void {
    for (const key of keys) this.rows.delete(hashKey(key));
  }

  /** The next query stops before its first batch until the gate is released. */
  pause(): Gate {
    let reached!: () => void;
    let release!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.#gates.push({ reached, released });
    return { reached: reachedPromise, release };
  }

  /** The next query yields its first row twice, as a join that fans out repeats a key. */
  repeatNext(): void {
    this.#repeats++;
  }

  /** The next query fails with `error` after yielding `afterRows` rows. */
  failNext(error: unknown, afterRows = 0): void {
    this.#failures.push({ error, afterRows });
  }

  async *getRecords<T>(query: Query<T>): AsyncGenerator<T> {
    const raw = query as RawQuery;
    this.queries.push(raw);
    const gate = this.#gates.shift();
    const failure = this.#failures.shift();
    const rows = this.#select(raw);
    if (this.#repeats > 0 && rows.length > 0) {
      this.#repeats--;
      rows.push(rows[0] as R);
    }
    if (gate !== undefined) {
      gate.reached();
      await gate.released;
    }
    let yielded = 0;
    for (let i = 0; i < rows.length; i += this.#batchSize) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (const row of rows.slice(i, i + this.#batchSize)) {
        if (failure !== undefined && yielded === failure.afterRows) throw failure.error;
        yielded++;
        yield row as unknown as T;
      }
    }
    if (failure !== undefined) throw failure.error;
  }

  #select(query: RawQuery): R[] {
    if (query.sql === this.queryAll.sql) return [...this.rows.values()];
    if (query.sql === 'select some') {
      const keys = (query.parameters?.[0] ?? []) as Key[];
      return keys.flatMap((key) => {
        const row = this.rows.get(hashKey(key));
        return row === undefined ? [] : [row];
      });
    }
    const predicate = this.#predicates.get(query.sql);
    if (predicate !== undefined) return [...this.rows.values()].filter(predicate);
    throw new Error(`MemoryDatabase does not understand ${JSON.stringify(query)}`);
  }
}
