export { LocalStorageTable, type LocalStorageTableOptions } from './local-storage-table.js';
