import type { Allocator } from './allocator.js';
import { TornReadError } from './errors.js';
import { bytesEqual } from './hash-bytes.js';
import { INDEX_WORDS, INDEXES } from './memory-layout.js';
import { RECORD_HEADER_BYTES } from './record-layout.js';
import type { SharedMemory } from './shared-memory.js';

const INITIAL_CAPACITY = 16;
const MAX_LOAD = 0.75;
const INITIAL_LIST = 4;

/** A node: its key's hash, how many records it holds, their list (a block) and its capacity, the key's length, then the key. */
const NODE_HASH = 1;
const NODE_COUNT = 2;
const NODE_LIST = 3;
const NODE_LIST_CAPACITY = 4;
const NODE_KEY_LENGTH = 5;
const NODE_KEY_AT = 24;

/** An index's words in the header: its node table, the table's capacity and how many nodes it holds. */
const TABLE = 0;
const CAPACITY = 1;
const NODES = 2;

/**
 * A hash or unique index in shared memory: an open-addressing table of nodes, one per distinct
 * index key, each with a list of record refs. Every record holds, per hash index, its node and
 * its place in the node's list, so removing it moves one entry (the last) into its place. A
 * unique index keeps the record filed last under a key, as the heap storage does.
 */
export class HashIndexStore {
  readonly #memory: SharedMemory;
  /** This index's first word in the header. */
  readonly #header: number;
  /** The record word holding this index's node (the next word holds the place in the list). */
  readonly #recordWord: number;
  readonly #unique: boolean;
  readonly #allocator: Allocator | undefined;

  constructor(memory: SharedMemory, position: number, hashPosition: number, unique: boolean, allocator?: Allocator) {
    this.#memory = memory;
    this.#header = INDEXES + INDEX_WORDS * position;
    this.#recordWord = RECORD_HEADER_BYTES / 4 + 2 * hashPosition;
    this.#unique = unique;
    this.#allocator = allocator;
  }

  /** The node of the encoded key `key[0, n)`, or 0. */
  findNode(key: Uint8Array, n: number, hash: number): number {
    const memory = this.#memory;
    const words = memory.words;
    const capacity = memory.word(this.#header + CAPACITY);
    if (capacity === 0) return 0;
    const table = memory.word(this.#header + TABLE);
    memory.check(table, 8 + 4 * capacity);
    const base = (table >>> 2) + 2;
    const mask = capacity - 1;
    for (let i = hash & mask, probes = 0; probes < capacity; i = (i + 1) & mask, probes++) {
      const node = words[base + i] as number;
      if (node === 0) return 0;
      memory.check(node, NODE_KEY_AT);
      const w = node >>> 2;
      if (words[w + NODE_HASH] === hash && words[w + NODE_KEY_LENGTH] === n) {
        memory.check(node, NODE_KEY_AT + n);
        if (bytesEqual(memory.bytes, node + NODE_KEY_AT, key, n)) return node;
      }
    }
    return 0;
  }

  /** Calls `each` with the refs of the records filed under `node`. */
  forEachRecord(node: number, each: (ref: number) => void): void {
    const memory = this.#memory;
    const w = node >>> 2;
    const count = memory.word(w + NODE_COUNT);
    const list = memory.word(w + NODE_LIST);
    if (count > memory.word(w + NODE_LIST_CAPACITY)) throw new TornReadError('a node holds more records than its list');
    memory.check(list, 8 + 4 * count);
    const words = memory.words;
    const base = (list >>> 2) + 2;
    for (let i = 0; i < count; i++) each(words[base + i] as number);
  }

  // The owner's side.

  initialize(): void {
    const words = this.#memory.words;
    const table = this.#owner().allocate(8 + 4 * INITIAL_CAPACITY);
    words.fill(0, (table >>> 2) + 2, (table >>> 2) + 2 + INITIAL_CAPACITY);
    words[this.#header + TABLE] = table;
    words[this.#header + CAPACITY] = INITIAL_CAPACITY;
    words[this.#header + NODES] = 0;
  }

  /**
   * Sizes of the blocks filing these keys could need at most (new nodes, longer lists, a bigger
   * table), for a commit to reserve before it changes anything. Removals are not counted.
   */
  growthBlocks(keys: readonly { readonly key: Uint8Array; readonly n: number; readonly hash: number }[]): number[] {
    const blocks: number[] = [];
    const lists = new Map<number, { count: number; capacity: number }>();
    const fresh = new Map<string, { count: number; capacity: number }>();
    let newNodes = 0;
    const words = this.#memory.words;
    for (const { key, n, hash } of keys) {
      const node = this.findNode(key, n, hash);
      let list: { count: number; capacity: number } | undefined;
      if (node === 0) {
        const name = `${hash}:${key.subarray(0, n).join(',')}`;
        list = fresh.get(name);
        if (list === undefined) {
          list = { count: 0, capacity: INITIAL_LIST };
          fresh.set(name, list);
          blocks.push(NODE_KEY_AT + n, 8 + 4 * INITIAL_LIST);
          newNodes++;
        }
      } else {
        list = lists.get(node);
        if (list === undefined) {
          list = { count: words[(node >>> 2) + NODE_COUNT] as number, capacity: words[(node >>> 2) + NODE_LIST_CAPACITY] as number };
          lists.set(node, list);
        }
      }
      if (this.#unique) list.count = 0;
      if (list.count === list.capacity) {
        list.capacity *= 2;
        blocks.push(8 + 4 * list.capacity);
      }
      list.count++;
    }
    const capacity = this.#targetCapacity((words[this.#header + NODES] as number) + newNodes);
    if (capacity !== words[this.#header + CAPACITY]) blocks.push(8 + 4 * capacity);
    return blocks;
  }

  /** Files record `ref` under the encoded key `key[0, n)`. */
  add(ref: number, key: Uint8Array, n: number, hash: number): void {
    const words = this.#memory.words;
    let node = this.findNode(key, n, hash);
    if (node === 0) node = this.#addNode(key, n, hash);
    const w = node >>> 2;
    if (this.#unique) {
      // The key now names this record only: the others stay stored, out of this index.
      this.forEachRecord(node, (held) => {
        words[(held >>> 2) + this.#recordWord] = 0;
      });
      words[w + NODE_COUNT] = 0;
    }
    const count = words[w + NODE_COUNT] as number;
    if (count === words[w + NODE_LIST_CAPACITY]) this.#growList(node, count);
    words[((words[w + NODE_LIST] as number) >>> 2) + 2 + count] = ref;
    words[w + NODE_COUNT] = count + 1;
    words[(ref >>> 2) + this.#recordWord] = node;
    words[(ref >>> 2) + this.#recordWord + 1] = count;
  }

  /** Takes record `ref` out of the index (if a unique key has not passed to another record). */
  remove(ref: number): void {
    const words = this.#memory.words;
    const node = words[(ref >>> 2) + this.#recordWord] as number;
    if (node === 0) return;
    const w = node >>> 2;
    const place = words[(ref >>> 2) + this.#recordWord + 1] as number;
    const last = (words[w + NODE_COUNT] as number) - 1;
    const base = ((words[w + NODE_LIST] as number) >>> 2) + 2;
    if (place !== last) {
      const moved = words[base + last] as number;
      words[base + place] = moved;
      words[(moved >>> 2) + this.#recordWord + 1] = place;
    }
    words[w + NODE_COUNT] = last;
    words[(ref >>> 2) + this.#recordWord] = 0;
    if (last === 0) this.#removeNode(node);
  }

  /** Drops every node, back to an empty table. */
  clear(): void {
    const allocator = this.#owner();
    const words = this.#memory.words;
    const table = words[this.#header + TABLE] as number;
    const capacity = words[this.#header + CAPACITY] as number;
    for (let i = 0; i < capacity; i++) {
      const node = words[(table >>> 2) + 2 + i] as number;
      if (node === 0) continue;
      allocator.free(words[(node >>> 2) + NODE_LIST] as number);
      allocator.free(node);
    }
    allocator.free(table);
    this.initialize();
  }

  #addNode(key: Uint8Array, n: number, hash: number): number {
    const allocator = this.#owner();
    const memory = this.#memory;
    const words = memory.words;
    const capacity = this.#targetCapacity((words[this.#header + NODES] as number) + 1);
    if (capacity !== words[this.#header + CAPACITY]) this.#rebuild(capacity);
    const node = allocator.allocate(NODE_KEY_AT + n);
    const w = node >>> 2;
    words[w + NODE_HASH] = hash;
    words[w + NODE_COUNT] = 0;
    words[w + NODE_LIST] = allocator.allocate(8 + 4 * INITIAL_LIST);
    words[w + NODE_LIST_CAPACITY] = INITIAL_LIST;
    words[w + NODE_KEY_LENGTH] = n;
    memory.bytes.set(key.subarray(0, n), node + NODE_KEY_AT);
    this.#place(node, hash);
    words[this.#header + NODES] = (words[this.#header + NODES] as number) + 1;
    return node;
  }

  #place(node: number, hash: number): void {
    const words = this.#memory.words;
    const base = ((words[this.#header + TABLE] as number) >>> 2) + 2;
    const mask = (words[this.#header + CAPACITY] as number) - 1;
    let i = hash & mask;
    while (words[base + i] !== 0) i = (i + 1) & mask;
    words[base + i] = node;
  }

  #removeNode(node: number): void {
    const allocator = this.#owner();
    const words = this.#memory.words;
    const base = ((words[this.#header + TABLE] as number) >>> 2) + 2;
    const mask = (words[this.#header + CAPACITY] as number) - 1;
    let hole = (words[(node >>> 2) + NODE_HASH] as number) & mask;
    while (words[base + hole] !== node) hole = (hole + 1) & mask;
    for (let i = (hole + 1) & mask; ; i = (i + 1) & mask) {
      const held = words[base + i] as number;
      if (held === 0) break;
      const home = (words[(held >>> 2) + NODE_HASH] as number) & mask;
      const between = hole <= i ? hole < home && home <= i : hole < home || home <= i;
      if (!between) {
        words[base + hole] = held;
        hole = i;
      }
    }
    words[base + hole] = 0;
    words[this.#header + NODES] = (words[this.#header + NODES] as number) - 1;
    allocator.free(words[(node >>> 2) + NODE_LIST] as number);
    allocator.free(node);
  }

  #growList(node: number, count: number): void {
    const allocator = this.#owner();
    const words = this.#memory.words;
    const w = node >>> 2;
    const old = words[w + NODE_LIST] as number;
    const list = allocator.allocate(8 + 8 * count);
    words.copyWithin((list >>> 2) + 2, (old >>> 2) + 2, (old >>> 2) + 2 + count);
    words[w + NODE_LIST] = list;
    words[w + NODE_LIST_CAPACITY] = 2 * count;
    allocator.free(old);
  }

  #targetCapacity(count: number): number {
    let capacity = this.#memory.words[this.#header + CAPACITY] as number;
    while (count > capacity * MAX_LOAD) capacity *= 2;
    return capacity;
  }

  #rebuild(capacity: number): void {
    const words = this.#memory.words;
    const old = words[this.#header + TABLE] as number;
    const oldCapacity = words[this.#header + CAPACITY] as number;
    const table = this.#owner().allocate(8 + 4 * capacity);
    words.fill(0, (table >>> 2) + 2, (table >>> 2) + 2 + capacity);
    words[this.#header + TABLE] = table;
    words[this.#header + CAPACITY] = capacity;
    for (let i = 0; i < oldCapacity; i++) {
      const node = words[(old >>> 2) + 2 + i] as number;
      if (node !== 0) this.#place(node, words[(node >>> 2) + NODE_HASH] as number);
    }
    this.#owner().free(old);
  }

  #owner(): Allocator {
    if (this.#allocator === undefined) throw new Error('a reader does not write');
    return this.#allocator;
  }
}
