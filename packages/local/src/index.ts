export { LocalStorageTable, type LocalStorageTableOptions } from './local-storage-table.js';
export { comparePrimaryKeys, type RangeEntry, type RangeStructure } from './range/range-structure.js';
export { SortedBlocksRange } from './range/sorted-blocks-range.js';
