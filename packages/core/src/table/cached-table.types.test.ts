// Compile-time behaviour: `pnpm typecheck` checks this file; each @ts-expect-error below is a
// call that must not compile, and the build fails if it does.
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely';
import { describe, expectTypeOf, test } from 'vitest';
import { NamedIndexes } from '../indexes/named-indexes.js';
import { PrimaryKeyIndexes } from '../indexes/primary-key-indexes.js';
import { MapStorageTable, MemoryDatabase } from '../testing/index.js';
import { CachedTable } from './cached-table.js';

interface Database {
  users: { id: number; name: string; email: string | null };
}

// A kysely instance that only builds queries: types are what is tested here.
const db = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (k) => new PostgresIntrospector(k),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

function usersTable() {
  const indexes = new PrimaryKeyIndexes({
    queryAll: db.selectFrom('users').select(['id', 'name']),
    primaryKey: (user) => user.id,
    querySome: (ids) => db.selectFrom('users').select(['id', 'name']).where('id', 'in', ids),
  });
  return new CachedTable(indexes, new MemoryDatabase(() => 0), new MapStorageTable(indexes));
}

describe('types flow from the query to the read', () => {
  test('records have the row type of the kysely query', () => {
    const table = usersTable();
    expectTypeOf(table.getRecords).returns.resolves.toEqualTypeOf<{ id: number; name: string }[]>();
    expectTypeOf(table.getFirstRecord).returns.resolves.toEqualTypeOf<{ id: number; name: string }>();
    expectTypeOf(table.getRecords)
      .parameter(0)
      .toEqualTypeOf<
        { readonly index: 'primaryKey'; readonly all: true } | { readonly index: 'primaryKey'; readonly keys: readonly number[] }
      >();
  });

  test('a spec for an index the table does not have does not compile', () => {
    const table = usersTable();
    // @ts-expect-error: the table has no index 'byName'
    void (() => table.getRecords({ index: 'byName', keys: ['x'] }));
  });

  test('keys of the wrong type do not compile', () => {
    const table = usersTable();
    // @ts-expect-error: primary keys are numbers
    void (() => table.getRecords({ index: 'primaryKey', keys: ['1'] }));
  });

  test('a spec of the wrong shape does not compile', () => {
    const table = usersTable();
    // @ts-expect-error: `all` must be true
    void (() => table.load({ index: 'primaryKey', all: false }));
    // @ts-expect-error: keys is an array
    void (() => table.getRecords({ index: 'primaryKey', keys: 1 }));
  });

  test('a key function that uses a column the query does not select does not compile', () => {
    void new PrimaryKeyIndexes({
      queryAll: db.selectFrom('users').select(['id']),
      // @ts-expect-error: name is not selected
      primaryKey: (user) => user.name,
      querySome: () => db.selectFrom('users').select(['id']),
    });
  });

  test('hash and range indexes added to NamedIndexes type their queries and specs with nothing annotated', () => {
    const users = () => db.selectFrom('users').select(['id', 'name', 'email']);
    const indexes = new NamedIndexes({ queryAll: users(), primaryKey: (user) => user.id })
      .withHashIndex('byName', { key: (user) => user.name, query: (names) => users().where('name', 'in', names) })
      .withRangeIndex('byId', { score: (user) => user.id, query: (ge, lt) => users().where('id', '>=', ge).where('id', '<', lt) });
    const table = new CachedTable(indexes, new MemoryDatabase(() => 0), new MapStorageTable(indexes));
    void (() => table.getRecords({ index: 'byName', keys: ['Ada'] }));
    void (() => table.getRecords({ index: 'byId', ge: 1, lt: 9 }));
    // @ts-expect-error: names are strings
    void (() => table.getRecords({ index: 'byName', keys: [1] }));
    // @ts-expect-error: the table has no index 'byEmail'
    void (() => table.getRecords({ index: 'byEmail', keys: ['a@b'] }));
    // @ts-expect-error: an index name is taken once
    void (() => indexes.withHashIndex('byName', { key: (user) => user.email ?? '', query: () => users() }));
  });
});
