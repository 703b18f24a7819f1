/**
 * Roughly what a value takes in V8's heap: 8 bytes a field or element, 16 a header, strings at
 * a byte a character (most cached text is one-byte). For the memory gauge and load progress of
 * storage in the heap, which sample records rather than walk every one; it is an estimate,
 * within tens of percent of what `process.memoryUsage()` shows for typical rows.
 */
export function approximateBytes(value: unknown, depth = 0): number {
  switch (typeof value) {
    case 'string':
      return 16 + value.length;
    case 'number':
    case 'boolean':
    case 'undefined':
      return 8;
    case 'bigint':
      return 16 + 8 * Math.ceil(value.toString(16).length / 16);
    case 'object': {
      if (value === null) return 8;
      if (value instanceof Date) return 32;
      if (ArrayBuffer.isView(value)) return 64 + value.byteLength;
      // Deep structures are rare in rows; past a few levels, a field's share is a guess anyway.
      if (depth > 4) return 16;
      let bytes = 16;
      for (const field of Array.isArray(value) ? value : Object.values(value)) bytes += 8 + approximateBytes(field, depth + 1);
      return bytes;
    }
    default:
      return 8;
  }
}

/**
 * The mean size of records written, from one record in `every` (and the first): cheap enough to
 * run on every row of a load.
 */
export class RecordSizeSampler {
  readonly #every: number;
  #seen = 0;
  #sampled = 0;
  #sampledBytes = 0;

  constructor(every = 64) {
    this.#every = every;
  }

  /** Counts a record written, measuring it if its turn has come. */
  add(record: unknown): void {
    if (this.#seen++ % this.#every !== 0) return;
    this.#sampled++;
    this.#sampledBytes += approximateBytes(record);
  }

  /** Estimated bytes per record (0 before any record). */
  get meanBytes(): number {
    return this.#sampled === 0 ? 0 : this.#sampledBytes / this.#sampled;
  }
}
