export { OwnerUnavailableError, StorageFullError, UnstorableValueError } from './errors.js';
export { type OpenSharedTableOptions, openSharedTable } from './open-shared-table.js';
export { SharedTableReader, type SharedTableReaderOptions, type SharedTableReaderStatus } from './reader/shared-table-reader.js';
export { SharedMemoryStorageTable, type SharedMemoryStorageTableOptions } from './shared-memory-storage-table.js';
export type { SharedStorageHandle } from './shared-storage-handle.js';
export { SharedStorageView, type SharedStorageViewOptions, type StorageSnapshot } from './shared-storage-view.js';
