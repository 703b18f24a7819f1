import { MalformedSpecError, UnknownIndexError } from '../errors/errors.js';
import { Interval, mergeIntervals } from '../interval/interval.js';
import { assertKey, compareKeys, type HashKey, hashKey, isPlainKey, type Key } from '../key/key.js';
import type { Query } from '../query/query.js';
import { PRIMARY_KEY_INDEX, type StorageIndexDefinition, type StorageRecordsSpec } from '../storage/storage-table.js';
import type { Adjustment, Indexes, PrimaryKeysSpec } from './indexes.js';

/** Every record of the table (needs `queryAll`). */
export interface AllRecordsSpec {
  readonly index: 'primaryKey';
  readonly all: true;
}

/** An index from a key to any number of records, e.g. a foreign key. */
export interface HashIndexDefinition<R, HK extends Key> {
  readonly key: (record: R) => HK;
  /** The rows whose key is one of `keys`. */
  readonly query: (keys: readonly HK[]) => Query<R>;
}

/** An index of records ordered by a score (a number, bigint, Date, or a tuple of those). */
export interface RangeIndexDefinition<R, SK extends Key> {
  readonly score: (record: R) => SK;
  /** The rows with `ge <= score < lt`. */
  readonly query: (ge: SK, lt: SK) => Query<R>;
}

export interface NamedIndexesOptions<R, K extends Key, H extends Record<string, Key>, G extends Record<string, Key>> {
  readonly primaryKey: (record: R) => K;
  /** The query for every record; enables `{ index: 'primaryKey', all: true }`. */
  readonly queryAll?: Query<R>;
  /** The rows with these primary keys; without it, an invalidation by key reloads what is covered. */
  readonly querySome?: (keys: readonly K[]) => Query<R>;
  readonly hash?: { readonly [N in keyof H]: HashIndexDefinition<R, H[N]> };
  readonly range?: { readonly [N in keyof G]: RangeIndexDefinition<R, G[N]> };
}

/**
 * The specs of a `NamedIndexes`: one shape per kind of index, keyed and scored by its types. `A`
 * is `AllRecordsSpec` when the table can load everything, `never` when it cannot.
 */
export type NamedIndexesSpec<
  K extends Key,
  H extends Record<string, Key>,
  G extends Record<string, Key>,
  A extends AllRecordsSpec = AllRecordsSpec,
> =
  | A
  | PrimaryKeysSpec<K>
  | { readonly [N in keyof H & string]: { readonly index: N; readonly keys: readonly H[N][] } }[keyof H & string]
  | { readonly [N in keyof G & string]: { readonly index: N; readonly ge: G[N]; readonly lt: G[N] } }[keyof G & string];

type KeysSpec = { readonly index: string; readonly keys: readonly Key[] };
type RangeSpec = { readonly index: string; readonly ge: Key; readonly lt: Key };

/** What is loaded: everything, the records with these keys in one index, or a window of one range index. */
type Coverage =
  | { readonly kind: 'none' }
  | { readonly kind: 'all' }
  | { readonly kind: 'keys'; readonly index: string; readonly keys: ReadonlyMap<HashKey, Key> }
  | { readonly kind: 'window'; readonly index: string; readonly window: Interval };

/**
 * A table read through several named indexes: the primary key, hash indexes and range indexes.
 * It caches one thing at a time: everything, the records of some keys of one index, or a window
 * of one range index. A read is served from memory when it falls inside that; otherwise it goes
 * to the database. `load` and `adjust` take any spec, which becomes what is cached.
 */
export class NamedIndexes<
  R,
  K extends Key,
  H extends Record<string, Key> = Record<never, Key>,
  G extends Record<string, Key> = Record<never, Key>,
  A extends AllRecordsSpec = AllRecordsSpec,
> implements Indexes<R, NamedIndexesSpec<K, H, G, A>, K>
{
  readonly indexNames: readonly string[];
  readonly storageIndexes: Readonly<Record<string, StorageIndexDefinition<R>>>;
  readonly #options: NamedIndexesOptions<R, K, H, G>;
  readonly #hash: ReadonlyMap<string, HashIndexDefinition<R, Key>>;
  readonly #range: ReadonlyMap<string, RangeIndexDefinition<R, Key>>;
  #coverage: Coverage = { kind: 'none' };

  constructor(options: NamedIndexesOptions<R, K, H, G>) {
    this.#options = options;
    this.#hash = new Map(Object.entries(options.hash ?? {}) as [string, HashIndexDefinition<R, Key>][]);
    this.#range = new Map(Object.entries(options.range ?? {}) as [string, RangeIndexDefinition<R, Key>][]);
    for (const name of [...this.#hash.keys(), ...this.#range.keys()]) {
      if (name === PRIMARY_KEY_INDEX || (this.#hash.has(name) && this.#range.has(name))) {
        throw new MalformedSpecError(name, 'index names must be unique and not "primaryKey"');
      }
    }
    this.indexNames = [PRIMARY_KEY_INDEX, ...this.#hash.keys(), ...this.#range.keys()];
    this.storageIndexes = Object.fromEntries([
      ...[...this.#hash].map(([name, definition]) => [name, { kind: 'hash', key: definition.key }] as const),
      ...[...this.#range].map(([name, definition]) => [name, { kind: 'range', key: definition.score }] as const),
    ]);
  }

  /**
   * This table with one more hash index. The key type flows from `key` to `query`'s keys and
   * to the specs (`{ index: name, keys }`), with nothing annotated:
   * `.withHashIndex('byCity', { key: (user) => user.city_id, query: (cityIds) => … })`.
   * (In the constructor's `hash` option, TypeScript cannot infer a key type from a function of
   * the record, so there `query`'s parameter needs an annotation.)
   */
  withHashIndex<N extends string, HK extends Key>(
    name: N & Exclude<N, keyof H | keyof G | typeof PRIMARY_KEY_INDEX>,
    definition: HashIndexDefinition<R, HK>,
  ): NamedIndexes<R, K, H & { readonly [P in N]: HK }, G, A> {
    this.#assertNewName(name);
    // The record type of the new index is the one added here; TypeScript cannot follow that through the spread.
    const hash = { ...this.#options.hash, [name]: definition } as unknown as NamedIndexesOptions<
      R,
      K,
      H & { readonly [P in N]: HK },
      G
    >['hash'];
    return new NamedIndexes<R, K, H & { readonly [P in N]: HK }, G, A>({ ...this.#options, hash });
  }

  /**
   * This table with one more range index; the score type flows from `score` to `query`'s bounds
   * and to the specs (`{ index: name, ge, lt }`):
   * `.withRangeIndex('byCreated', { score: (user) => user.created_at, query: (ge, lt) => … })`.
   */
  withRangeIndex<N extends string, SK extends Key>(
    name: N & Exclude<N, keyof H | keyof G | typeof PRIMARY_KEY_INDEX>,
    definition: RangeIndexDefinition<R, SK>,
  ): NamedIndexes<R, K, H, G & { readonly [P in N]: SK }, A> {
    this.#assertNewName(name);
    const range = { ...this.#options.range, [name]: definition } as unknown as NamedIndexesOptions<
      R,
      K,
      H,
      G & { readonly [P in N]: SK }
    >['range'];
    return new NamedIndexes<R, K, H, G & { readonly [P in N]: SK }, A>({ ...this.#options, range });
  }

  #assertNewName(name: string): void {
    if (this.indexNames.includes(name)) throw new MalformedSpecError(name, 'index names must be unique and not "primaryKey"');
  }

  primaryKey(record: R): K {
    const key = this.#options.primaryKey(record);
    assertKey(key, 'primaryKey() of a record');
    return key;
  }

  validateSpec(spec: unknown): asserts spec is NamedIndexesSpec<K, H, G, A> {
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
      throw new MalformedSpecError(spec, 'a spec is an object like { index: "primaryKey", keys: [...] }');
    }
    const { index } = spec as { index?: unknown };
    if (index === PRIMARY_KEY_INDEX && 'all' in spec) {
      if (spec.all !== true || !hasOnly(spec, 'all'))
        throw new MalformedSpecError(spec, 'the spec for every record is exactly { index: "primaryKey", all: true }');
      if (this.#options.queryAll === undefined)
        throw new MalformedSpecError(spec, 'this table has no queryAll, so it cannot load or read everything');
      return;
    }
    if (typeof index === 'string' && this.#range.has(index)) {
      if (!('ge' in spec) || !('lt' in spec) || !hasOnly(spec, 'ge', 'lt'))
        throw new MalformedSpecError(spec, `index '${index}' is a range index: its specs are exactly { index, ge, lt }`);
      const { ge, lt } = spec as RangeSpec;
      if (!isPlainKey(ge) || !isPlainKey(lt) || typeof ge !== typeof lt) {
        assertKey(ge, `ge of the spec`);
        assertKey(lt, `lt of the spec`);
        if (kindOf(ge) !== kindOf(lt)) throw new MalformedSpecError(spec, 'ge and lt must be of the same type');
      }
      if (compareKeys(ge, lt) > 0) throw new MalformedSpecError(spec, 'ge must not be greater than lt');
      return;
    }
    if (index !== PRIMARY_KEY_INDEX && (typeof index !== 'string' || !this.#hash.has(index)))
      throw new UnknownIndexError(index, this.indexNames);
    const keys = (spec as { keys?: unknown }).keys;
    if (!Array.isArray(keys) || !hasOnly(spec, 'keys')) {
      throw new MalformedSpecError(spec, `index '${index}' is read by keys: its specs are exactly { index, keys: [...] }`);
    }
    for (let i = 0; i < keys.length; i++) {
      const key: unknown = keys[i];
      if (!isPlainKey(key)) assertKey(key, `keys[${i}] of the spec`);
    }
  }

  covers(spec: NamedIndexesSpec<K, H, G, A>): boolean {
    const coverage = this.#coverage;
    if ('keys' in spec && spec.keys.length === 0) return true; // nothing to read, and no `IN ()`
    if (coverage.kind === 'all') return true;
    if ('all' in spec || coverage.kind === 'none' || coverage.index !== spec.index) return false;
    if (coverage.kind === 'keys') return 'keys' in spec && spec.keys.every((key) => coverage.keys.has(hashKey(key)));
    return 'ge' in spec && coverage.window.covers(new Interval<Key>(spec.ge as Key, spec.lt as Key));
  }

  /** A range read straddling the cached window: the part inside from memory, the parts outside from the database. */
  split(spec: NamedIndexesSpec<K, H, G, A>): { spec: NamedIndexesSpec<K, H, G, A>; covered: boolean }[] | undefined {
    const coverage = this.#coverage;
    if (coverage.kind !== 'window' || !('ge' in spec) || spec.index !== coverage.index) return undefined;
    const wanted = new Interval<Key>(spec.ge as Key, spec.lt as Key);
    const window = coverage.window;
    if (!wanted.intersects(window)) return undefined;
    const inside = new Interval<Key>(
      compareKeys(wanted.ge, window.ge) > 0 ? wanted.ge : window.ge,
      compareKeys(wanted.lt, window.lt) < 0 ? wanted.lt : window.lt,
    );
    const piece = (interval: Interval, covered: boolean) => ({
      spec: this.#spec({ index: spec.index, ge: interval.ge, lt: interval.lt }),
      covered,
    });
    return [
      ...(compareKeys(wanted.ge, inside.ge) < 0 ? [piece(new Interval(wanted.ge, inside.ge), false)] : []),
      piece(inside, true),
      ...(compareKeys(inside.lt, wanted.lt) < 0 ? [piece(new Interval(inside.lt, wanted.lt), false)] : []),
    ];
  }

  coversRecord(record: R): boolean {
    return this.#inCoverage(this.#coverage, record);
  }

  /** Whether a record falls inside `coverage` (the current one, or one an adjustment moves to). */
  #inCoverage(coverage: Coverage, record: R): boolean {
    switch (coverage.kind) {
      case 'none':
        return false;
      case 'all':
        return true;
      case 'keys':
        return coverage.keys.has(hashKey(this.#keyOf(coverage.index, record)));
      case 'window':
        return coverage.window.contains(this.#keyOf(coverage.index, record));
    }
  }

  storageRecordsSpec(spec: NamedIndexesSpec<K, H, G, A>): StorageRecordsSpec<R> {
    if ('all' in spec) return { kind: 'all' };
    if ('keys' in spec) return { kind: 'keys', index: spec.index, keys: spec.keys };
    return { kind: 'range', index: spec.index, intervals: [new Interval<Key>(spec.ge as Key, spec.lt as Key)] };
  }

  dbQuery(spec: NamedIndexesSpec<K, H, G, A>): Query<R> | undefined {
    if ('all' in spec) return this.#options.queryAll;
    if ('keys' in spec) {
      if (spec.index === PRIMARY_KEY_INDEX) return this.#options.querySome?.(spec.keys as readonly K[]);
      return this.#hash.get(spec.index)?.query(spec.keys);
    }
    return this.#range.get(spec.index)?.query(spec.ge, spec.lt);
  }

  sourceQuery(): Query<R> | undefined {
    return this.#options.queryAll;
  }

  /** Gathers the keys of each index into one spec, and merges overlapping or touching ranges. */
  coalesce(specs: readonly NamedIndexesSpec<K, H, G, A>[]): NamedIndexesSpec<K, H, G, A>[] {
    if (specs.some((spec) => 'all' in spec)) return [this.#spec({ index: PRIMARY_KEY_INDEX, all: true })];
    const keys = new Map<string, Map<HashKey, Key>>();
    const ranges = new Map<string, Interval[]>();
    for (const spec of specs) {
      if ('keys' in spec) {
        const byHash = keys.get(spec.index) ?? new Map<HashKey, Key>();
        for (const key of spec.keys) byHash.set(hashKey(key), key);
        keys.set(spec.index, byHash);
      } else if ('ge' in spec) {
        ranges.set(spec.index, [...(ranges.get(spec.index) ?? []), new Interval<Key>(spec.ge as Key, spec.lt as Key)]);
      }
    }
    return [
      ...[...keys].map(([index, byHash]) => this.#spec({ index, keys: [...byHash.values()] })),
      ...[...ranges].flatMap(([index, intervals]) => mergeIntervals(intervals).map((i) => this.#spec({ index, ge: i.ge, lt: i.lt }))),
    ];
  }

  loadedSpecs(): readonly NamedIndexesSpec<K, H, G, A>[] {
    const coverage = this.#coverage;
    switch (coverage.kind) {
      case 'none':
        return [];
      case 'all':
        return [{ index: PRIMARY_KEY_INDEX, all: true } as A];
      case 'keys':
        return [this.#spec({ index: coverage.index, keys: [...coverage.keys.values()] })];
      case 'window':
        return [this.#spec({ index: coverage.index, ge: coverage.window.ge, lt: coverage.window.lt })];
    }
  }

  /** The coverage `loadedSpecs()` described (on another copy of these indexes): nothing, or one spec. */
  restoreCoverage(loaded: readonly NamedIndexesSpec<K, H, G, A>[]): void {
    if (!Array.isArray(loaded) || loaded.length > 1)
      throw new MalformedSpecError(loaded, 'a coverage of these indexes is none or one spec');
    const [spec] = loaded;
    if (spec === undefined) {
      this.#coverage = { kind: 'none' };
      return;
    }
    this.validateSpec(spec);
    this.#coverage = this.#coverageOf(spec);
  }

  prepareAdjustment(spec: NamedIndexesSpec<K, H, G, A>): Adjustment<R> {
    const next = this.#coverageOf(spec);
    const commit = () => {
      this.#coverage = next;
    };
    const previous = this.#coverage;
    const fresh = (): Adjustment<R> => ({ expire: { kind: 'all' }, load: this.#queriesFor(spec), commit });
    if (next.kind === 'all' || next.kind === 'none' || previous.kind === 'none') return fresh();
    // From everything to a part of it: drop the rest, load nothing.
    const keep = (record: R) => this.#inCoverage(next, record);
    if (previous.kind === 'all') return { expire: { kind: 'all', filter: (record) => !keep(record) }, load: [], commit };
    if (previous.index !== next.index || previous.kind !== next.kind) return fresh();
    if (next.kind === 'keys' && previous.kind === 'keys') {
      const entering = [...next.keys].filter(([h]) => !previous.keys.has(h)).map(([, key]) => key);
      const load = entering.length > 0 ? this.#queriesFor(this.#spec({ index: next.index, keys: entering })) : [];
      return { expire: { kind: 'all', filter: (record) => !keep(record) }, load, commit };
    }
    if (next.kind === 'window' && previous.kind === 'window') {
      const leaving = subtract(previous.window, next.window);
      const entering = subtract(next.window, previous.window);
      return {
        ...(leaving.length > 0 && { expire: { kind: 'range', index: next.index, intervals: leaving } }),
        load: entering.flatMap((part) => this.#queriesFor(this.#spec({ index: next.index, ge: part.ge, lt: part.lt }))),
        commit,
      };
    }
    return fresh();
  }

  /** A spec built here from coverage, which `validateSpec` accepted in the first place. */
  #spec(spec: KeysSpec | RangeSpec | AllRecordsSpec): NamedIndexesSpec<K, H, G, A> {
    return spec as unknown as NamedIndexesSpec<K, H, G, A>;
  }

  #queriesFor(spec: NamedIndexesSpec<K, H, G, A>): Query<R>[] {
    if ('keys' in spec && spec.keys.length === 0) return []; // nothing to load, and no `IN ()`
    const query = this.dbQuery(spec);
    if (query === undefined) throw new MalformedSpecError(spec, 'this table has no query for this spec (give querySome or queryAll)');
    return [query];
  }

  #coverageOf(spec: NamedIndexesSpec<K, H, G, A>): Coverage {
    if ('all' in spec) return { kind: 'all' };
    if ('keys' in spec) return { kind: 'keys', index: spec.index, keys: new Map(spec.keys.map((key) => [hashKey(key), key])) };
    return { kind: 'window', index: spec.index, window: new Interval<Key>(spec.ge as Key, spec.lt as Key) };
  }

  #keyOf(index: string, record: R): Key {
    if (index === PRIMARY_KEY_INDEX) return this.primaryKey(record);
    const hash = this.#hash.get(index);
    return hash !== undefined ? hash.key(record) : (this.#range.get(index) as RangeIndexDefinition<R, Key>).score(record);
  }
}

/** The parts of `a` outside `b`: zero, one or two intervals. */
function subtract(a: Interval, b: Interval): Interval[] {
  if (!a.intersects(b)) return a.isEmpty ? [] : [a];
  const parts: Interval[] = [];
  if (compareKeys(a.ge, b.ge) < 0) parts.push(new Interval(a.ge, b.ge));
  if (compareKeys(b.lt, a.lt) < 0) parts.push(new Interval(b.lt, a.lt));
  return parts;
}

/** Whether `spec` has no fields but `index` and the given ones (a loop, not Object.keys: this runs on every read). */
function hasOnly(spec: object, a: string, b?: string): boolean {
  for (const field in spec) if (field !== 'index' && field !== a && field !== b) return false;
  return true;
}

function kindOf(key: Key): string {
  if (Array.isArray(key)) return 'tuple';
  if (key instanceof Date) return 'Date';
  return typeof key === 'bigint' ? 'number' : typeof key;
}
