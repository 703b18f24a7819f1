/**
 * A stored record is one allocator block:
 *
 *     word 0   the block's size (the allocator's)
 *     word 1   its write stamp: new for every record written, so that a reader's cache of
 *              decoded records can tell a record from a later one in the same block
 *     then     per hash or unique index, two words: the index node holding the record and the
 *              record's place in that node's list (so removal moves one entry, not a search)
 *     then     the encoded primary key, the encoded score of every range index in order, and
 *              the encoded record
 */
export const RECORD_STAMP_WORD = 1;
export const RECORD_HEADER_BYTES = 8;

/** Where the primary key of a record starts, given how many hash indexes the table has. */
export function keysOffset(hashIndexes: number): number {
  return RECORD_HEADER_BYTES + 8 * hashIndexes;
}
