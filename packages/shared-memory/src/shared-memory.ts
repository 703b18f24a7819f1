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
 * Views of one growable SharedArrayBuffer. The views have a fixed length (V8 reads through
 * length-tracking views some 20 times slower) and are made again by `refresh` when the buffer
 * has grown: the owner refreshes when it grows the buffer, a reader before an attempt that finds
 * the heap past its views.
 * `check` bounds an offset by the views' length, so a read of torn memory (an offset from a
 * half-done write, or past what this thread has refreshed to) raises instead of reading anywhere.
 */
export class SharedMemory {
  readonly buffer: SharedArrayBuffer;
  bytes: Uint8Array;
  words: Uint32Array;
  readonly signedWords: Int32Array;
  data: DataView;
  /** The length the views cover. */
  length: number;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.length = buffer.byteLength;
    this.bytes = new Uint8Array(buffer, 0, this.length);
    this.words = new Uint32Array(buffer, 0, this.length >>> 2);
    // Only its first words are used (atomics on the sequence): the initial length always covers them.
    this.signedWords = new Int32Array(buffer, 0, 64);
    this.data = new DataView(buffer, 0, this.length);
  }

  /** Makes the views cover the whole buffer if it has grown. */
  refresh(): void {
    const length = this.buffer.byteLength;
    if (length === this.length) return;
    this.length = length;
    this.bytes = new Uint8Array(this.buffer, 0, length);
    this.words = new Uint32Array(this.buffer, 0, length >>> 2);
    this.data = new DataView(this.buffer, 0, length);
  }

  /** Word `index` of the buffer, checked to be inside it. */
  word(index: number): number {
    const value = this.words[index];
    if (value === undefined) throw new TornReadError(`word ${index} is outside the buffer`);
    return value;
  }

  /** `offset` itself, checked so that `length` bytes from it are inside the views. */
  check(offset: number, length: number): number {
    if (offset < 0 || length < 0 || offset + length > this.length) {
      throw new TornReadError(`bytes ${offset}..${offset + length} are outside the buffer`);
    }
    return offset;
  }
}
