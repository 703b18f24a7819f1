import { Observations, type TablecacheInstruments, tablecacheInstruments } from './instruments.js';
import type { MeterLike } from './opentelemetry-shapes.js';

/** What a table's gauges read at collection time: plain fields, so the hot paths pay nothing. */
export interface TableMetricsSource {
  records(): number;
  memoryBytes(): number;
  invalidPending(): number;
  reads(): { readonly memory: number; readonly database: number };
}

export type QueryReason = 'load' | 'refresh' | 'adjust' | 'read';
export type Outcome = 'ok' | 'error';

/**
 * One table's measurements. Events (a load, a refresh, a query, a change made visible) are
 * recorded as they happen; what changes on every read is observed only when a reader collects.
 * Without a meter every call returns at once.
 */
export class TableMetrics {
  readonly #instruments: TablecacheInstruments | undefined;
  readonly #table: { readonly table: string };
  readonly #observations = new Observations();

  constructor(meter: MeterLike | undefined, table: string, source: TableMetricsSource) {
    this.#table = { table };
    if (meter === undefined) return;
    const instruments = tablecacheInstruments(meter);
    this.#instruments = instruments;
    const labels = this.#table;
    this.#observations.add(instruments.records, (result) => result.observe(source.records(), labels));
    this.#observations.add(instruments.memoryBytes, (result) => result.observe(source.memoryBytes(), labels));
    this.#observations.add(instruments.invalidPending, (result) => result.observe(source.invalidPending(), labels));
    this.#observations.add(instruments.reads, (result) => {
      const { memory, database } = source.reads();
      result.observe(memory, { table, source: 'memory' });
      result.observe(database, { table, source: 'database' });
    });
  }

  /** Whether anything is measured: callers skip work (timestamps) that only measurements need. */
  get enabled(): boolean {
    return this.#instruments !== undefined;
  }

  loadFinished(seconds: number, rows: number, outcome: Outcome): void {
    const instruments = this.#instruments;
    if (instruments === undefined) return;
    const { table } = this.#table;
    instruments.loads.add(1, { table, outcome });
    instruments.loadDuration.record(seconds, { table, outcome });
    if (rows > 0) instruments.loadRows.add(rows, this.#table);
  }

  writeFinished(operation: 'refresh' | 'adjust', seconds: number, rows: number, outcome: Outcome): void {
    const instruments = this.#instruments;
    if (instruments === undefined) return;
    const { table } = this.#table;
    instruments.refreshes.add(1, { table, operation, outcome });
    instruments.refreshDuration.record(seconds, { table, operation, outcome });
    if (rows > 0) instruments.refreshRows.add(rows, { table, operation });
  }

  query(reason: QueryReason): void {
    this.#instruments?.queries.add(1, { table: this.#table.table, reason });
  }

  /**
   * A change committed at `committedAtMs` (milliseconds since the epoch, the database server's
   * clock) is now visible to reads. A server clock ahead of this one would give a negative lag:
   * it counts as 0.
   */
  changeVisible(committedAtMs: number): void {
    this.#instruments?.changeLag.record(Math.max(0, Date.now() - committedAtMs) / 1000, this.#table);
  }

  /** Stops observing: a closed table or feed must not keep reporting, nor be kept alive by the meter. */
  close(): void {
    this.#observations.clear();
  }
}
