import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Interval } from '../interval/interval.js';
import type { StorageRecordsSpec } from '../storage/storage-table.js';
import { InvalidationSet, invalidatedBy } from './invalidation-set.js';

const RANGES = new Set(['byScore']);
const key = fc.integer({ min: 0, max: 20 });
const interval = fc.tuple(key, key).map(([a, b]) => new Interval(Math.min(a, b), Math.max(a, b)));
const keysWhere = fc.oneof(
  fc.record({ kind: fc.constant('keys' as const), index: fc.constantFrom('primaryKey', 'byCity'), keys: fc.array(key, { maxLength: 3 }) }),
  fc.record({
    kind: fc.constant('range' as const),
    index: fc.constant('byScore'),
    intervals: fc.array(interval, { minLength: 1, maxLength: 2 }),
  }),
);
const where: fc.Arbitrary<StorageRecordsSpec<never>> = fc.oneof(keysWhere, fc.constant({ kind: 'all' as const }));
const mark = fc.oneof(
  fc.record({ mark: fc.constant('staleRecord' as const), primaryKey: key, city: key, score: key }),
  fc.record({ mark: fc.constant('staleSpec' as const), where }),
  fc.record({ mark: fc.constant('reloadKeys' as const), keys: fc.array(key, { maxLength: 3 }) }),
  fc.record({ mark: fc.constant('reloadSpec' as const), where: keysWhere }),
  fc.record({ mark: fc.constant('everything' as const) }),
);

type Mark = typeof mark extends fc.Arbitrary<infer M> ? M : never;

function setOf(marks: readonly Mark[]) {
  const set = new InvalidationSet<never, string>(RANGES);
  marks.forEach((m, generation) => {
    if (m.mark === 'staleRecord')
      set.markStaleRecord(
        m.primaryKey,
        [
          ['byCity', m.city],
          ['byScore', m.score],
        ],
        generation,
      );
    else if (m.mark === 'staleSpec') set.markStaleSpec(m.where, generation);
    else if (m.mark === 'reloadKeys') set.reloadPrimaryKeys(m.keys, generation);
    else if (m.mark === 'reloadSpec') set.reloadSpec('spec', m.where, generation);
    else set.markEverything(generation);
  });
  return set;
}

describe('a snapshot of invalidations answers another thread as the set answers its own', () => {
  test('what the snapshots mark intersects exactly the reads the set would make wait', () => {
    fc.assert(
      fc.property(
        fc.array(mark, { maxLength: 8 }),
        fc.array(mark, { maxLength: 4 }),
        fc.array(where, { minLength: 1, maxLength: 6 }),
        (pending, inFlight, reads) => {
          const sets = [setOf(pending), setOf(inFlight)];
          const invalid = invalidatedBy<never>(structuredClone(sets.map((set) => set.snapshot())), RANGES);
          for (const read of reads) {
            const expected = sets.some((set) => set.intersects(read, Number.MAX_SAFE_INTEGER));
            expect(invalid?.(read) ?? false).toBe(expected);
          }
        },
      ),
    );
  });

  test('a set of more than 10,000 marks snapshots as everything invalid', () => {
    const set = new InvalidationSet<never, string>(RANGES);
    set.reloadPrimaryKeys(
      Array.from({ length: 10_001 }, (_, i) => i),
      1,
    );
    expect(set.snapshot().everything).toBe(true);
    expect(invalidatedBy<never>([set.snapshot()], RANGES)?.({ kind: 'keys', index: 'byCity', keys: [1] })).toBe(true);
  });

  test('an empty set gives no test at all, so a reader checks nothing', () => {
    expect(invalidatedBy([new InvalidationSet<never, string>(RANGES).snapshot()], RANGES)).toBeUndefined();
  });
});
