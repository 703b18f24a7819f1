import { describe, expect, test } from 'vitest';
import { describePlan, type InvalidationPlan } from '../change-feed/invalidation-plan.js';
import type { DbAccess } from '../db-access/db-access.js';
import { InvalidOptionsError } from '../errors/errors.js';
import { NamedIndexes } from '../indexes/named-indexes.js';
import { PrimaryKeyIndexes } from '../indexes/primary-key-indexes.js';
import type { StorageTable } from '../storage/storage-table.js';
import { MapStorageTable, MemoryDatabase, MemoryFeed } from '../testing/index.js';
import { CachedTable } from './cached-table.js';
import { silent } from './users.fixture.js';

/** A user joined with their city (none under a LEFT JOIN). */
interface Resident {
  readonly id: number;
  readonly name: string;
  readonly city_id: number | null;
  readonly city: string | null;
}

const resident = (id: number, cityId: number | null, city = cityId === null ? null : `city ${cityId}`): Resident => ({
  id,
  name: `user ${id}`,
  city_id: cityId,
  city,
});

const table = (name: string) => ({ schema: 'public', table: name });

/** users by id, cities through the records' city_id, a filter-only table whole. */
const PLAN: InvalidationPlan = {
  columns: ['id', 'name', 'city_id', 'city'],
  sources: [
    {
      table: table('cities'),
      how: 'rows',
      key: ['city_id'],
      links: [['city_id']],
      aliases: ['c'],
      because: 'c.city_id is output column city_id',
    },
    { table: table('switches'), how: 'whole', aliases: ['s'], because: 'key column s.id is linked to no output column' },
    { table: table('users'), how: 'rows', key: ['id'], links: [['id']], aliases: ['u'], because: 'u.id is output column id' },
  ],
  opaque: [],
};

/**
 * A table of residents 1 to 6 (city 1 + id % 3) over a memory database that explains its query
 * with `plan` and restricts it by link columns, watched through a memory feed with `'auto'`.
 */
function residents(
  options: { plan?: InvalidationPlan; storage?: (indexes: PrimaryKeyIndexes<Resident, number>) => StorageTable<Resident> } = {},
) {
  const db = new MemoryDatabase<Resident>((r) => r.id);
  db.set(...[1, 2, 3, 4, 5, 6].map((id) => resident(id, 1 + (id % 3))));
  const warnings: string[] = [];
  const access: DbAccess = Object.assign(db, {
    explainInvalidation: async () => options.plan ?? PLAN,
    linkQuery: (_query: unknown, columns: readonly string[], keys: readonly (readonly unknown[])[]) =>
      db.where(`${columns.join()} in ${JSON.stringify(keys)}`, (record) =>
        keys.some((key) => columns.every((column, i) => (record as unknown as Record<string, unknown>)[column] === key[i])),
      ),
  });
  const indexes = new PrimaryKeyIndexes<Resident, number>({ primaryKey: (r) => r.id, queryAll: db.queryAll, querySome: db.querySome });
  const storage = options.storage?.(indexes) ?? new MapStorageTable(indexes);
  const cached = new CachedTable(indexes, access, storage, { logger: { ...silent, warn: (line: string) => warnings.push(line) } });
  return { db, table: cached, feed: new MemoryFeed(), warnings };
}

async function watchedAndLoaded(options: Parameters<typeof residents>[0] = {}) {
  const context = residents(options);
  await context.table.watch(context.feed, { tables: 'auto' });
  await context.table.load({ index: 'primaryKey', all: true });
  context.db.queries.length = 0;
  return context;
}

describe("tables: 'auto'", () => {
  test('a change to a row-precise source reloads the records linked to its key, with one query', async () => {
    const { db, table, feed } = await watchedAndLoaded();
    db.set(resident(1, 2, 'renamed'), resident(4, 2, 'renamed'));
    feed.changes({ op: 'update', schema: 'public', table: 'cities', old: { city_id: 2 }, new: { city_id: 2 } });
    expect((await table.getRecords({ index: 'primaryKey', keys: [1, 4] })).map((r) => r.city)).toEqual(['renamed', 'renamed']);
    expect(db.queries.map((query) => query.sql)).toEqual(['select where city_id in [[2]]']);
    expect(table.stats.refreshedRows).toBe(2);
  });

  test('a record whose linked row went is reloaded by its primary key, not dropped', async () => {
    const { db, table, feed } = await watchedAndLoaded();
    db.set(resident(1, null), resident(4, null));
    feed.changes({ op: 'delete', schema: 'public', table: 'cities', old: { city_id: 2 } });
    expect(await table.getRecords({ index: 'primaryKey', keys: [1, 4] })).toEqual([resident(1, null), resident(4, null)]);
  });

  test('a change to a whole-table source reloads every record', async () => {
    const { table, feed } = await watchedAndLoaded();
    feed.changes({ op: 'update', schema: 'public', table: 'switches', old: { id: 1 }, new: { id: 1 } });
    await table.refreshInvalid();
    expect(table.stats.refreshedRows).toBe(6);
  });

  test('a change to a table the query does not read is ignored', async () => {
    const { table, feed } = await watchedAndLoaded();
    feed.changes({ op: 'delete', schema: 'public', table: 'elsewhere', old: { id: 1 } });
    expect(table.status.invalid).toBe(false);
  });

  test('a change that lacks a key column invalidates everything', async () => {
    const { table, feed } = await watchedAndLoaded();
    feed.changes({ op: 'delete', schema: 'public', table: 'cities', old: { name: 'no key' } });
    await table.refreshInvalid();
    expect(table.stats.refreshedRows).toBe(6);
  });

  test('records that lack a link column make a change invalidate everything, and the error says which column', async () => {
    const plan: InvalidationPlan = {
      ...PLAN,
      columns: ['id', 'name', 'town', 'city'],
      sources: [{ ...PLAN.sources[0], links: [['town']] } as InvalidationPlan['sources'][number]],
    };
    const errors: unknown[] = [];
    const { table, feed } = residents({ plan });
    await table.watch(feed, { tables: 'auto', onError: (error) => errors.push(error) });
    await table.load({ index: 'primaryKey', all: true });
    feed.changes({ op: 'update', schema: 'public', table: 'cities', old: { city_id: 2 }, new: { city_id: 2 } });
    await table.refreshInvalid();
    expect(table.stats.refreshedRows).toBe(6);
    expect(String(errors[0])).toContain("no property 'town'");
  });

  test('storage without addIndex makes row-precise sources whole-table, and the plan says why', async () => {
    const { table } = await watchedAndLoaded({ storage: (indexes) => withoutAddIndex(new MapStorageTable(indexes)) });
    const plan = await table.describeInvalidation();
    expect(plan.sources.map((source) => source.how)).toEqual(['whole', 'whole', 'whole']);
    expect(plan.sources[0]?.how === 'whole' && plan.sources[0].because).toContain(
      'the storage cannot index the cached records by (city_id)',
    );
  });

  test('what the query reads that no feed reports is logged as a warning at watch', async () => {
    const { warnings } = await watchedAndLoaded({
      plan: { ...PLAN, opaque: [{ what: 'function generate_series', because: 'it is a function' }] },
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('function generate_series');
  });

  test('a table whose access cannot explain queries refuses it with InvalidOptionsError', async () => {
    const db = new MemoryDatabase<Resident>((r) => r.id);
    const indexes = new PrimaryKeyIndexes<Resident, number>({ primaryKey: (r) => r.id, queryAll: db.queryAll, querySome: db.querySome });
    const cached = new CachedTable(indexes, db, new MapStorageTable(indexes), { logger: silent });
    await expect(cached.watch(new MemoryFeed(), { tables: 'auto' })).rejects.toThrow(InvalidOptionsError);
    await expect(cached.watch(new MemoryFeed(), { tables: 'auto' })).rejects.toThrow('explainInvalidation');
  });

  test('indexes without a query of every record refuse it with InvalidOptionsError naming queryAll', async () => {
    const { db } = residents();
    const indexes = new NamedIndexes<Resident, number>({ primaryKey: (r) => r.id, querySome: db.querySome });
    const cached = new CachedTable(indexes, db, new MapStorageTable(indexes), { logger: silent });
    await expect(cached.watch(new MemoryFeed(), { tables: 'auto' })).rejects.toThrow('queryAll');
  });

  test('a record next to auto that leaves out a table the query reads says so in a warning, naming it', async () => {
    const { table, feed, warnings } = residents();
    await table.watch(feed, { tables: { cities: 'auto', users: true } });
    expect(warnings).toEqual([expect.stringContaining('public.switches')]);
    expect(warnings[0]).toContain('not seen');
  });

  test('after a watch that maps some tables by hand, the plan in use says which are mapped by hand and which are not watched', async () => {
    const { table, feed } = residents();
    await table.watch(feed, { tables: { cities: 'auto', users: true } });
    const plan = await table.describeInvalidation();
    expect(plan.sources.map((source) => [source.table.table, source.how])).toEqual([
      ['cities', 'rows'],
      ['switches', 'unwatched'],
      ['users', 'mapped'],
    ]);
    expect(describePlan(plan)).toContain('public.users: mapped by hand, every change invalidates the whole table');
  });

  test('tables: auto names every table the query reads, so nothing is left out and nothing is said', async () => {
    const { warnings } = await watchedAndLoaded();
    expect(warnings).toEqual([]);
  });

  test('a name next to auto that the query does not read is refused with InvalidOptionsError', async () => {
    const { table, feed } = residents();
    await expect(table.watch(feed, { tables: { cities: 'auto', citys: true } })).rejects.toThrow(InvalidOptionsError);
  });
});

/** A storage without the optional `addIndex` (as shared memory is). */
function withoutAddIndex<R>(storage: StorageTable<R>): StorageTable<R> {
  return {
    name: storage.name,
    get size() {
      return storage.size;
    },
    get: (key) => storage.get(key),
    getRecords: (spec) => storage.getRecords(spec),
    put: (record) => storage.put(record),
    clear: () => storage.clear(),
    scratch: () => storage.scratch(),
  };
}
