import { describe, expect, test } from 'vitest';
import { MalformedSpecError } from '../errors/errors.js';
import { NamedIndexes, type NamedIndexesSpec } from './named-indexes.js';

interface Member {
  readonly id: number;
  readonly city: number;
  readonly joined: number;
}

const query = { sql: 'unused' };
function indexes() {
  return new NamedIndexes({ primaryKey: (m: Member) => m.id, queryAll: query, querySome: () => query })
    .withHashIndex('byCity', { key: (m) => m.city, query: () => query })
    .withRangeIndex('byJoined', { score: (m) => m.joined, query: () => query });
}
type Spec = NamedIndexesSpec<number, { byCity: number }, { byJoined: number }>;

const probes: readonly Spec[] = [
  { index: 'primaryKey', all: true },
  { index: 'primaryKey', keys: [1, 2] },
  { index: 'byCity', keys: [1] },
  { index: 'byCity', keys: [1, 2] },
  { index: 'byCity', keys: [3] },
  { index: 'byJoined', ge: 10, lt: 20 },
  { index: 'byJoined', ge: 0, lt: 100 },
  { index: 'byJoined', ge: 50, lt: 60 },
];
const record = (id: number, city: number, joined: number): Member => ({ id, city, joined });

describe('coverage crosses to another copy of the indexes as data', () => {
  test.each<[string, Spec | undefined]>([
    ['nothing', undefined],
    ['everything', { index: 'primaryKey', all: true }],
    ['keys of a hash index', { index: 'byCity', keys: [1, 2] }],
    ['a window of a range index', { index: 'byJoined', ge: 5, lt: 25 }],
  ])('a copy given loadedSpecs() covers what the original covers, when it holds %s', (_, loaded) => {
    const original = indexes();
    if (loaded !== undefined) original.prepareAdjustment(loaded).commit();
    const copy = indexes();
    copy.restoreCoverage(structuredClone(original.loadedSpecs()));
    for (const probe of probes) expect(copy.covers(probe), JSON.stringify(probe)).toBe(original.covers(probe));
    for (const member of [record(1, 1, 10), record(2, 3, 30), record(3, 2, 24)])
      expect(copy.coversRecord(member)).toBe(original.coversRecord(member));
  });

  test('restoring no specs makes a copy cover nothing again', () => {
    const copy = indexes();
    copy.restoreCoverage([{ index: 'primaryKey', all: true }]);
    copy.restoreCoverage([]);
    expect(copy.covers({ index: 'byCity', keys: [1] })).toBe(false);
  });

  test('restoring more than one spec or a malformed one is refused with MalformedSpecError', () => {
    const copy = indexes();
    expect(() =>
      copy.restoreCoverage([
        { index: 'byCity', keys: [1] },
        { index: 'byCity', keys: [2] },
      ]),
    ).toThrow(MalformedSpecError);
    expect(() => copy.restoreCoverage([{ index: 'byCity', ge: 1 } as never])).toThrow(MalformedSpecError);
  });
});
