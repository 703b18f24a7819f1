/**
 * Where things are in the buffer: a header of 32-bit words at fixed places, then the heap the
 * allocator hands out. Offsets stored in the buffer are byte offsets into it (0 means none).
 */
export const FORMAT = 'tablecache/shared-memory';
export const VERSION = 1;
/** Written at MAGIC so that a reader can tell a buffer of this format (and version) from others. */
export const MAGIC_VALUE = 0x7ab1e001;

/** The seqlock sequence: odd while a write section runs. */
export const SEQ = 0;
export const MAGIC = 1;
/** The first byte the allocator has never handed out. */
export const BUMP = 2;
/** Bytes sitting in free lists, for `usedBytes`. */
export const FREE_BYTES = 3;
/** The last write stamp given to a record (a record's stamp tells its versions at one place apart). */
export const STAMP = 4;
export const RECORD_COUNT = 5;
export const PK_TABLE = 6;
export const PK_CAPACITY = 7;
/** A block of shape refs (each a stored array of property names), its count and capacity. */
export const SHAPES = 8;
export const SHAPE_COUNT = 9;
export const SHAPE_CAPACITY = 10;
/** The last version given to a published value. */
export const PUBLISH_VERSION = 11;
/** How many readers wait for the sequence to turn even, so that a write notifies only when someone waits. */
export const WAITERS = 12;

/** Published slots, 3 words each: the ref of the stored name, of the stored value, and the version. */
export const SLOTS = 16;
export const MAX_SLOTS = 16;
export const SLOT_WORDS = 3;

/** Secondary indexes in layout order, 4 words each (their meaning depends on the kind). */
export const INDEXES = 64;
export const MAX_INDEXES = 32;
export const INDEX_WORDS = 4;

/** Free-list heads by size class, then how many blocks each list holds. */
export const FREE_HEADS = 256;
export const SIZE_CLASSES = 128 + 22 * 8;
export const FREE_COUNTS = FREE_HEADS + SIZE_CLASSES;

export const HEADER_BYTES = 4096;
