export { LocalStorageTable, type LocalStorageTableOptions } from './local-storage-table.js';
export { BTreeRange } from './range/btree-range.js';
export type { RangeStructure } from './range/range-structure.js';
export { SortedArrayRange } from './range/sorted-array-range.js';
export { SortedBlocksRange } from './range/sorted-blocks-range.js';
