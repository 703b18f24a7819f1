import { compareKeys, type HashKey, type Key } from '@tablecache/core';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { comparePrimaryKeys, type RangeStructure } from './range-structure.js';
import { SortedBlocksRange } from './sorted-blocks-range.js';

interface Entry {
  readonly score: Key;
  readonly primaryKey: HashKey;
  readonly value: number;
}

// Blocks of a few entries split, merge and empty out within a few operations; blocks of 16 take
// a few buffered entries by splicing them in rather than merging; the default is the one in use.
const structures: [string, () => RangeStructure<number>][] = [
  ['sorted blocks of 1 or 2 entries', () => new SortedBlocksRange(1)],
  ['sorted blocks of 2 to 4 entries', () => new SortedBlocksRange(2)],
  ['sorted blocks of 3 to 6 entries', () => new SortedBlocksRange(3)],
  ['sorted blocks of 16 to 32 entries', () => new SortedBlocksRange(16)],
  ['sorted blocks of the default load', () => new SortedBlocksRange()],
];

/** Scores numbered in their order, so one set of numbers drives every score type. */
interface Domain {
  readonly score: (n: number) => Key;
  /**
   * Other keys for range bounds and removals: tuple prefixes (which sort before their
   * extensions), or a number equal to a bigint score.
   */
  readonly bound?: (n: number) => Key;
  readonly primaryKey: fc.Arbitrary<HashKey>;
}

const domains: [string, Domain][] = [
  ['number scores', { score: (n) => n / 2, primaryKey: fc.integer({ min: 0, max: 5 }) }],
  // Far from evenly spread, and infinite at both ends: where a search that guesses a position
  // from the values guesses worst.
  [
    'skewed and infinite number scores',
    { score: (n) => (n <= 0 ? -Infinity : n > LOADED + ABOVE ? Infinity : (n - 20) ** 5), primaryKey: fc.integer({ min: 0, max: 5 }) },
  ],
  [
    'tuple scores',
    {
      score: (n) => [Math.floor(n / 4), 'abcd'[n & 3] as string],
      bound: (n) => [Math.floor(n / 4)],
      primaryKey: fc.constantFrom('x', 'y', 'z'),
    },
  ],
  // Numbers and bigints compare by value: a bound or removal may name a score in the other type.
  [
    'number and bigint scores',
    {
      score: (n) => (n % 2 === 0 ? BigInt(n) : n),
      bound: (n) => (n % 2 === 0 ? n : BigInt(n)),
      primaryKey: fc.integer({ min: 0, max: 5 }),
    },
  ],
  // A new Date for every score, so equal scores are never the same object.
  ['Date scores', { score: (n) => new Date(n * 500), primaryKey: fc.integer({ min: 0, max: 5 }) }],
];

// Loads take few distinct scores, so that adds often meet an entry already stored, but enough
// for a structure to grow well past a few buffered adds, which it may insert one by one; updates
// also go above everything loaded.
const LOADED = 40;
const ABOVE = 4;

function operation({ score, bound, primaryKey }: Domain) {
  const scoreOf = (max: number) => fc.integer({ min: 0, max }).map(score);
  const load = fc.array(fc.tuple(scoreOf(LOADED), primaryKey), { minLength: 20, maxLength: 100 });
  const updates = fc.array(fc.tuple(scoreOf(LOADED + ABOVE), primaryKey), { minLength: 1, maxLength: 5 });
  const n = fc.integer({ min: -1, max: LOADED + ABOVE + 1 });
  const key = bound === undefined ? n.map(score) : fc.oneof(n.map(score), n.map(bound));
  return fc.oneof(
    // Adds with no read between them: a structure may buffer them until the next read.
    { arbitrary: fc.record({ op: fc.constant('add' as const), entries: fc.oneof(updates, load), sorted: fc.boolean() }), weight: 3 },
    { arbitrary: fc.record({ op: fc.constant('replace' as const), pick: fc.nat() }), weight: 2 },
    {
      arbitrary: fc.record({ op: fc.constant('removePresent' as const), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 10 }) }),
      weight: 3,
    },
    { arbitrary: fc.record({ op: fc.constant('removeAny' as const), score: key, primaryKey }), weight: 2 },
    // Bounds in either order: a reversed or equal pair is an empty range.
    { arbitrary: fc.record({ op: fc.constant('range' as const), ge: key, lt: key }), weight: 4 },
    { arbitrary: fc.record({ op: fc.constant('size' as const) }), weight: 1 },
    { arbitrary: fc.record({ op: fc.constant('clear' as const) }), weight: 1 },
  );
}

const order = (a: Entry, b: Entry) => compareKeys(a.score, b.score) || comparePrimaryKeys(a.primaryKey, b.primaryKey);
const same = (a: Entry, score: Key, primaryKey: HashKey) => compareKeys(a.score, score) === 0 && a.primaryKey === primaryKey;

describe.each(structures)('%s', (_, make) => {
  test.each(domains)(
    'with %s, after any sequence of adds, replacements, removals and clears, every range read and size equal a sorted array',
    (_, domain) => {
      fc.assert(
        fc.property(fc.array(operation(domain), { maxLength: 30 }), (operations) => {
          const structure = make();
          let model: Entry[] = [];
          let nextValue = 0;
          const add = (score: Key, primaryKey: HashKey) => {
            const value = nextValue++;
            structure.add(score, primaryKey, value);
            model = model.filter((e) => !same(e, score, primaryKey));
            model.push({ score, primaryKey, value });
            model.sort(order);
          };
          const remove = (score: Key, primaryKey: HashKey) => {
            structure.remove(score, primaryKey);
            model = model.filter((e) => !same(e, score, primaryKey));
          };
          for (const operation of operations) {
            switch (operation.op) {
              case 'add': {
                const entries = operation.sorted
                  ? [...operation.entries].sort(([s, k], [t, l]) => compareKeys(s, t) || comparePrimaryKeys(k, l))
                  : operation.entries;
                for (const [score, primaryKey] of entries) add(score, primaryKey);
                break;
              }
              case 'replace': {
                const entry = model[operation.pick % model.length];
                if (entry !== undefined) add(entry.score, entry.primaryKey);
                break;
              }
              case 'removePresent':
                for (const pick of operation.picks) {
                  const entry = model[pick % model.length];
                  if (entry !== undefined) remove(entry.score, entry.primaryKey);
                }
                break;
              case 'removeAny':
                remove(operation.score, operation.primaryKey);
                break;
              case 'range': {
                const { ge, lt } = operation;
                const expected = model.filter((e) => compareKeys(e.score, ge) >= 0 && compareKeys(e.score, lt) < 0).map((e) => e.value);
                expect(structure.range(ge, lt)).toEqual(expected);
                break;
              }
              case 'size':
                expect(structure.size).toBe(model.length);
                break;
              case 'clear':
                structure.clear();
                model = [];
                break;
            }
          }
          expect(structure.size).toBe(model.length);
          const first = model[0];
          if (first !== undefined)
            expect(structure.range(first.score, domain.score(LOADED + ABOVE + 1))).toEqual(model.map((e) => e.value));
        }),
        // FC_NUM_RUNS=20000 for a long run; the default keeps the suite fast.
        { numRuns: Number(process.env.FC_NUM_RUNS) || 300 },
      );
    },
  );
});
