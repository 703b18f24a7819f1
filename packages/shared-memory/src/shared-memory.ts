import { TornReadError } from './errors.js';

/** What ES2024 adds to SharedArrayBuffer (Node 20 has it; the project's lib is ES2023). */
interface GrowableSharedArrayBuffer extends SharedArrayBuffer {
  grow(byteLength: number): void;
}

/** A SharedArrayBuffer of `initial` bytes that can grow in place up to `max` (other threads see it grow). */
export function growableBuffer(initial: number, max: number): SharedArrayBuffer {
  const Growable = SharedArrayBuffer as unknown as new (byteLength: number, options: { maxByteLength: number }) => SharedArrayBuffer;
  return new Growable(initial, { maxByteLength: max });
}

/** Grows `buffer` (made by growableBuffer) to `byteLength`. */
export function growBuffer(buffer: SharedArrayBuffer, byteLength: number): void {
  (buffer as GrowableSharedArrayBuffer).grow(byteLength);
}

/**
 * Views of one growable SharedArrayBuffer. The views track its length, so memory the owner
 * grows is visible here at once; `check` bounds an offset against that length, so a read of
 * torn memory (an offset from a half-done write) raises instead of reading anywhere.
 */
export class SharedMemory {
  readonly buffer: SharedArrayBuffer;
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  readonly signedWords: Int32Array;
  readonly data: DataView;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.bytes = new Uint8Array(buffer);
    this.words = new Uint32Array(buffer);
    this.signedWords = new Int32Array(buffer);
    this.data = new DataView(buffer);
  }

  /** Word `index` of the buffer, checked to be inside it. */
  word(index: number): number {
    const value = this.words[index];
    if (value === undefined) throw new TornReadError(`word ${index} is outside the buffer`);
    return value;
  }

  /** `offset` itself, checked so that `length` bytes from it are inside the buffer. */
  check(offset: number, length: number): number {
    if (offset < 0 || offset + length > this.buffer.byteLength || length < 0) {
      throw new TornReadError(`bytes ${offset}..${offset + length} are outside the buffer`);
    }
    return offset;
  }
}
