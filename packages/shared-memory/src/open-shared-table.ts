import { type Indexes, type IndexSpec, InvalidOptionsError, type Key } from '@tablecache/core';
import { SharedTableReader, type SharedTableReaderOptions } from './reader/shared-table-reader.js';
import type { SharedStorageHandle } from './shared-storage-handle.js';
import { SharedStorageView } from './shared-storage-view.js';

export interface OpenSharedTableOptions extends SharedTableReaderOptions {
  /**
   * Keep the records this thread decoded, by where they are stored and when they were written, so
   * a record read again is not decoded again (a replaced one never is served from it). Records
   * read are then shared between reads: do not change them. Default false.
   */
  readonly decodedCache?: boolean;
}

/**
 * Opens, on any thread, a table that a `SharedMemoryStorageTable` elsewhere holds: `handle` is
 * its `handle()`, sent with `postMessage`; `indexes` are built the same way as the owner's (the
 * storage layout is checked against the handle's). The reader's records and specs are typed
 * by `indexes`, like the owner's table.
 */
export async function openSharedTable<R, S extends IndexSpec, K extends Key>(
  handle: unknown,
  indexes: Indexes<R, S, K>,
  options: OpenSharedTableOptions = {},
): Promise<SharedTableReader<R, S, K>> {
  const { decodedCache = false, ...readerOptions } = options;
  if (typeof decodedCache !== 'boolean') throw new InvalidOptionsError(`decodedCache must be a boolean; got ${String(decodedCache)}`);
  const view = SharedStorageView.open<R>(handle, indexes, { decodedCache });
  const { name, channel } = handle as SharedStorageHandle;
  return new SharedTableReader<R, S, K>(name, view, channel, indexes, readerOptions);
}
