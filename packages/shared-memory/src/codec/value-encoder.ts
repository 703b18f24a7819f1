import { UnstorableValueError } from '../errors.js';
import * as tag from './tags.js';

/** Where the property names of objects go: a shape id per distinct list of names, or none (inline names). */
export interface ShapeSource {
  /** The shape id for these names in this order, registering it if new; undefined to store the names inline. */
  shapeOf(names: readonly string[]): number | undefined;
}

/** Objects with more properties than this (objects used as maps) keep their names inline. */
const MAX_SHAPED_PROPERTIES = 64;

interface ShapeNode {
  readonly next: Map<string, ShapeNode>;
  /** The shape id of the names on the path to this node; undefined before it is asked for. */
  id: number | undefined;
  readonly names: readonly string[];
}

/**
 * Encodes values into a reusable heap buffer (then copied into shared memory whole). Every value
 * comes back exactly or is refused: plain objects (property order kept), arrays, strings (lone
 * surrogates included), numbers (-0, NaN, ±Infinity), bigints, booleans, null, undefined, Dates,
 * Uint8Arrays and Buffers. Other objects (class instances, Maps, typed arrays), symbols and
 * functions throw UnstorableValueError.
 *
 * In `key` mode -0 is stored as 0, so that equal keys (as hashKey sees them) have equal bytes.
 */
export class ValueEncoder {
  bytes = new Uint8Array(256);
  position = 0;
  readonly #view = { data: new DataView(this.bytes.buffer) };
  readonly #shapes: ShapeSource | undefined;
  /** A trie of property names in order, each node remembering the shape id of its path. */
  readonly #shapeRoot: ShapeNode = { next: new Map(), id: undefined, names: [] };

  constructor(shapes?: ShapeSource) {
    this.#shapes = shapes;
  }

  /** Encodes `value` at the start of the buffer; the bytes are `bytes.subarray(0, position)`. */
  encode(value: unknown, key = false): Uint8Array {
    this.position = 0;
    this.write(value, key, '');
    return this.bytes.subarray(0, this.position);
  }

  /** Encodes a key at the start of the buffer and returns its length: the bytes are `bytes[0, length)` (no view made, for reads). */
  encodeKey(key: unknown): number {
    this.position = 0;
    // The usual key, an integer, without the general dispatch (-0 is 0 here, as keys store it).
    if (typeof key === 'number' && (key | 0) === key) this.#number(key | 0);
    else this.write(key, true, '');
    return this.position;
  }

  /** Encodes `value` after what is already in the buffer. */
  write(value: unknown, key: boolean, path: string): void {
    switch (typeof value) {
      case 'string':
        this.#string(value);
        return;
      case 'number':
        this.#number(key && value === 0 ? 0 : value);
        return;
      case 'boolean':
        this.#byte(value ? tag.TRUE : tag.FALSE);
        return;
      case 'undefined':
        this.#byte(tag.UNDEFINED);
        return;
      case 'bigint':
        this.#latin1(value.toString(16), tag.BIGINT);
        return;
      case 'object':
        if (value === null) this.#byte(tag.NULL);
        else this.#object(value, key, path);
        return;
      default:
        throw new UnstorableValueError(path, `a ${typeof value} is not data`);
    }
  }

  #object(value: object, key: boolean, path: string): void {
    if (Array.isArray(value)) {
      const length = value.length;
      if (length <= tag.FIXARRAY_MAX_LENGTH) this.#byte(tag.FIXARRAY + length);
      else this.#tagged32(tag.ARRAY, length);
      for (let i = 0; i < length; i++) {
        if (!(i in value)) throw new UnstorableValueError(`${path}[${i}]`, 'a hole in an array would come back as undefined');
        this.write(value[i], key, path);
      }
      return;
    }
    const prototype = Object.getPrototypeOf(value);
    if (prototype === Object.prototype) {
      this.#plainObject(value as Record<string, unknown>, key, path);
      return;
    }
    if (prototype === Date.prototype) {
      this.#reserve(9);
      this.bytes[this.position++] = tag.DATE;
      this.#view.data.setFloat64(this.position, (value as Date).getTime(), true);
      this.position += 8;
      return;
    }
    if (value instanceof Uint8Array && (prototype === Uint8Array.prototype || prototype === Buffer.prototype)) {
      this.#tagged32(prototype === Uint8Array.prototype ? tag.BYTES : tag.BUFFER, value.length);
      this.#reserve(value.length);
      this.bytes.set(value, this.position);
      this.position += value.length;
      return;
    }
    const kind = prototype === null ? 'an object without a prototype' : `a ${prototype.constructor?.name ?? 'class'} instance`;
    throw new UnstorableValueError(path, `${kind} would not come back as one`);
  }

  #plainObject(value: Record<string, unknown>, key: boolean, path: string): void {
    // The shape is found by walking a trie by name: no array of names per object.
    let node = this.#shapeRoot;
    let count = 0;
    for (const name in value) {
      count++;
      if (count > MAX_SHAPED_PROPERTIES) break;
      let next = node.next.get(name);
      if (next === undefined) {
        next = { next: new Map(), id: undefined, names: [...node.names, name] };
        node.next.set(name, next);
      }
      node = next;
    }
    if (Object.getOwnPropertySymbols(value).length > 0) throw new UnstorableValueError(path, 'symbol-keyed properties are not data');
    const id = count > MAX_SHAPED_PROPERTIES || this.#shapes === undefined ? undefined : (node.id ?? this.#shapeId(node));
    if (id === undefined) {
      const names = Object.keys(value);
      this.#tagged32(tag.OBJECT, names.length);
      for (const name of names) {
        this.#string(name);
        this.write(value[name], key, `${path}.${name}`);
      }
      return;
    }
    if (id <= tag.FIXSHAPED_MAX_ID) this.#byte(tag.FIXSHAPED + id);
    else this.#tagged32(tag.SHAPED, id);
    for (const name in value) this.write(value[name], key, path === '' ? name : `${path}.${name}`);
  }

  #shapeId(node: ShapeNode): number | undefined {
    const id = (this.#shapes as ShapeSource).shapeOf(node.names);
    node.id = id;
    return id;
  }

  #number(value: number): void {
    if ((value | 0) === value && (value !== 0 || 1 / value > 0)) {
      if (value >= 0 && value <= tag.FIXINT_MAX) {
        this.#byte(value);
        return;
      }
      this.#reserve(5);
      const bytes = this.bytes;
      let at = this.position;
      if (value >= -0x80 && value < 0x80) {
        bytes[at++] = tag.INT8;
        bytes[at++] = value;
      } else if (value >= -0x8000 && value < 0x8000) {
        bytes[at++] = tag.INT16;
        bytes[at++] = value;
        bytes[at++] = value >> 8;
      } else if (value >= -0x800000 && value < 0x800000) {
        bytes[at++] = tag.INT24;
        bytes[at++] = value;
        bytes[at++] = value >> 8;
        bytes[at++] = value >> 16;
      } else {
        bytes[at++] = tag.INT32;
        bytes[at++] = value;
        bytes[at++] = value >> 8;
        bytes[at++] = value >> 16;
        bytes[at++] = value >> 24;
      }
      this.position = at;
      return;
    }
    this.#reserve(9);
    this.bytes[this.position++] = tag.FLOAT64;
    this.#view.data.setFloat64(this.position, value, true);
    this.position += 8;
  }

  #string(value: string): void {
    const length = value.length;
    let wide = false;
    for (let i = 0; i < length; i++) {
      if (value.charCodeAt(i) > 0xff) {
        wide = true;
        break;
      }
    }
    if (!wide) {
      if (length <= tag.FIXSTR_MAX_LENGTH) {
        this.#reserve(1 + length);
        const bytes = this.bytes;
        let at = this.position;
        bytes[at++] = tag.FIXSTR + length;
        for (let i = 0; i < length; i++) bytes[at++] = value.charCodeAt(i);
        this.position = at;
      } else this.#latin1(value);
      return;
    }
    this.#tagged32(tag.UTF16, length);
    this.#reserve(2 * length);
    this.position += Buffer.from(this.bytes.buffer, this.bytes.byteOffset).write(value, this.position, 'utf16le');
  }

  /** A string known to have only code units below 256, with a 32-bit length, after `code`. */
  #latin1(value: string, code = tag.LATIN1): void {
    const length = value.length;
    this.#tagged32(code, length);
    this.#reserve(length);
    const bytes = this.bytes;
    let at = this.position;
    for (let i = 0; i < length; i++) bytes[at++] = value.charCodeAt(i);
    this.position = at;
  }

  #tagged32(code: number, value: number): void {
    this.#reserve(5);
    this.bytes[this.position] = code;
    this.#view.data.setUint32(this.position + 1, value, true);
    this.position += 5;
  }

  #byte(value: number): void {
    this.#reserve(1);
    this.bytes[this.position++] = value;
  }

  #reserve(count: number): void {
    if (this.position + count <= this.bytes.length) return;
    const bigger = new Uint8Array(Math.max(this.bytes.length * 2, this.position + count));
    bigger.set(this.bytes.subarray(0, this.position));
    this.bytes = bigger;
    this.#view.data = new DataView(bigger.buffer);
  }
}
