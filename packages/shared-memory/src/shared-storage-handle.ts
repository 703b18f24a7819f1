import { InvalidOptionsError, type StorageLayout } from '@tablecache/core';
import { FORMAT, MAGIC, MAGIC_VALUE, VERSION } from './memory-layout.js';

/** What a worker needs to open a view of a table: plain data, sent with postMessage (the buffer is shared, not copied). */
export interface SharedStorageHandle {
  readonly format: typeof FORMAT;
  readonly version: typeof VERSION;
  readonly name: string;
  /** A random id fixed when the table was made, for the layer that talks to its owner. */
  readonly channel: string;
  readonly buffer: SharedArrayBuffer;
  /** The table's secondary indexes in the order its buffer keeps them. */
  readonly indexes: readonly { readonly name: string; readonly kind: 'unique' | 'hash' | 'range' }[];
}

/** The handle, checked to be one of this format and version, for this layout; InvalidOptionsError says what differs. */
export function checkHandle<R>(handle: unknown, layout: StorageLayout<R>): SharedStorageHandle {
  if (typeof handle !== 'object' || handle === null)
    throw new InvalidOptionsError(`a shared storage handle must be an object; got ${String(handle)}`);
  const h = handle as Partial<Record<keyof SharedStorageHandle, unknown>>;
  if (h.format !== FORMAT) throw new InvalidOptionsError(`not a shared storage handle: its format is ${String(h.format)}, not '${FORMAT}'`);
  if (h.version !== VERSION)
    throw new InvalidOptionsError(`a shared storage handle of version ${String(h.version)}; this reads version ${VERSION}`);
  if (!(h.buffer instanceof SharedArrayBuffer) || h.buffer.byteLength < 8 || new Uint32Array(h.buffer)[MAGIC] !== MAGIC_VALUE) {
    throw new InvalidOptionsError('a shared storage handle must carry the SharedArrayBuffer of a shared-memory table');
  }
  if (typeof h.name !== 'string' || typeof h.channel !== 'string' || !Array.isArray(h.indexes)) {
    throw new InvalidOptionsError('a shared storage handle needs a name, a channel and its indexes');
  }
  const theirs = (h.indexes as { name: unknown; kind: unknown }[]).map(({ name, kind }) => `${String(name)} (${String(kind)})`);
  const ours = Object.entries(layout.storageIndexes).map(([name, { kind }]) => `${name} (${kind})`);
  const missing = theirs.filter((index) => !ours.includes(index));
  const extra = ours.filter((index) => !theirs.includes(index));
  if (missing.length > 0 || extra.length > 0) {
    throw new InvalidOptionsError(
      `the layout's storage indexes differ from table '${h.name}'s: ${[
        missing.length > 0 ? `the table has ${missing.join(', ')} and the layout does not` : '',
        extra.length > 0 ? `the layout has ${extra.join(', ')} and the table does not` : '',
      ]
        .filter((part) => part !== '')
        .join('; ')}`,
    );
  }
  return handle as SharedStorageHandle;
}
