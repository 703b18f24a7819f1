import { NamedIndexes } from '@tablecache/core';

/**
 * A record whose fields all derive from its id and version, so a reader can tell a torn record
 * (fields of two versions) from a whole one.
 */
export interface Versioned {
  readonly id: number;
  readonly rank: number;
  readonly version: number;
  readonly text: string;
  readonly when: Date;
  readonly big: bigint;
}

export const versioned = (id: number, version: number): Versioned => ({
  id,
  rank: id,
  version,
  text: `${id}·${version}·${'ü'.repeat((id + version) % 7)}`,
  when: new Date(Date.UTC(2026, 0, 1) + id * 1000 + version),
  big: BigInt(id) * 1_000_000_007n + BigInt(version),
});

/** Whether every field of the record agrees with its id and version. */
export function isWhole(record: Versioned): boolean {
  const expected = versioned(record.id, record.version);
  return (
    record.rank === expected.rank &&
    record.text === expected.text &&
    record.when.getTime() === expected.when.getTime() &&
    record.big === expected.big
  );
}

const unused = { sql: 'unused' };

/** The indexes of the stress table: a primary key and a range index by rank. Readers never query. */
export function versionedIndexes(query: (ge: number, lt: number) => { sql: string } = () => unused) {
  return new NamedIndexes({ primaryKey: (r: Versioned) => r.id, queryAll: unused, querySome: () => unused }).withRangeIndex('byRank', {
    score: (r) => r.rank,
    query,
  });
}

/** What a stress reader sends back when told to stop. */
export interface StressReport {
  readonly reads: number;
  readonly fromMemory: number;
  readonly records: number;
  readonly problems: readonly string[];
}
