import type { InvalidationSnapshot } from '../table/invalidation-set.js';
import type { StorageTable } from './storage-table.js';

/**
 * What a table publishes for readers on other threads, one slot each, so that they follow the
 * same freshness rules as the table itself: a reader serves a spec from memory only when the
 * table is loaded and trusted, the coverage holds the spec and no invalidation touches it.
 */
export interface PublishedTableState {
  /** `load`: as the table's `status.load`. `trusted`: false while a feed is away and memory may be stale. */
  readonly status: { readonly load: 'idle' | 'loading' | 'loaded' | 'failed' | 'closed'; readonly trusted: boolean };
  /** What the indexes have loaded, as their `loadedSpecs()` (see `Indexes.restoreCoverage`). */
  readonly coverage: readonly unknown[];
  /** What waits for a refresh: the pending invalidations and those being refreshed. */
  readonly validity: readonly InvalidationSnapshot[];
  /** The type of each index's keys, learned from the records (a key of another type is refused, as by the table). */
  readonly keyTypes: readonly (readonly [string, string])[];
}

export type PublishedSlot = keyof PublishedTableState;

/**
 * The reads a table answers for readers on other threads when memory cannot: a spec not
 * covered, invalid, or a table not trusted. The table validates what arrives; records cross as
 * structured clones.
 */
export interface TableOwner<R> {
  readonly name: string;
  getRecords(spec: unknown, options: { readonly signal?: AbortSignal }): Promise<R[]>;
  getFirstRecord(spec: unknown, options: { readonly signal?: AbortSignal }): Promise<R>;
  sync(options: { readonly signal?: AbortSignal; readonly timeoutMs?: number }): Promise<void>;
}

/**
 * Storage that readers on other threads read (shared memory). A table over it publishes its
 * state with every change, in the same atomic step as the records it concerns, and answers
 * what those readers cannot answer from memory.
 */
export interface SharedStorageTable<R> extends StorageTable<R> {
  /** Runs `write` so that readers on other threads see all of its effects or none. Nestable. */
  atomically<T>(write: () => T): T;
  /**
   * Publishes a slot of the table's state, at the commit of the current atomic step. When the
   * value cannot be stored, the slot is withdrawn (readers find nothing there, and serve nothing
   * from memory until it is published again) and the error thrown.
   */
  publish<N extends PublishedSlot>(slot: N, value: PublishedTableState[N]): void;
  /** Starts answering the reads of readers on other threads through `owner`; returns how to stop. */
  serve(owner: TableOwner<R>): () => void;
}

export function isSharedStorageTable<R>(storage: StorageTable<R>): storage is SharedStorageTable<R> {
  const shared = storage as Partial<SharedStorageTable<R>>;
  return typeof shared.atomically === 'function' && typeof shared.publish === 'function' && typeof shared.serve === 'function';
}
