import { SHAPE_COUNT, SHAPES } from '../memory-layout.js';
import type { SharedMemory } from '../shared-memory.js';
import type { ShapeCatalog, ShapeConstructor } from './value-decoder.js';
import { ValueDecoder } from './value-decoder.js';

/**
 * The object shapes stored in the buffer (each an array of property names), loaded as they
 * appear and turned into constructors. A reader may load shapes from torn memory: `rollback`
 * forgets those loaded since the last `settle`, which a read calls once it knows it was whole.
 */
export class SharedShapeCatalog implements ShapeCatalog {
  readonly #memory: SharedMemory;
  readonly #decoder: ValueDecoder;
  readonly constructors: ShapeConstructor[] = [];
  #settled = 0;

  constructor(memory: SharedMemory) {
    this.#memory = memory;
    this.#decoder = new ValueDecoder(memory);
  }

  load(id: number): boolean {
    const memory = this.#memory;
    const count = memory.word(SHAPE_COUNT);
    if (id >= count) return false;
    const refs = memory.word(SHAPES);
    memory.check(refs, 8 + 4 * count);
    for (let i = this.constructors.length; i < count; i++) {
      const ref = memory.word((refs >>> 2) + 2 + i);
      const size = memory.word(memory.check(ref, 8) >>> 2);
      memory.check(ref, size);
      const names = this.#decoder.decode(ref + 8, ref + size);
      if (!Array.isArray(names) || !names.every((name) => typeof name === 'string')) return false;
      this.constructors.push(shapeConstructor(names));
    }
    return true;
  }

  /** The shapes loaded so far were read from whole memory. */
  settle(): void {
    this.#settled = this.constructors.length;
  }

  /** Forgets shapes loaded since the last settle: they may have been read from torn memory. */
  rollback(): void {
    this.constructors.length = this.#settled;
  }
}

/**
 * A function that builds an object of these property names from values read in order. An
 * object literal made once per shape gives V8 the final hidden class at once, and its calls of
 * `values.next()` (one decoder each) are inlined; a name such as `__proto__`, which a literal
 * would treat as the prototype, is defined one by one instead.
 */
export function shapeConstructor(names: readonly string[]): ShapeConstructor {
  if (names.includes('__proto__')) {
    return (values) => {
      const object: Record<string, unknown> = {};
      for (const name of names)
        Object.defineProperty(object, name, { value: values.next(), enumerable: true, writable: true, configurable: true });
      return object;
    };
  }
  const properties = names.map((name) => `${JSON.stringify(name)}: values.next()`).join(', ');
  return new Function('values', `return { ${properties} };`) as ShapeConstructor;
}
