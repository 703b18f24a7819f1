/**
 * The query shapes `tables: 'auto'` is tested and measured on: the schema each one creates, the
 * cached query, how its records are keyed and the plan expected for it. Shared by the property
 * test (`auto-invalidation.property.pg.test.ts`) and the benchmark (`bench/auto-invalidation.ts`).
 */
import type { Key } from '@tablecache/core';

/** A source table of a shape: its key columns and the values each column takes (small domains, so rows collide). */
export interface SourceTableSpec {
  readonly name: string;
  readonly key: readonly string[];
  readonly columns: Readonly<Record<string, readonly (number | string | null)[]>>;
}

/** A cached query over several tables, the tables it reads, and how its records are keyed. */
export interface Shape {
  readonly name: string;
  readonly schema: string;
  readonly create: string;
  readonly tables: readonly SourceTableSpec[];
  /** Every record, ordered by its primary key. */
  readonly query: string;
  /** The output columns of each record's primary key. */
  readonly keyColumns: readonly string[];
  /** How the plan follows each source table (by name): row by row, or whole. */
  readonly plan: Readonly<Record<string, 'rows' | 'whole'>>;
}

const ids = [1, 2, 3, 4, 5, 6];
const names = ['a', 'b', 'c'];

const SEED_TABLES: readonly SourceTableSpec[] = [
  { name: 'users', key: ['user_id'], columns: { user_id: ids, name: names } },
  { name: 'cities', key: ['city_id'], columns: { city_id: ids, name: names } },
  { name: 'users_cities', key: ['user_id'], columns: { user_id: ids, city_id: ids } },
];

/** An identifier as SQL, quoted. */
export const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

export const SHAPES: readonly Shape[] = [
  {
    name: 'the seed join (users ⟕ users_cities ⟕ cities)',
    schema: 'auto_seed',
    create: `
      CREATE TABLE auto_seed.users (user_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_seed.cities (city_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_seed.users_cities (user_id integer PRIMARY KEY, city_id integer);`,
    tables: SEED_TABLES,
    query: `SELECT u.user_id, u.name, c.city_id, c.name AS city_name
      FROM auto_seed.users u
      LEFT JOIN auto_seed.users_cities uc ON uc.user_id = u.user_id
      LEFT JOIN auto_seed.cities c ON c.city_id = uc.city_id
      ORDER BY u.user_id`,
    keyColumns: ['user_id'],
    plan: { cities: 'rows', users: 'rows', users_cities: 'rows' },
  },
  {
    name: 'a four-table join through a many-to-many link (users ⋈ memberships ⋈ groups ⟕ orgs)',
    schema: 'auto_m2m',
    create: `
      CREATE TABLE auto_m2m.users (user_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_m2m.memberships (user_id integer, group_id integer, role text, PRIMARY KEY (user_id, group_id));
      CREATE TABLE auto_m2m.groups (group_id integer PRIMARY KEY, name text, org_id integer);
      CREATE TABLE auto_m2m.orgs (org_id integer PRIMARY KEY, name text);`,
    tables: [
      { name: 'users', key: ['user_id'], columns: { user_id: ids, name: names } },
      { name: 'memberships', key: ['user_id', 'group_id'], columns: { user_id: ids, group_id: ids, role: names } },
      { name: 'groups', key: ['group_id'], columns: { group_id: ids, name: names, org_id: [1, 2, 3, null] } },
      { name: 'orgs', key: ['org_id'], columns: { org_id: [1, 2, 3, 4], name: names } },
    ],
    query: `SELECT m.user_id, m.group_id, m.role, u.name AS user_name, g.name AS group_name, o.org_id, o.name AS org_name
      FROM auto_m2m.memberships m
      JOIN auto_m2m.users u ON u.user_id = m.user_id
      JOIN auto_m2m.groups g ON g.group_id = m.group_id
      LEFT JOIN auto_m2m.orgs o ON o.org_id = g.org_id
      ORDER BY m.user_id, m.group_id`,
    keyColumns: ['user_id', 'group_id'],
    plan: { groups: 'rows', memberships: 'rows', orgs: 'rows', users: 'rows' },
  },
  {
    name: 'a view over an inner join',
    schema: 'auto_view',
    create: `
      CREATE TABLE auto_view.users (user_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_view.cities (city_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_view.users_cities (user_id integer PRIMARY KEY, city_id integer);
      CREATE VIEW auto_view.located AS
        SELECT u.user_id, u.name, c.city_id, c.name AS city_name
          FROM auto_view.users u
          JOIN auto_view.users_cities uc ON uc.user_id = u.user_id
          JOIN auto_view.cities c ON c.city_id = uc.city_id;`,
    tables: SEED_TABLES,
    query: 'SELECT * FROM auto_view.located ORDER BY user_id',
    keyColumns: ['user_id'],
    plan: { cities: 'rows', users: 'rows', users_cities: 'rows' },
  },
  {
    name: 'a GROUP BY (the table aggregated over is whole-table)',
    schema: 'auto_group',
    create: `
      CREATE TABLE auto_group.cities (city_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_group.users_cities (user_id integer PRIMARY KEY, city_id integer);`,
    tables: SEED_TABLES.filter((table) => table.name !== 'users'),
    query: `SELECT uc.city_id, c.name, count(*)::integer AS users
      FROM auto_group.users_cities uc JOIN auto_group.cities c ON c.city_id = uc.city_id
      GROUP BY uc.city_id, c.name ORDER BY uc.city_id`,
    keyColumns: ['city_id'],
    plan: { cities: 'rows', users_cities: 'whole' },
  },
  {
    name: 'a CTE',
    schema: 'auto_cte',
    create: `
      CREATE TABLE auto_cte.users (user_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_cte.users_cities (user_id integer PRIMARY KEY, city_id integer);`,
    tables: SEED_TABLES.filter((table) => table.name !== 'cities'),
    query: `WITH located AS (SELECT uc.user_id, uc.city_id FROM auto_cte.users_cities uc)
      SELECT u.user_id, u.name, l.city_id FROM auto_cte.users u JOIN located l ON l.user_id = u.user_id ORDER BY u.user_id`,
    keyColumns: ['user_id'],
    plan: { users: 'rows', users_cities: 'rows' },
  },
  {
    name: 'quoted identifiers and a composite key',
    schema: 'Auto Sales',
    create: `
      CREATE TABLE "Auto Sales"."Orders" ("Order Id" integer PRIMARY KEY, "Customer" text);
      CREATE TABLE "Auto Sales"."Order Items" ("Order Id" integer, "Line" integer, "Product" text, PRIMARY KEY ("Order Id", "Line"));`,
    tables: [
      { name: 'Orders', key: ['Order Id'], columns: { 'Order Id': ids, Customer: names } },
      { name: 'Order Items', key: ['Order Id', 'Line'], columns: { 'Order Id': ids, Line: [1, 2, 3], Product: names } },
    ],
    query: `SELECT o."Order Id", o."Customer", i."Line", i."Product"
      FROM "Auto Sales"."Orders" o JOIN "Auto Sales"."Order Items" i ON i."Order Id" = o."Order Id"
      ORDER BY 1, 3`,
    keyColumns: ['Order Id', 'Line'],
    plan: { 'Order Items': 'rows', Orders: 'rows' },
  },
  {
    name: 'a filter-only table in WHERE EXISTS (row-precise through its correlation)',
    schema: 'auto_exists',
    create: `
      CREATE TABLE auto_exists.users (user_id integer PRIMARY KEY, name text);
      CREATE TABLE auto_exists.verified (user_id integer PRIMARY KEY);`,
    tables: [
      { name: 'users', key: ['user_id'], columns: { user_id: ids, name: names } },
      { name: 'verified', key: ['user_id'], columns: { user_id: ids } },
    ],
    query: `SELECT u.user_id, u.name FROM auto_exists.users u
      WHERE EXISTS (SELECT 1 FROM auto_exists.verified v WHERE v.user_id = u.user_id)
      ORDER BY u.user_id`,
    keyColumns: ['user_id'],
    plan: { users: 'rows', verified: 'rows' },
  },
  {
    name: 'a filter-only table in an IN subquery on a column not output (whole-table)',
    schema: 'auto_in',
    create: `
      CREATE TABLE auto_in.users (user_id integer PRIMARY KEY, name text, region integer);
      CREATE TABLE auto_in.active_regions (region integer PRIMARY KEY);`,
    tables: [
      { name: 'users', key: ['user_id'], columns: { user_id: ids, name: names, region: [1, 2, 3, null] } },
      { name: 'active_regions', key: ['region'], columns: { region: [1, 2, 3] } },
    ],
    query: `SELECT u.user_id, u.name FROM auto_in.users u
      WHERE u.region IN (SELECT region FROM auto_in.active_regions)
      ORDER BY u.user_id`,
    keyColumns: ['user_id'],
    plan: { active_regions: 'whole', users: 'rows' },
  },
  {
    name: 'a self-join under a LEFT JOIN (each occurrence linked apart)',
    schema: 'auto_self',
    create: 'CREATE TABLE auto_self.employees (employee_id integer PRIMARY KEY, name text, manager_id integer);',
    tables: [{ name: 'employees', key: ['employee_id'], columns: { employee_id: ids, name: names, manager_id: [...ids, null] } }],
    query: `SELECT e.employee_id, e.name, m.employee_id AS manager_id, m.name AS manager
      FROM auto_self.employees e LEFT JOIN auto_self.employees m ON m.employee_id = e.manager_id
      ORDER BY e.employee_id`,
    keyColumns: ['employee_id'],
    plan: { employees: 'rows' },
  },
];

/** A record's primary key: its key column's value, or a tuple of them. */
export function primaryKey(shape: Shape, row: Record<string, unknown>): Key {
  const values = shape.keyColumns.map((column) => row[column] as number);
  return values.length === 1 ? (values[0] as number) : values;
}

/** The shape's query restricted to records with these primary keys. */
export function querySome(shape: Shape, keys: readonly Key[]) {
  const columns = shape.keyColumns.map((column) => `q.${quote(column)}`).join(', ');
  const arrays = shape.keyColumns.map((_, i) => `$${i + 1}::integer[]`).join(', ');
  return {
    sql: `SELECT * FROM (${shape.query}) q WHERE (${columns}) IN (SELECT * FROM unnest(${arrays}))`,
    parameters: shape.keyColumns.map((_, i) => keys.map((key) => [key].flat()[i])),
  };
}
