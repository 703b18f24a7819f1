import { StorageFullError } from './errors.js';
import { BUMP, FREE_BYTES, FREE_COUNTS, FREE_HEADS, HEADER_BYTES } from './memory-layout.js';
import { growBuffer, type SharedMemory } from './shared-memory.js';

/** Sizes up to this have a class every 8 bytes; above, 8 classes per power of two (at most 12.5% lost). */
const SMALL_LIMIT = 1024;
/** The buffer grows by at least this much, so that a fill does not grow it for every record. */
const MIN_GROWTH = 1 << 20;

/** A block's size class and the size it is rounded up to. */
export function sizeClass(bytes: number): { readonly index: number; readonly size: number } {
  if (bytes <= SMALL_LIMIT) {
    const size = Math.max(8, (bytes + 7) & ~7);
    return { index: (size >>> 3) - 1, size };
  }
  const exponent = 31 - Math.clz32(bytes - 1); // 2^exponent < bytes <= 2^(exponent + 1)
  const step = 2 ** (exponent - 3);
  const size = Math.ceil(bytes / step) * step;
  return { index: 128 + (exponent - 10) * 8 + (size / step - 9), size };
}

/**
 * Hands out blocks of the buffer's heap: from a free list of the block's size class when it has
 * one, else from the end of what was ever handed out, growing the buffer (up to `maxBytes`). A
 * block's first word holds its size, so freeing needs nothing else; a free block's second word
 * links to the next one. Only the owner's thread allocates.
 */
export class Allocator {
  readonly #memory: SharedMemory;
  readonly #maxBytes: number;
  readonly #table: string;

  constructor(memory: SharedMemory, maxBytes: number, table: string) {
    this.#memory = memory;
    this.#maxBytes = maxBytes;
    this.#table = table;
  }

  /** Sets up an empty heap right after the header. */
  initialize(): void {
    const words = this.#memory.words;
    words[BUMP] = HEADER_BYTES;
    words[FREE_BYTES] = 0;
  }

  /** Bytes handed out and not freed (the header included). */
  get usedBytes(): number {
    const words = this.#memory.words;
    return (words[BUMP] as number) - (words[FREE_BYTES] as number);
  }

  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** reserve for one block, without the bookkeeping of many (the path of every put). */
  reserveOne(bytes: number): void {
    const words = this.#memory.words;
    const { index, size } = sizeClass(bytes);
    if ((words[FREE_COUNTS + index] as number) > 0 || (words[BUMP] as number) + size <= this.#memory.length) return;
    this.reserve([bytes]);
  }

  /**
   * Throws StorageFullError (before anything changes) unless blocks of these sizes fit, and
   * grows the buffer so that they fit without growing it again: a write section then never
   * grows it, so the views its code holds stay whole.
   */
  reserve(sizes: Iterable<number>): void {
    const words = this.#memory.words;
    const fromFreeLists = new Map<number, number>();
    let fromEnd = 0;
    for (const bytes of sizes) {
      const { index, size } = sizeClass(bytes);
      const taken = fromFreeLists.get(index) ?? 0;
      if (taken < (words[FREE_COUNTS + index] as number)) fromFreeLists.set(index, taken + 1);
      else fromEnd += size;
    }
    const end = (words[BUMP] as number) + fromEnd;
    if (end > this.#maxBytes) throw new StorageFullError(this.#table, fromEnd, this.usedBytes, this.#maxBytes);
    if (end > this.#memory.length) this.#grow(end, fromEnd);
  }

  /** A block of at least `bytes` (8-aligned, its first word its size); throws StorageFullError if none fits. */
  allocate(bytes: number): number {
    const memory = this.#memory;
    let words = memory.words;
    const { index, size } = sizeClass(bytes);
    const head = words[FREE_HEADS + index] as number;
    if (head !== 0) {
      words[FREE_HEADS + index] = words[(head >>> 2) + 1] as number;
      words[FREE_COUNTS + index] = (words[FREE_COUNTS + index] as number) - 1;
      words[FREE_BYTES] = (words[FREE_BYTES] as number) - size;
      return head;
    }
    const at = words[BUMP] as number;
    const end = at + size;
    if (end > memory.length) {
      // Not reserved: a caller holding views from before would write past them (a bug, but not a silent one here).
      this.#grow(end, bytes);
      words = memory.words;
    }
    words[BUMP] = end;
    words[at >>> 2] = size;
    return at;
  }

  free(block: number): void {
    const words = this.#memory.words;
    const size = words[block >>> 2] as number;
    const { index } = sizeClass(size);
    words[(block >>> 2) + 1] = words[FREE_HEADS + index] as number;
    words[FREE_HEADS + index] = block;
    words[FREE_COUNTS + index] = (words[FREE_COUNTS + index] as number) + 1;
    words[FREE_BYTES] = (words[FREE_BYTES] as number) + size;
  }

  /** The size of a block handed out (what it was rounded up to). */
  sizeOf(block: number): number {
    return this.#memory.words[block >>> 2] as number;
  }

  /** Grows the buffer to hold `end` bytes: doubling, for few grows, but never past `maxBytes`. */
  #grow(end: number, bytes: number): void {
    const buffer = this.#memory.buffer;
    if (end > this.#maxBytes) throw new StorageFullError(this.#table, bytes, this.usedBytes, this.#maxBytes);
    const target = Math.min(this.#maxBytes, Math.max(end, buffer.byteLength * 2, buffer.byteLength + MIN_GROWTH));
    growBuffer(buffer, Math.ceil(target / 8) * 8);
    this.#memory.refresh();
  }
}
