import { describe, expect, test } from 'vitest';
import {
  AlreadyLoadedError,
  InvalidKeyError,
  MalformedSpecError,
  NotLoadedError,
  RecordNotFoundError,
  TableClosedError,
  UndefinedKeyError,
  UnknownIndexError,
} from '../errors/errors.js';
import { PrimaryKeyIndexes, type PrimaryKeySpec } from '../indexes/primary-key-indexes.js';
import { MapStorageTable, readWhile } from '../testing/index.js';
import { CachedTable } from './cached-table.js';
import { all, keys, usersTable as setup, type User, user } from './users.fixture.js';

/**
 * Whether one read during a rewrite of the even ids (v1 → v2) was whole: every wanted record, in
 * order; odd ids untouched; the even ids all of one version, the new one if the read started
 * after the invalidation.
 */
function readProblem(records: User[], wanted: number[], startedAfterInvalidation: boolean): string | undefined {
  const evenVersions = new Set(records.filter((r) => r.id % 2 === 0).map((r) => r.name));
  const whole =
    records.length === wanted.length &&
    records.every((r, i) => r.id === wanted[i] && (r.id % 2 === 0 || r.name === 'v1')) &&
    evenVersions.size <= 1 &&
    !(startedAfterInvalidation && evenVersions.has('v1'));
  return whole ? undefined : `${records.length}/${wanted.length} records, even versions ${[...evenVersions].join(',')}`;
}

async function loaded(rows?: User[], options?: { maxKeysPerQuery?: number }) {
  const context = setup(rows, options);
  await context.table.load(all);
  context.db.queries.length = 0;
  return context;
}

describe('loading and reading', () => {
  test('after loading everything, reads of loaded keys run no query', async () => {
    const { db, table } = await loaded();
    expect(await table.getRecords(keys(2, 1))).toEqual([user(2), user(1)]);
    expect(db.queries).toEqual([]);
  });

  test('after loading everything, an absent key is known absent without a query', async () => {
    const { db, table } = await loaded();
    expect(await table.getRecords(keys(99))).toEqual([]);
    await expect(table.getFirstRecord(keys(99))).rejects.toThrow(RecordNotFoundError);
    expect(db.queries).toEqual([]);
  });

  test('reading everything after loading everything runs no query', async () => {
    const { db, table } = await loaded();
    expect(await table.getRecords(all)).toEqual([user(1), user(2), user(3)]);
    expect(db.queries).toEqual([]);
  });

  test('before load, reads go to the database', async () => {
    const { db, table } = setup();
    expect(await table.getRecords(keys(1))).toEqual([user(1)]);
    expect(db.queries).toEqual([db.querySome([1])]);
  });

  test('a table loaded with some keys reads the others from the database', async () => {
    const { db, table } = setup();
    await table.load(keys(1, 2));
    db.queries.length = 0;
    expect(await table.getRecords(keys(1))).toEqual([user(1)]);
    expect(db.queries).toEqual([]);
    expect(await table.getRecords(keys(1, 3))).toEqual([user(1), user(3)]);
    expect(db.queries).toEqual([db.querySome([1, 3])]);
  });

  test('loading no keys sends no query and caches nothing', async () => {
    const { db, table } = setup();
    await table.load(keys());
    expect(db.queries).toEqual([]);
    expect(await table.getRecords(keys(1))).toEqual([user(1)]);
  });

  test('getFirstRecord gives the first match', async () => {
    const { table } = await loaded();
    expect(await table.getFirstRecord(keys(3, 1))).toEqual(user(3));
  });

  test('getFirstRecord from the database rejects with RecordNotFoundError when nothing matches', async () => {
    const { table } = setup();
    await expect(table.getFirstRecord(keys(99))).rejects.toThrow(RecordNotFoundError);
  });

  test('streamRecords yields what getRecords returns', async () => {
    const { table } = await loaded();
    const streamed: User[] = [];
    for await (const record of table.streamRecords(all)) streamed.push(record);
    expect(streamed).toEqual(await table.getRecords(all));
  });

  test('reads that start while the table loads wait for the load', async () => {
    const { db, table } = setup();
    const gate = db.pause();
    const loading = table.load(all);
    await gate.reached;
    const read = table.getRecords(keys(1));
    gate.release();
    await loading;
    expect(await read).toEqual([user(1)]);
    expect(db.queries).toEqual([db.queryAll]);
  });

  test('loaded() resolves once the load succeeded', async () => {
    const { table } = setup();
    const ready = table.loaded();
    await table.load(all);
    await expect(ready).resolves.toBeUndefined();
  });
});

describe('load errors', () => {
  test('a second load rejects with AlreadyLoadedError', async () => {
    const { table } = await loaded();
    await expect(table.load(all)).rejects.toThrow(AlreadyLoadedError);
  });

  test('a load while loading rejects with AlreadyLoadedError', async () => {
    const { table } = setup();
    const first = table.load(all);
    await expect(table.load(all)).rejects.toThrow(AlreadyLoadedError);
    await first;
  });

  test('a failing load rejects load() and loaded(), and leaves nothing cached', async () => {
    const { db, table } = setup();
    db.failNext(new Error('connection lost'), 2);
    const ready = table.loaded();
    await expect(table.load(all)).rejects.toThrow('connection lost');
    await expect(ready).rejects.toThrow('connection lost');
    await expect(table.loaded()).rejects.toThrow('connection lost');
    db.queries.length = 0;
    expect(await table.getRecords(keys(1))).toEqual([user(1)]);
    expect(db.queries).toHaveLength(1);
  });

  test('a failed load can be retried', async () => {
    const { db, table } = setup();
    db.failNext(new Error('connection lost'));
    await expect(table.load(all)).rejects.toThrow('connection lost');
    await table.load(all);
    await expect(table.loaded()).resolves.toBeUndefined();
    expect(await table.getRecords(all)).toHaveLength(3);
  });
});

describe('bad specs', () => {
  test('an unknown index is rejected with UnknownIndexError naming the known ones', async () => {
    const { table } = await loaded();
    const spec = { index: 'byName', keys: ['x'] } as unknown as PrimaryKeySpec<number>;
    await expect(table.getRecords(spec)).rejects.toThrow(UnknownIndexError);
    await expect(table.getRecords(spec)).rejects.toThrow("'primaryKey'");
  });

  test.each([
    ['no keys', { index: 'primaryKey' }],
    ['keys that are not an array', { index: 'primaryKey', keys: 1 }],
    ['all that is not true', { index: 'primaryKey', all: false }],
    ['an extra field', { index: 'primaryKey', keys: [1], limit: 3 }],
    ['not an object', 'primaryKey'],
  ])('a spec with %s is rejected with MalformedSpecError', async (_, spec) => {
    const { table } = await loaded();
    await expect(table.getRecords(spec as unknown as PrimaryKeySpec<number>)).rejects.toThrow(MalformedSpecError);
  });

  test('an undefined key is rejected with UndefinedKeyError', async () => {
    const { table } = await loaded();
    await expect(table.getRecords({ index: 'primaryKey', keys: [undefined as unknown as number] })).rejects.toThrow(UndefinedKeyError);
  });

  test('a NaN key is rejected with InvalidKeyError', async () => {
    const { table } = await loaded();
    await expect(table.getRecords(keys(Number.NaN))).rejects.toThrow(InvalidKeyError);
  });

  test('a load with a bad spec rejects and the table can still be loaded', async () => {
    const { table } = setup();
    await expect(table.load({ index: 'primaryKey', keys: [Number.NaN] })).rejects.toThrow(InvalidKeyError);
    await table.load(all);
  });

  test('an invalidation with one bad spec throws and marks nothing', async () => {
    const { db, table } = await loaded();
    db.set(user(1, 'changed'));
    expect(() => table.invalidateRecords([keys(1), keys(Number.NaN)])).toThrow(InvalidKeyError);
    expect(await table.getRecords(keys(1))).toEqual([user(1)]);
    expect(db.queries).toEqual([]);
  });

  test('an invalidation given a spec instead of an array throws MalformedSpecError', async () => {
    const { table } = await loaded();
    expect(() => table.invalidateRecords(keys(1) as unknown as PrimaryKeySpec<number>[])).toThrow(MalformedSpecError);
  });
});

describe('invalidation', () => {
  test('a changed row is served stale until invalidated, then fresh', async () => {
    const { db, table } = await loaded();
    db.set(user(1, 'renamed'));
    expect(await table.getRecords(keys(1))).toEqual([user(1)]);
    table.invalidateRecords([keys(1)]);
    expect(await table.getRecords(keys(1))).toEqual([user(1, 'renamed')]);
    expect(db.queries).toEqual([db.querySome([1])]);
  });

  test('an invalidated row that was deleted disappears', async () => {
    const { db, table } = await loaded();
    db.delete(2);
    table.invalidateRecords([keys(2)]);
    expect(await table.getRecords(all)).toEqual([user(1), user(3)]);
  });

  test('an invalidated key that was inserted appears, and is then served from memory', async () => {
    const { db, table } = await loaded();
    db.set(user(4));
    table.invalidateRecords([keys(4)]);
    await table.refreshInvalid();
    db.queries.length = 0;
    expect(await table.getRecords(keys(4))).toEqual([user(4)]);
    expect(db.queries).toEqual([]);
  });

  test('refreshInvalid coalesces many invalidated keys into one query', async () => {
    const { db, table } = await loaded();
    for (const id of [1, 2, 3]) {
      db.set(user(id, 'changed'));
      table.invalidateRecords([keys(id)]);
    }
    await table.refreshInvalid();
    expect(db.queries).toEqual([db.querySome([1, 2, 3])]);
    expect(await table.getRecords(all)).toEqual([user(1, 'changed'), user(2, 'changed'), user(3, 'changed')]);
  });

  test('keys beyond maxKeysPerQuery are refreshed in several queries', async () => {
    const { db, table } = await loaded(undefined, { maxKeysPerQuery: 2 });
    table.invalidateRecords([keys(1, 2, 3)]);
    await table.refreshInvalid();
    expect(db.queries).toEqual([db.querySome([1, 2]), db.querySome([3])]);
  });

  test('a read of keys that are not invalid neither waits for nor causes a refresh', async () => {
    const { db, table } = await loaded();
    table.invalidateRecords([keys(1)]);
    expect(await table.getRecords(keys(2))).toEqual([user(2)]);
    expect(db.queries).toEqual([]);
  });

  test('invalidating everything reloads everything', async () => {
    const { db, table } = await loaded();
    db.delete(1);
    db.set(user(2, 'changed'), user(5));
    table.invalidateRecords([all]);
    expect(await table.getRecords(all)).toEqual([user(2, 'changed'), user(3), user(5)]);
    expect(db.queries).toEqual([db.queryAll]);
  });

  test('an old spec and a different new spec drop the old records and load the new ones', async () => {
    const { db, table } = await loaded();
    db.delete(1);
    db.set(user(4));
    table.invalidateRecords([keys(1)], [keys(4)]);
    expect(await table.getRecords(all)).toEqual([user(2), user(3), user(4)]);
  });

  test('in a table loaded with some keys, a row invalidated outside them is not kept', async () => {
    const { db, table } = setup();
    await table.load(keys(1));
    db.set(user(2, 'changed'));
    table.invalidateRecords([keys(2)]);
    await table.refreshInvalid();
    db.queries.length = 0;
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
    expect(db.queries).toHaveLength(1); // still not covered: read from the database
  });

  test('invalidating before load does nothing', async () => {
    const { db, table } = setup();
    table.invalidateRecords([keys(1)]);
    await table.refreshInvalid();
    expect(db.queries).toEqual([]);
  });
});

describe('refresh under concurrency and failure', () => {
  test('a refresh that fails after 200,000 invalidations arrived keeps them all pending, its own batch too', async () => {
    const { db, table } = await loaded();
    db.set(user(1, 'changed'));
    table.invalidateRecords([keys(1)]);
    const failure = new Error('connection lost');
    db.failNext(failure);
    const gate = db.pause();
    const refreshing = table.refreshInvalid();
    await gate.reached;
    for (let i = 0; i < 200_000; i++) table.invalidateRecords([keys(2)]);
    gate.release();
    await expect(refreshing).rejects.toMatchObject({ name: 'DatabaseError', cause: failure });
    expect(table.peek(1)).toBeUndefined();
    expect(await table.getRecords(keys(1))).toEqual([user(1, 'changed')]);
  });

  test('a read of more records than a call takes as arguments, served after a refresh, returns them all', async () => {
    const { db, table } = setup([]);
    for (let id = 1; id <= 200_000; id++) db.set(user(id));
    await table.load(all);
    table.invalidateRecords([keys(1)]);
    expect((await table.getRecords(all)).length).toBe(200_000);
  });

  test('an invalidation that arrives while a refresh runs is not lost', async () => {
    const { db, table } = await loaded();
    db.set(user(1, 'first'));
    table.invalidateRecords([keys(1)]);
    const gate = db.pause();
    const refreshing = table.refreshInvalid();
    await gate.reached;
    db.set(user(2, 'second'));
    table.invalidateRecords([keys(2)]);
    gate.release();
    await refreshing;
    expect(await table.getRecords(keys(1, 2))).toEqual([user(1, 'first'), user(2, 'second')]);
  });

  test('a row changed again while its refresh runs is refreshed again', async () => {
    const { db, table } = await loaded();
    db.set(user(1, 'first'));
    table.invalidateRecords([keys(1)]);
    const gate = db.pause();
    const refreshing = table.refreshInvalid();
    await gate.reached; // the refresh query has taken its snapshot
    db.set(user(1, 'second'));
    table.invalidateRecords([keys(1)]);
    gate.release();
    await refreshing;
    expect(await table.getRecords(keys(1))).toEqual([user(1, 'second')]);
  });

  test('a read that needs an invalid key waits for the running refresh', async () => {
    const { db, table } = await loaded();
    db.set(user(1, 'changed'));
    table.invalidateRecords([keys(1)]);
    const gate = db.pause();
    const refreshing = table.refreshInvalid();
    await gate.reached;
    const read = table.getRecords(keys(1));
    gate.release();
    expect(await read).toEqual([user(1, 'changed')]);
    await refreshing;
    expect(db.queries).toHaveLength(1);
  });

  test('readers busy while a refresh rewrites thousands of records never see one missing or half-updated', async () => {
    const ids = Array.from({ length: 4000 }, (_, i) => i);
    const { db, table } = await loaded(ids.map((id) => user(id, 'v1')));
    const rewritten = ids.filter((id) => id % 2 === 0);
    db.set(...rewritten.map((id) => user(id, 'v2')));
    let invalidated = false;
    const { problems, readsDuring } = await readWhile(
      async () => {
        table.invalidateRecords([{ index: 'primaryKey', keys: rewritten }]);
        invalidated = true;
        await table.refreshInvalid();
      },
      // Readers 0 and 1 read only records that are not rewritten: they are served during the refresh.
      async (reader, round) => {
        const wanted = ids.filter((id) => (id + round + reader) % 7 === 0 && (reader > 1 || id % 2 === 1));
        const startedAfterInvalidation = invalidated;
        return readProblem(await table.getRecords(keys(...wanted)), wanted, startedAfterInvalidation);
      },
    );
    expect(problems).toEqual([]);
    expect(readsDuring).toBeGreaterThan(100);
    expect(await table.getRecords(all)).toEqual(ids.map((id) => user(id, id % 2 === 0 ? 'v2' : 'v1')));
  });

  test('readers busy while an adjust reloads thousands of records see all old or all new records', async () => {
    // An adjust marks nothing invalid, so reads go on from memory while it runs: only the
    // scratch space's single commit keeps them from seeing a half-written table.
    const ids = Array.from({ length: 4000 }, (_, i) => i);
    const { db, table } = await loaded(ids.map((id) => user(id, 'v1')));
    db.set(...ids.map((id) => user(id, 'v2')));
    const { problems, readsDuring } = await readWhile(
      () => table.adjust(all),
      async () => {
        const records = await table.getRecords(all);
        const versions = new Set(records.map((r) => r.name));
        return records.length === ids.length && versions.size === 1
          ? undefined
          : `${records.length} records, versions ${[...versions].join(',')}`;
      },
    );
    expect(problems).toEqual([]);
    expect(readsDuring).toBeGreaterThan(100);
    expect(new Set((await table.getRecords(all)).map((r) => r.name))).toEqual(new Set(['v2']));
  });

  test('a failed refresh keeps the previous state, rejects, and the next read retries', async () => {
    const { db, table } = await loaded();
    db.set(user(1, 'changed'));
    table.invalidateRecords([keys(1)]);
    db.failNext(new Error('query failed'));
    await expect(table.refreshInvalid()).rejects.toThrow('query failed');
    expect(await table.getRecords(keys(2))).toEqual([user(2)]);
    expect(await table.getRecords(keys(1))).toEqual([user(1, 'changed')]);
  });

  test('a read whose refresh fails gets the error', async () => {
    const { db, table } = await loaded();
    table.invalidateRecords([keys(1)]);
    db.failNext(new Error('query failed'), 0);
    await expect(table.getRecords(keys(1))).rejects.toThrow('query failed');
  });

  test('a refresh failing midway keeps what arrived meanwhile pending', async () => {
    const { db, table } = await loaded();
    table.invalidateRecords([keys(1)]);
    const gate = db.pause();
    db.failNext(new Error('query failed'));
    const refreshing = table.refreshInvalid();
    await gate.reached;
    db.set(user(2, 'changed'));
    table.invalidateRecords([keys(2)]);
    gate.release();
    await expect(refreshing).rejects.toThrow('query failed');
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
  });
});

describe('adjust', () => {
  test('adjusting from everything to some keys expires the others', async () => {
    const { db, table } = await loaded();
    await table.adjust(keys(1, 3));
    db.queries.length = 0;
    expect(await table.getRecords(keys(1, 3))).toEqual([user(1), user(3)]);
    expect(db.queries).toEqual([]);
    await table.getRecords(keys(2));
    expect(db.queries).toEqual([db.querySome([2])]);
  });

  test('adjusting to other keys loads only the keys that enter', async () => {
    const { db, table } = setup();
    await table.load(keys(1, 2));
    db.queries.length = 0;
    await table.adjust(keys(2, 3));
    expect(db.queries).toEqual([db.querySome([3])]);
    db.queries.length = 0;
    expect(await table.getRecords(keys(2, 3))).toEqual([user(2), user(3)]);
    expect(db.queries).toEqual([]);
  });

  test('adjust before load rejects with NotLoadedError', async () => {
    const { table } = setup();
    await expect(table.adjust(all)).rejects.toThrow(NotLoadedError);
  });

  test('concurrent adjusts end in the state of the last one', async () => {
    const { db, table } = await loaded();
    await Promise.all([table.adjust(keys(1)), table.adjust(keys(2)), table.adjust(keys(3))]);
    db.queries.length = 0;
    expect(await table.getRecords(keys(3))).toEqual([user(3)]);
    expect(db.queries).toEqual([]);
    expect(await table.getRecords(keys(1))).toEqual([user(1)]);
    expect(db.queries).toHaveLength(1);
  });

  test('a failing adjust keeps the previous coverage and records', async () => {
    const { db, table } = await loaded();
    db.failNext(new Error('query failed'), 1);
    await expect(table.adjust(all)).rejects.toThrow('query failed');
    db.queries.length = 0;
    expect(await table.getRecords(all)).toEqual([user(1), user(2), user(3)]);
    expect(db.queries).toEqual([]);
  });
});

describe('reading synchronously', () => {
  test('a covered, valid spec is answered at once from memory', async () => {
    const { db, table } = await loaded();
    expect(table.getRecordsSync(keys(2, 9))).toEqual([user(2)]);
    expect(db.queries).toEqual([]);
  });

  test('an invalid key makes it answer undefined and start nothing; getRecords then refreshes', async () => {
    const { db, table } = await loaded();
    db.set(user(2, 'changed'));
    table.invalidateRecords([keys(2)]);
    expect(table.getRecordsSync(keys(2))).toBeUndefined();
    expect(table.getRecordsSync(keys(1))).toEqual([user(1)]);
    expect(db.queries).toEqual([]);
    expect(await table.getRecords(keys(2))).toEqual([user(2, 'changed')]);
    expect(table.getRecordsSync(keys(2))).toEqual([user(2, 'changed')]);
  });

  test('a spec memory does not cover, or a table not loaded yet, answers undefined', async () => {
    const { table } = setup();
    expect(table.getRecordsSync(keys(1))).toBeUndefined();
    await table.load(keys(1));
    expect(table.getRecordsSync(keys(2))).toBeUndefined();
    expect(table.getRecordsSync(keys(1))).toEqual([user(1)]);
  });

  test('a bad spec throws the same typed errors as getRecords', async () => {
    const { table } = await loaded();
    expect(() => table.getRecordsSync(keys(Number.NaN))).toThrow(InvalidKeyError);
  });
});

describe('peeking by primary key', () => {
  test('a stored, valid record is returned at once without a query', async () => {
    const { db, table } = await loaded();
    expect(table.peek(2)).toEqual(user(2));
    expect(db.queries).toEqual([]);
  });

  test('an absent key, or a table not loaded yet, gives undefined', async () => {
    const { table } = setup();
    expect(table.peek(1)).toBeUndefined();
    await table.load(keys(1));
    expect(table.peek(2)).toBeUndefined();
    expect(table.peek(1)).toEqual(user(1));
  });

  test('an invalidated record gives undefined and starts nothing until a refresh brings the new one', async () => {
    const { db, table } = await loaded();
    db.set(user(2, 'changed'));
    table.invalidateRecords([keys(2)]);
    expect(table.peek(2)).toBeUndefined();
    expect(table.peek(1)).toEqual(user(1));
    expect(db.queries).toEqual([]);
    await table.refreshInvalid();
    expect(table.peek(2)).toEqual(user(2, 'changed'));
  });

  test('a record a running refresh is reloading gives undefined until the refresh commits', async () => {
    const { db, table } = await loaded();
    db.set(user(2, 'changed'));
    table.invalidateRecords([keys(2)]);
    const gate = db.pause();
    const refreshing = table.refreshInvalid();
    await gate.reached;
    expect(table.peek(2)).toBeUndefined();
    expect(table.peek(1)).toEqual(user(1));
    gate.release();
    await refreshing;
    expect(table.peek(2)).toEqual(user(2, 'changed'));
  });

  test('a bad key throws InvalidKeyError, and a closed table TableClosedError', async () => {
    const { table } = await loaded();
    expect(() => table.peek(Number.NaN)).toThrow(InvalidKeyError);
    expect(() => table.peek(undefined as unknown as number)).toThrow(UndefinedKeyError);
    await table.close();
    expect(() => table.peek(1)).toThrow(TableClosedError);
  });

  test('during a load, peek gives undefined even for what the load has already stored', async () => {
    let releaseRest!: () => void;
    const rest = new Promise<void>((resolve) => (releaseRest = resolve));
    // A database that sends the first row, then waits.
    const db = {
      async *getRecords<R>(): AsyncIterable<R> {
        yield user(1) as R;
        await rest;
        yield user(2) as R;
      },
    };
    const indexes = new PrimaryKeyIndexes<User, number>({
      primaryKey: (u) => u.id,
      queryAll: { sql: 'all' },
      querySome: () => ({ sql: 'some' }),
    });
    const table = new CachedTable(indexes, db, new MapStorageTable(indexes));
    const loading = table.load(all);
    await new Promise((resolve) => setImmediate(resolve)); // user 1 is stored
    expect(table.peek(1)).toBeUndefined();
    releaseRest();
    await loading;
    expect(table.peek(1)).toEqual(user(1));
  });

  test('a record returned by peek is counted as a read from storage', async () => {
    const { table } = await loaded();
    table.peek(1);
    table.peek(99);
    expect(table.stats.readsFromStorage).toBe(1);
  });
});

describe('stats', () => {
  test('stats count queries, refreshes, the rows they wrote and where reads were served', async () => {
    const { table } = await loaded();
    await table.getRecords(keys(1));
    table.invalidateRecords([keys(1, 2)]);
    await table.refreshInvalid();
    await table.adjust(keys(1));
    await table.getRecords(keys(3));
    expect(table.stats).toEqual({
      queries: 3,
      refreshes: 1,
      refreshQueries: 1,
      refreshedRows: 2,
      readsFromStorage: 1,
      readsFromDatabase: 1,
    });
  });
});

describe('close', () => {
  test('after close every read rejects with TableClosedError', async () => {
    const { table } = await loaded();
    await table.close();
    await expect(table.getRecords(keys(1))).rejects.toThrow(TableClosedError);
    expect(() => table.invalidateRecords([keys(1)])).toThrow(TableClosedError);
  });

  test('closing during a load makes the load reject', async () => {
    const { db, table } = setup();
    const gate = db.pause();
    const loading = table.load(all);
    await gate.reached;
    await table.close();
    gate.release();
    await expect(loading).rejects.toThrow(TableClosedError);
    await expect(table.loaded()).rejects.toThrow(TableClosedError);
  });
});
