import { TornReadError } from '../errors.js';
import type { SharedMemory } from '../shared-memory.js';
import { latin1 } from './latin1.js';
import * as tag from './tags.js';

/** What a shape's constructor reads its values from, in order. */
export interface ValueReader {
  next(): unknown;
}

/** Builds an object of one shape, reading its values in order from `values`. */
export type ShapeConstructor = (values: ValueReader) => Record<string, unknown>;

/** The shapes a decoder knows; `load` brings in shapes stored since (it returns the constructors). */
export interface ShapeCatalog {
  readonly constructors: readonly ShapeConstructor[];
  /** Loads shapes stored since the last load; returns whether `id` is now known. */
  load(id: number): boolean;
}

/**
 * Decodes values stored by ValueEncoder from shared memory, never reading past `end`: memory a
 * write is changing can hold anything, so every length and tag is checked and anything that
 * makes no sense raises TornReadError (the read then runs again).
 */
export class ValueDecoder implements ValueReader {
  readonly #memory: SharedMemory;
  readonly #shapes: ShapeCatalog | undefined;
  /** Where the next value starts. */
  position = 0;
  #end = 0;

  constructor(memory: SharedMemory, shapes?: ShapeCatalog) {
    this.#memory = memory;
    this.#shapes = shapes;
  }

  /** The value at `at`, which must end by `end`; `position` is then just past it. */
  decode(at: number, end: number): unknown {
    this.position = at;
    this.#end = Math.min(end, this.#memory.bytes.length);
    return this.next();
  }

  /** Moves `position` past the value at `at` without building it. */
  skip(at: number, end: number): number {
    this.position = at;
    this.#end = Math.min(end, this.#memory.bytes.length);
    this.#skipNext();
    return this.position;
  }

  #need(count: number): number {
    const at = this.position;
    if (at + count > this.#end || count < 0) throw new TornReadError(`a value runs past its block at ${at}`);
    this.position = at + count;
    return at;
  }

  #u32(): number {
    const p = this.#need(4);
    const b = this.#memory.bytes;
    return ((b[p] as number) | ((b[p + 1] as number) << 8) | ((b[p + 2] as number) << 16) | ((b[p + 3] as number) << 24)) >>> 0;
  }

  /**
   * The value at `position`, moving past it. The usual column values (small integers, short
   * one-byte strings, null) are decoded here and the rest in #tagged, so that V8 inlines this
   * into a shape's constructor.
   */
  next(): unknown {
    const b = this.#memory.bytes;
    const code = b[this.#need(1)] as number;
    if (code <= tag.FIXINT_MAX) return code;
    if (code < tag.FIXARRAY) {
      const n = code - tag.FIXSTR;
      return latin1(b, this.#need(n), n);
    }
    return code === tag.NULL ? null : this.#tagged(code);
  }

  /** The value after tag `code` (not one next decodes itself). */
  #tagged(code: number): unknown {
    const b = this.#memory.bytes;
    if (code >= tag.FIXSHAPED) return this.#shaped(code - tag.FIXSHAPED);
    if (code < tag.NULL) return this.#array(code - tag.FIXARRAY);
    switch (code) {
      case tag.UNDEFINED:
        return undefined;
      case tag.FALSE:
        return false;
      case tag.TRUE:
        return true;
      case tag.INT8:
        return ((b[this.#need(1)] as number) << 24) >> 24;
      case tag.INT16: {
        const p = this.#need(2);
        return (((b[p] as number) | ((b[p + 1] as number) << 8)) << 16) >> 16;
      }
      case tag.INT24: {
        const p = this.#need(3);
        return (((b[p] as number) | ((b[p + 1] as number) << 8) | ((b[p + 2] as number) << 16)) << 8) >> 8;
      }
      case tag.INT32: {
        const p = this.#need(4);
        return (b[p] as number) | ((b[p + 1] as number) << 8) | ((b[p + 2] as number) << 16) | ((b[p + 3] as number) << 24);
      }
      case tag.FLOAT64:
        return this.#memory.data.getFloat64(this.#need(8), true);
      case tag.LATIN1: {
        const n = this.#u32();
        return latin1(b, this.#need(n), n);
      }
      case tag.UTF16: {
        const n = this.#u32();
        const p = this.#need(2 * n);
        return Buffer.from(b.buffer, b.byteOffset + p, 2 * n).toString('utf16le');
      }
      case tag.BIGINT: {
        const n = this.#u32();
        const digits = latin1(b, this.#need(n), n);
        return digits.startsWith('-') ? -BigInt(`0x${digits.slice(1)}`) : BigInt(`0x${digits}`);
      }
      case tag.DATE:
        return new Date(this.#memory.data.getFloat64(this.#need(8), true));
      case tag.BYTES: {
        const n = this.#u32();
        const p = this.#need(n);
        return b.slice(p, p + n);
      }
      case tag.BUFFER: {
        const n = this.#u32();
        const p = this.#need(n);
        return Buffer.from(b.subarray(p, p + n));
      }
      case tag.ARRAY:
        return this.#array(this.#u32());
      case tag.OBJECT: {
        const n = this.#u32();
        const object: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const name = this.next();
          if (typeof name !== 'string') throw new TornReadError('a property name is not a string');
          // defineProperty, so that a property named __proto__ is a property, not the prototype.
          Object.defineProperty(object, name, { value: this.next(), enumerable: true, writable: true, configurable: true });
        }
        return object;
      }
      case tag.SHAPED:
        return this.#shaped(this.#u32());
      default:
        throw new TornReadError(`unknown tag ${code}`);
    }
  }

  #array(n: number): unknown[] {
    // Every value takes at least a byte: a length past the end is torn memory, not a huge array.
    if (n > this.#end - this.position) throw new TornReadError(`an array of ${n} cannot fit`);
    const array = new Array<unknown>(n);
    for (let i = 0; i < n; i++) array[i] = this.next();
    return array;
  }

  #shaped(id: number): Record<string, unknown> {
    const shapes = this.#shapes;
    if (shapes === undefined) throw new TornReadError('an object of a shape where none are stored');
    let make = shapes.constructors[id];
    if (make === undefined) {
      if (!shapes.load(id)) throw new TornReadError(`unknown shape ${id}`);
      make = shapes.constructors[id] as ShapeConstructor;
    }
    return make(this);
  }

  #skipNext(): void {
    const b = this.#memory.bytes;
    const code = b[this.#need(1)] as number;
    if (code <= tag.FIXINT_MAX || (code >= tag.NULL && code <= tag.TRUE)) return;
    if (code < tag.FIXARRAY) {
      this.#need(code - tag.FIXSTR);
      return;
    }
    if (code < tag.NULL) {
      for (let i = code - tag.FIXARRAY; i > 0; i--) this.#skipNext();
      return;
    }
    switch (code) {
      case tag.INT8:
        this.#need(1);
        return;
      case tag.INT16:
        this.#need(2);
        return;
      case tag.INT24:
        this.#need(3);
        return;
      case tag.INT32:
        this.#need(4);
        return;
      case tag.FLOAT64:
      case tag.DATE:
        this.#need(8);
        return;
      case tag.LATIN1:
      case tag.BIGINT:
      case tag.BYTES:
      case tag.BUFFER:
        this.#need(this.#u32());
        return;
      case tag.UTF16:
        this.#need(2 * this.#u32());
        return;
      default:
        // Keys (what is skipped) are never objects; anything else is decoded to be skipped.
        this.position--;
        this.next();
    }
  }
}
