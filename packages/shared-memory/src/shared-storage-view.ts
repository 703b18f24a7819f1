import type { Key, StorageLayout, StorageRecordsSpec } from '@tablecache/core';
import { placeIndexes } from './indexed-layout.js';
import { readConsistently } from './seqlock.js';
import { SharedMemory } from './shared-memory.js';
import { checkHandle } from './shared-storage-handle.js';
import { TableReader } from './table-reader.js';

/** A table as it was at one commit, inside a `SharedStorageView.read`. */
export interface StorageSnapshot<R> {
  readonly size: number;
  get(primaryKey: Key): R | undefined;
  /** Same semantics as StorageTable.getRecords. */
  getRecords(spec: StorageRecordsSpec<R>): R[];
  /** The value last published under `slot` at this commit (undefined if none), decoded once per published version. */
  published(slot: string): unknown;
  /** A number that changes whenever `slot` is published again (0 if it never was). */
  publishedVersion(slot: string): number;
}

export interface SharedStorageViewOptions {
  /**
   * Keep decoded records (by their block and write stamp) and hand out the same object while
   * the record is unchanged: reads cost a lookup instead of a decode, and the records read
   * are shared, so callers must not change them. Off by default.
   */
  readonly decodedCache?: boolean;
}

/**
 * Reads a SharedMemoryStorageTable from any thread (its owner's too) through the handle the
 * table gave. Every read runs against one commit; no read writes shared memory.
 */
export class SharedStorageView<R> {
  readonly name: string;
  readonly #memory: SharedMemory;
  readonly #reader: TableReader<R>;
  readonly #snapshot: StorageSnapshot<R>;

  private constructor(name: string, memory: SharedMemory, reader: TableReader<R>) {
    this.name = name;
    this.#memory = memory;
    this.#reader = reader;
    this.#snapshot = {
      get size() {
        return reader.size;
      },
      get: (primaryKey) => reader.get(primaryKey),
      getRecords: (spec) => reader.getRecords(spec),
      published: (slot) => reader.published(slot),
      publishedVersion: (slot) => reader.publishedVersion(slot),
    };
  }

  /** Opens a view, checking the handle: its format and version, and that `layout` has the table's indexes (InvalidOptionsError says what differs). */
  static open<R>(handle: unknown, layout: StorageLayout<R>, options: SharedStorageViewOptions = {}): SharedStorageView<R> {
    const checked = checkHandle(handle, layout);
    const memory = new SharedMemory(checked.buffer);
    const indexes = placeIndexes(
      layout,
      checked.indexes.map((index) => index.name),
    );
    return new SharedStorageView(checked.name, memory, new TableReader(memory, indexes, { decodedCache: options.decodedCache === true }));
  }

  /**
   * Runs `read` against one commit: if a write interleaved, it runs again (so it may run more
   * than once; it should only read). An exception it throws propagates when no write interleaved.
   */
  read<T>(read: (at: StorageSnapshot<R>) => T): T {
    return readConsistently(this.#memory, this.#reader, read, this.#snapshot);
  }
}
