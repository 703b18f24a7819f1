/**
 * What a change costs with `tables: 'auto'`, against a hand-written mapping and against
 * invalidating the whole table: the rows refreshed per change (`stats.refreshedRows`), per query
 * shape and kind of change, all measured in one run on the same data. The shapes (schemas,
 * queries, keys) are those of the property test, from `examples/auto-invalidation.shapes.ts`;
 * this file adds the data, the changes and the hand-written mappings.
 *
 *   pnpm bench:auto             # 10,000 users in 100 cities (and as many rows for the other shapes)
 *   pnpm bench:auto --rows N
 *
 * Postgres: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres); each shape's schema
 * is created there and dropped at the end.
 */
import { CachedTable, type Change, type Key, NamedIndexes, type PrimaryKeysSpec, type TableMapping } from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { installTriggers, PgNotifyFeed, PostgresAccess, uninstallTriggers } from '@tablecache/postgres';
import { primaryKey, querySome, quote, SHAPES, type Shape } from '../examples/auto-invalidation.shapes.js';

const argv = process.argv.slice(2);
const rowsArg = argv.indexOf('--rows');
const N = rowsArg >= 0 ? Number(argv[rowsArg + 1]) : 10_000;
const CITIES = 100;
const CHANNEL = 'tablecache_bench_auto';
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

type Spec = PrimaryKeysSpec<Key>;
type Mapping = TableMapping<Spec>;

/** What the bench adds to a shape: data, the changes measured and the mapping a user would write by hand. */
interface Workload {
  readonly schema: string;
  /** Fills the shape's tables (created by `shape.create`). */
  readonly fill: string;
  /** A mapping per source table (by its name in the shape), or none where no mapping is natural. */
  readonly handWritten?: (lookup: Lookup) => Record<string, Mapping>;
  /**
   * Each kind of change: statement `i` (0, 1, …) of a run; `n` is unique across the whole run.
   * `byHand: false` where the hand-written mapping can only invalidate the whole table (shown "—").
   */
  readonly changes: readonly { readonly kind: string; readonly sql: (i: number, n: number) => string; readonly byHand?: false }[];
}

/** A hand-written mapping that asks the database for the records' keys: `sql` gets the changed values as `$1`. */
type Lookup = (sql: string, values: (change: Change) => unknown[]) => Mapping;

/** The values of `columns` in a change's old and new row (a tuple for several columns). */
const changed =
  (...columns: string[]) =>
  (change: Change): Spec[] => {
    const keys = [change.old, change.new]
      .filter((row) => row !== undefined && row !== null)
      .map((row) => {
        const values = columns.map((column) => (row as Record<string, unknown>)[column] as number);
        return values.length === 1 ? (values[0] as number) : values;
      });
    return [{ index: 'primaryKey', keys }];
  };
const valuesOf =
  (column: string) =>
  (change: Change): unknown[] =>
    [change.old?.[column], change.new?.[column]].filter((value) => value !== undefined && value !== null);

const SEED_FILL = (s: string) => `
  INSERT INTO ${s}.cities SELECT g, 'city ' || g FROM generate_series(1, ${CITIES}) g;
  INSERT INTO ${s}.users SELECT g, 'user ' || g FROM generate_series(1, ${N}) g;
  INSERT INTO ${s}.users_cities SELECT g, 1 + g % ${CITIES} FROM generate_series(1, ${N}) g;`;
const seedHandWritten = (s: string) => (lookup: Lookup) => ({
  users: changed('user_id'),
  users_cities: changed('user_id'),
  cities: lookup(`SELECT user_id FROM ${s}.users_cities WHERE city_id = ANY($1)`, valuesOf('city_id')),
});
const renameCity = (s: string) => ({
  kind: 'rename a city',
  sql: (i: number, n: number) => `UPDATE ${s}.cities SET name = 'renamed ${n}' WHERE city_id = ${1 + i}`,
});
const renameUser = (s: string) => ({
  kind: 'rename a user',
  sql: (i: number, n: number) => `UPDATE ${s}.users SET name = 'renamed ${n}' WHERE user_id = ${1 + i}`,
});
const moveUser = (s: string) => ({
  kind: 'move a user to another city',
  sql: (i: number, n: number) => `UPDATE ${s}.users_cities SET city_id = ${1 + ((n * 7 + 3) % CITIES)} WHERE user_id = ${1 + i}`,
});

const ORGS = 10;
const WORKLOADS: readonly Workload[] = [
  {
    schema: 'auto_seed',
    fill: SEED_FILL('auto_seed'),
    handWritten: seedHandWritten('auto_seed'),
    changes: [
      renameCity('auto_seed'),
      renameUser('auto_seed'),
      moveUser('auto_seed'),
      // The LEFT JOINs' right-hand rows disappearing and appearing again.
      { kind: 'LEFT JOIN: unlink a user (delete users_cities)', sql: (i) => `DELETE FROM auto_seed.users_cities WHERE user_id = ${1 + i}` },
      {
        kind: 'LEFT JOIN: link it again (insert users_cities)',
        sql: (i) => `INSERT INTO auto_seed.users_cities VALUES (${1 + i}, ${1 + (i % CITIES)})`,
      },
      { kind: 'LEFT JOIN: delete a city', sql: (i) => `DELETE FROM auto_seed.cities WHERE city_id = ${50 + i}` },
      { kind: 'LEFT JOIN: insert it again', sql: (i) => `INSERT INTO auto_seed.cities VALUES (${50 + i}, 'city ${50 + i}')` },
    ],
  },
  {
    schema: 'auto_m2m',
    // Every user in two of 100 groups; each group in one of 10 orgs.
    fill: `
      INSERT INTO auto_m2m.orgs SELECT g, 'org ' || g FROM generate_series(1, ${ORGS}) g;
      INSERT INTO auto_m2m.groups SELECT g, 'group ' || g, 1 + g % ${ORGS} FROM generate_series(1, ${CITIES}) g;
      INSERT INTO auto_m2m.users SELECT g, 'user ' || g FROM generate_series(1, ${N / 2}) g;
      INSERT INTO auto_m2m.memberships SELECT g, 1 + g % ${CITIES}, 'member' FROM generate_series(1, ${N / 2}) g;
      INSERT INTO auto_m2m.memberships SELECT g, 1 + (g + 37) % ${CITIES}, 'member' FROM generate_series(1, ${N / 2}) g;`,
    handWritten: (lookup) => ({
      users: lookup('SELECT user_id, group_id FROM auto_m2m.memberships WHERE user_id = ANY($1)', valuesOf('user_id')),
      memberships: changed('user_id', 'group_id'),
      groups: lookup('SELECT user_id, group_id FROM auto_m2m.memberships WHERE group_id = ANY($1)', valuesOf('group_id')),
      orgs: lookup(
        `SELECT m.user_id, m.group_id FROM auto_m2m.memberships m JOIN auto_m2m.groups g ON g.group_id = m.group_id
          WHERE g.org_id = ANY($1)`,
        valuesOf('org_id'),
      ),
    }),
    changes: [
      { kind: 'rename an org', sql: (i, n) => `UPDATE auto_m2m.orgs SET name = 'renamed ${n}' WHERE org_id = ${1 + i}` },
      { kind: 'rename a group', sql: (i, n) => `UPDATE auto_m2m.groups SET name = 'renamed ${n}' WHERE group_id = ${1 + i}` },
      {
        kind: 'move a group to another org',
        sql: (i, n) => `UPDATE auto_m2m.groups SET org_id = ${1 + ((n * 3 + 1) % ORGS)} WHERE group_id = ${11 + i}`,
      },
      { kind: 'rename a user', sql: (i, n) => `UPDATE auto_m2m.users SET name = 'renamed ${n}' WHERE user_id = ${1 + i}` },
      { kind: 'add a membership', sql: (i) => `INSERT INTO auto_m2m.memberships VALUES (${1 + i}, ${1 + ((i + 60) % CITIES)}, 'new')` },
      {
        kind: 'remove it',
        sql: (i) => `DELETE FROM auto_m2m.memberships WHERE user_id = ${1 + i} AND group_id = ${1 + ((i + 60) % CITIES)}`,
      },
    ],
  },
  {
    schema: 'auto_view',
    fill: SEED_FILL('auto_view'),
    handWritten: seedHandWritten('auto_view'),
    changes: [renameCity('auto_view'), renameUser('auto_view'), moveUser('auto_view')],
  },
  {
    schema: 'auto_group',
    fill: `
      INSERT INTO auto_group.cities SELECT g, 'city ' || g FROM generate_series(1, ${CITIES}) g;
      INSERT INTO auto_group.users_cities SELECT g, 1 + g % ${CITIES} FROM generate_series(1, ${N}) g;`,
    // A change carries its row's primary key only: a users_cities change does not say which city
    // the user left, so by hand too it can only invalidate every group.
    handWritten: () => ({ cities: changed('city_id'), users_cities: true }),
    changes: [
      renameCity('auto_group'),
      { ...moveUser('auto_group'), byHand: false },
      { kind: 'add a user to a city', sql: (i) => `INSERT INTO auto_group.users_cities VALUES (${N + 1 + i}, ${1 + i})`, byHand: false },
      { kind: 'remove it', sql: (i) => `DELETE FROM auto_group.users_cities WHERE user_id = ${N + 1 + i}`, byHand: false },
    ],
  },
  {
    schema: 'auto_cte',
    fill: `
      INSERT INTO auto_cte.users SELECT g, 'user ' || g FROM generate_series(1, ${N}) g;
      INSERT INTO auto_cte.users_cities SELECT g, 1 + g % ${CITIES} FROM generate_series(1, ${N}) g;`,
    handWritten: () => ({ users: changed('user_id'), users_cities: changed('user_id') }),
    changes: [renameUser('auto_cte'), moveUser('auto_cte')],
  },
  {
    schema: 'Auto Sales',
    // N / 4 orders of 4 lines each.
    fill: `
      INSERT INTO "Auto Sales"."Orders" SELECT g, 'customer ' || g FROM generate_series(1, ${N / 4}) g;
      INSERT INTO "Auto Sales"."Order Items" SELECT o, l, 'product ' || l FROM generate_series(1, ${N / 4}) o, generate_series(1, 4) l;`,
    handWritten: (lookup) => ({
      Orders: lookup('SELECT "Order Id", "Line" FROM "Auto Sales"."Order Items" WHERE "Order Id" = ANY($1)', valuesOf('Order Id')),
      'Order Items': changed('Order Id', 'Line'),
    }),
    changes: [
      {
        kind: "rename an order's customer",
        sql: (i, n) => `UPDATE "Auto Sales"."Orders" SET "Customer" = 'renamed ${n}' WHERE "Order Id" = ${1 + i}`,
      },
      {
        kind: 'change a line',
        sql: (i, n) => `UPDATE "Auto Sales"."Order Items" SET "Product" = 'renamed ${n}' WHERE "Order Id" = ${1 + i} AND "Line" = 1`,
      },
      { kind: 'add a line', sql: (i) => `INSERT INTO "Auto Sales"."Order Items" VALUES (${1 + i}, 5, 'extra')` },
      { kind: 'remove it', sql: (i) => `DELETE FROM "Auto Sales"."Order Items" WHERE "Order Id" = ${1 + i} AND "Line" = 5` },
    ],
  },
  {
    schema: 'auto_self',
    // 100 managers (no manager of their own), each managing N / 100 employees.
    fill: `INSERT INTO auto_self.employees
      SELECT g, 'employee ' || g, CASE WHEN g <= ${CITIES} THEN NULL ELSE 1 + g % ${CITIES} END FROM generate_series(1, ${N}) g;`,
    handWritten: (lookup) => ({
      employees: lookup(
        'SELECT employee_id FROM auto_self.employees WHERE employee_id = ANY($1) OR manager_id = ANY($1)',
        valuesOf('employee_id'),
      ),
    }),
    changes: [
      { kind: 'rename a manager', sql: (i, n) => `UPDATE auto_self.employees SET name = 'renamed ${n}' WHERE employee_id = ${1 + i}` },
      {
        kind: 'give an employee another manager',
        sql: (i, n) => `UPDATE auto_self.employees SET manager_id = ${1 + ((n * 7 + 3) % CITIES)} WHERE employee_id = ${CITIES + 1 + i}`,
      },
    ],
  },
  {
    schema: 'auto_exists',
    // Every other user verified.
    fill: `
      INSERT INTO auto_exists.users SELECT g, 'user ' || g FROM generate_series(1, ${N}) g;
      INSERT INTO auto_exists.verified SELECT g FROM generate_series(2, ${N}, 2) g;`,
    handWritten: () => ({ users: changed('user_id'), verified: changed('user_id') }),
    changes: [
      { kind: 'verify a user (insert)', sql: (i) => `INSERT INTO auto_exists.verified VALUES (${1 + 2 * i})` },
      { kind: 'unverify them (delete)', sql: (i) => `DELETE FROM auto_exists.verified WHERE user_id = ${1 + 2 * i}` },
      {
        kind: 'rename a verified user',
        sql: (i, n) => `UPDATE auto_exists.users SET name = 'renamed ${n}' WHERE user_id = ${2 + 2 * i}`,
      },
    ],
  },
  {
    schema: 'auto_in',
    // Users in 10 regions, 5 of them active.
    fill: `
      INSERT INTO auto_in.users SELECT g, 'user ' || g, 1 + g % 10 FROM generate_series(1, ${N}) g;
      INSERT INTO auto_in.active_regions SELECT g FROM generate_series(1, 5) g;`,
    handWritten: (lookup) => ({
      users: changed('user_id'),
      active_regions: lookup('SELECT user_id FROM auto_in.users WHERE region = ANY($1)', valuesOf('region')),
    }),
    changes: [
      { kind: 'activate a region (insert)', sql: (i) => `INSERT INTO auto_in.active_regions VALUES (${6 + (i % 5)})` },
      { kind: 'deactivate it (delete)', sql: (i) => `DELETE FROM auto_in.active_regions WHERE region = ${6 + (i % 5)}` },
      // Users 10i + 1 are in region 2, an active one.
      { kind: 'rename a user', sql: (i, n) => `UPDATE auto_in.users SET name = 'renamed ${n}' WHERE user_id = ${10 * i + 1}` },
    ],
  },
];

const tableName = (shape: Shape, table: string) => `${quote(shape.schema)}.${quote(table)}`;
const shapes = WORKLOADS.map((workload) => {
  const shape = SHAPES.find((each) => each.schema === workload.schema);
  if (shape === undefined) throw new Error(`no shape with schema ${workload.schema}`);
  return { shape, workload };
});
const omitted = SHAPES.filter((shape) => !WORKLOADS.some((workload) => workload.schema === shape.schema));
if (omitted.length > 0) throw new Error(`no workload for ${omitted.map((shape) => shape.name).join(', ')}`);

const access = new PostgresAccess({ connectionString: databaseUrl });
for (const { shape, workload } of shapes) {
  await access.execute({
    sql: `DROP SCHEMA IF EXISTS ${quote(shape.schema)} CASCADE; CREATE SCHEMA ${quote(shape.schema)}; ${shape.create} ${workload.fill}`,
  });
  await access.execute({ sql: `ANALYZE ${shape.tables.map((table) => tableName(shape, table.name)).join(', ')}` });
}
await installTriggers(access, {
  tables: shapes.flatMap(({ shape }) => shape.tables.map((table) => tableName(shape, table.name))),
  channel: CHANNEL,
});

const strategies = ['auto', 'hand-written', 'whole table'] as const;
const CHANGES_PER_KIND = 5;
let n = 0;
const lines: string[][] = [['shape', 'change', 'records', ...strategies]];
for (const { shape, workload } of shapes) {
  const perKind = new Map<string, string[]>();
  let records = 0;
  for (const strategy of strategies) {
    const indexes = new NamedIndexes<Record<string, unknown>, Key>({
      primaryKey: (row) => primaryKey(shape, row),
      queryAll: { sql: shape.query },
      querySome: (keys) => querySome(shape, keys),
    });
    const lookup: Lookup = (sql, values) => async (change) => {
      const rows = await access.execute<Record<string, unknown>>({ sql, parameters: [values(change)] });
      return [{ index: 'primaryKey', keys: rows.map((row) => primaryKey(shape, row)) }];
    };
    const byName = (mappings: Record<string, Mapping>) =>
      Object.fromEntries(Object.entries(mappings).map(([name, mapping]) => [tableName(shape, name), mapping]));
    const tables =
      strategy === 'auto'
        ? 'auto'
        : strategy === 'hand-written'
          ? workload.handWritten && byName(workload.handWritten(lookup))
          : byName(Object.fromEntries(shape.tables.map((table) => [table.name, true as const])));
    for (const change of workload.changes) if (tables === undefined) perKind.set(change.kind, [...(perKind.get(change.kind) ?? []), '—']);
    if (tables === undefined) continue;
    // The same data for each strategy: the changes of the one before are undone.
    const sources = shape.tables.map((each) => tableName(shape, each.name)).join(', ');
    await access.execute({ sql: `TRUNCATE ${sources}; ${workload.fill}` });
    await access.execute({ sql: `ANALYZE ${sources}` });
    const table = new CachedTable(indexes, access, new LocalStorageTable(indexes));
    const feed = new PgNotifyFeed({ connectionString: databaseUrl }, { channel: CHANNEL });
    await table.watch(feed, { tables });
    await table.load({ index: 'primaryKey', all: true });
    records = (await table.getRecords({ index: 'primaryKey', all: true })).length;
    for (const change of workload.changes) {
      const before = table.stats.refreshedRows;
      for (let i = 0; i < CHANGES_PER_KIND; i++) {
        await access.execute({ sql: change.sql(i, n++) });
        await table.sync();
        await table.refreshInvalid();
      }
      const perChange = (table.stats.refreshedRows - before) / CHANGES_PER_KIND;
      const cell = strategy === 'hand-written' && change.byHand === false ? '—' : perChange.toLocaleString('en');
      perKind.set(change.kind, [...(perKind.get(change.kind) ?? []), cell]);
    }
    await table.close();
    await feed.close();
  }
  for (const [kind, rows] of perKind) lines.push([shape.name, kind, records.toLocaleString('en'), ...rows]);
}

await uninstallTriggers(access, { channel: CHANNEL });
for (const { shape } of shapes) await access.execute({ sql: `DROP SCHEMA ${quote(shape.schema)} CASCADE` });
await access.close();

const widths = lines[0]?.map((_, column) => Math.max(...lines.map((line) => (line[column] ?? '').length))) ?? [];
console.log(`\nrows refreshed per change (mean of ${CHANGES_PER_KIND}), ${N.toLocaleString('en')} users in ${CITIES} cities\n`);
for (const line of lines) console.log(line.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  '));
console.log('\nas markdown:\n');
for (const [i, line] of lines.entries()) {
  console.log(`| ${line.join(' | ')} |`);
  if (i === 0) console.log(`|${line.map(() => ' --- ').join('|')}|`);
}
