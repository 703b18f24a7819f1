import type { Allocator } from './allocator.js';
import type { ShapeSource } from './codec/value-encoder.js';
import { ValueEncoder } from './codec/value-encoder.js';
import { SHAPE_CAPACITY, SHAPE_COUNT, SHAPES } from './memory-layout.js';
import type { SharedMemory } from './shared-memory.js';

/** Past this many shapes, new ones keep their property names inline in each object. */
const MAX_SHAPES = 4096;
const INITIAL_CAPACITY = 64;

/**
 * The owner's side of the shape registry: stores each new list of property names in the buffer
 * (in a write section of its own, or joining the current one) for readers to load.
 */
export class SharedShapeStore implements ShapeSource {
  readonly #memory: SharedMemory;
  readonly #allocator: Allocator;
  readonly #section: <T>(write: () => T) => T;
  readonly #encoder = new ValueEncoder();

  constructor(memory: SharedMemory, allocator: Allocator, section: <T>(write: () => T) => T) {
    this.#memory = memory;
    this.#allocator = allocator;
    this.#section = section;
  }

  initialize(): void {
    const words = this.#memory.words;
    words[SHAPES] = this.#allocator.allocate(8 + 4 * INITIAL_CAPACITY);
    words[SHAPE_CAPACITY] = INITIAL_CAPACITY;
    words[SHAPE_COUNT] = 0;
  }

  shapeOf(names: readonly string[]): number | undefined {
    const words = this.#memory.words;
    const id = words[SHAPE_COUNT] as number;
    if (id >= MAX_SHAPES) return undefined;
    const encoded = this.#encoder.encode(names);
    const allocator = this.#allocator;
    const capacity = words[SHAPE_CAPACITY] as number;
    allocator.reserve(id === capacity ? [8 + encoded.length, 8 + 8 * capacity] : [8 + encoded.length]);
    return this.#section(() => {
      const block = allocator.allocate(8 + encoded.length);
      this.#memory.bytes.set(encoded, block + 8);
      if (id === capacity) {
        const old = words[SHAPES] as number;
        const refs = allocator.allocate(8 + 8 * capacity);
        words.copyWithin((refs >>> 2) + 2, (old >>> 2) + 2, (old >>> 2) + 2 + capacity);
        words[SHAPES] = refs;
        words[SHAPE_CAPACITY] = 2 * capacity;
        allocator.free(old);
      }
      words[((words[SHAPES] as number) >>> 2) + 2 + id] = block;
      words[SHAPE_COUNT] = id + 1;
      return id;
    });
  }
}
