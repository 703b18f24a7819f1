import { InvalidKeyError, UndefinedKeyError } from '../errors/errors.js';
import { bytesToHex, compareBytes } from './bytes.js';

/**
 * One component of a key. Dates compare and hash by their time; bytes (a `Uint8Array`, such as
 * the `Buffer` pg gives for bytea) by their contents.
 */
export type KeyPart = string | number | bigint | boolean | Date | Uint8Array;

/** A primary, hash or range key: a single part or a tuple compared element by element. */
export type Key = KeyPart | readonly KeyPart[];

/** What a key becomes to be used as a `Map` key: equal keys give equal hash keys. */
export type HashKey = string | number | bigint | boolean;

/**
 * Plain scalars are their own hash key, so the common single-column key costs nothing. Dates and
 * tuples become a tagged string; the tag (a control character) cannot start a JSON text, and
 * a table's key function returns one shape of key, so a plain string never meets a tagged one.
 */
export function hashKey(key: Key): HashKey {
  if (typeof key !== 'object') return key;
  if (key instanceof Date) return `\u0001d${key.getTime()}`;
  if (key instanceof Uint8Array) return `\u0001x${bytesToHex(key)}`;
  return `\u0001t${JSON.stringify(key.map(encodePart))}`;
}

function encodePart(part: KeyPart): unknown {
  if (typeof part === 'bigint') return { b: part.toString() };
  if (part instanceof Date) return { d: part.getTime() };
  if (part instanceof Uint8Array) return { x: bytesToHex(part) };
  return part;
}

/** Why `value` is not a key, or undefined when it is one. */
function keyProblem(value: unknown, inTuple: boolean): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'bigint':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isNaN(value) ? 'NaN is not equal to itself and cannot be a key' : undefined;
    case 'object':
      if (value instanceof Date) {
        return Number.isNaN(value.getTime()) ? 'an invalid Date cannot be a key' : undefined;
      }
      if (value instanceof Uint8Array) return undefined;
      if (Array.isArray(value) && !inTuple) {
        if (value.length === 0) return 'an empty tuple cannot be a key';
        for (const [i, part] of value.entries()) {
          if (part === undefined || part === null) return `tuple element ${i} is ${String(part)}`;
          const problem = keyProblem(part, true);
          if (problem !== undefined) return `tuple element ${i}: ${problem}`;
        }
        return undefined;
      }
      return inTuple
        ? 'a tuple element must be a string, number, bigint, boolean, Date or Uint8Array'
        : 'a key must be a string, number, bigint, boolean, Date, Uint8Array or a tuple of those';
    default:
      return `a ${typeof value} cannot be a key`;
  }
}

/**
 * A string or a number other than NaN: the usual keys, valid without the general check (hot
 * paths test this first and call `assertKey` only for the rest).
 */
export function isPlainKey(value: unknown): value is string | number {
  return typeof value === 'string' || (typeof value === 'number' && !Number.isNaN(value));
}

/** Throws the typed error for a value that cannot be a key; `where` says whose key it is. */
export function assertKey(value: unknown, where: string): asserts value is Key {
  if (value === undefined || value === null) throw new UndefinedKeyError(value, where);
  const problem = keyProblem(value, false);
  if (problem !== undefined) throw new InvalidKeyError(value, `${problem} (${where})`);
}

/**
 * Orders keys: numbers and bigints by value (they may be mixed), strings by code unit, booleans
 * false first, Dates by time, bytes byte by byte, tuples element by element with a shorter prefix first.
 */
export function compareKeys(a: Key, b: Key): number {
  // Numbers are the common score: compared without the general path below.
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = compareParts(a[i] as KeyPart, b[i] as KeyPart);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  return compareParts(a as KeyPart, b as KeyPart);
}

function compareParts(a: KeyPart, b: KeyPart): number {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return compareBytes(a, b);
  const x = a instanceof Date ? a.getTime() : a;
  const y = b instanceof Date ? b.getTime() : b;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The type of a key as one string: `number`, `string`, `bigint`, `boolean`, `Date`, `bytes`, or
 * a tuple of those such as `[number, Date]`. Two keys can be equal only if their types are.
 */
export function keyType(key: Key): string {
  if (typeof key !== 'object') return typeof key;
  if (key instanceof Date) return 'Date';
  if (key instanceof Uint8Array) return 'bytes';
  // Not a key (storage refuses it with a typed error), but its type must not throw here.
  if (!Array.isArray(key)) return key === null ? 'null' : 'object';
  return `[${key.map((part) => keyType(part)).join(', ')}]`;
}
