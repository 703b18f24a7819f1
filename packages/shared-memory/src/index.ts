export { StorageFullError, UnstorableValueError } from './errors.js';
export { SharedMemoryStorageTable, type SharedMemoryStorageTableOptions } from './shared-memory-storage-table.js';
export type { SharedStorageHandle } from './shared-storage-handle.js';
export { SharedStorageView, type SharedStorageViewOptions, type StorageSnapshot } from './shared-storage-view.js';
