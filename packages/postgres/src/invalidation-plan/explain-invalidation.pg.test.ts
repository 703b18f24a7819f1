import { describePlan, type InvalidationPlan, type SourcePlan } from '@tablecache/core';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PostgresAccess } from '../postgres-access.js';
import { explainInvalidation } from './explain-invalidation.js';

const SCHEMA = `
  CREATE TABLE users (user_id integer PRIMARY KEY, name text NOT NULL, region text);
  CREATE TABLE cities (city_id integer PRIMARY KEY, name text NOT NULL);
  CREATE TABLE users_cities (user_id integer PRIMARY KEY REFERENCES users, city_id integer NOT NULL REFERENCES cities);
  CREATE TABLE banned (user_id integer PRIMARY KEY);
  CREATE TABLE active_regions (region text PRIMARY KEY);
  CREATE TABLE teachers (teacher_id integer PRIMARY KEY, name text);
  CREATE TABLE courses (course_id integer PRIMARY KEY, title text, teacher_id integer REFERENCES teachers);
  CREATE TABLE students (student_id integer PRIMARY KEY, name text);
  CREATE TABLE enrollments (student_id integer REFERENCES students, course_id integer REFERENCES courses, PRIMARY KEY (student_id, course_id));
  CREATE TABLE employees (employee_id integer PRIMARY KEY, name text, manager_id integer REFERENCES employees);
  CREATE TABLE log (id integer, message text);
  CREATE VIEW user_cities AS
    SELECT u.user_id, u.name, c.city_id, c.name AS city_name
      FROM users u JOIN users_cities uc ON uc.user_id = u.user_id JOIN cities c ON c.city_id = uc.city_id;
  CREATE SCHEMA "Sales";
  CREATE TABLE "Sales"."Orders" ("Order Id" integer PRIMARY KEY, "Customer" text);
  CREATE TABLE "Sales"."Order Items" ("Order Id" integer REFERENCES "Sales"."Orders", "Line" integer, "Product" text, PRIMARY KEY ("Order Id", "Line"));`;

interface Database {
  users: { user_id: number; name: string; region: string | null };
  users_cities: { user_id: number; city_id: number };
}

const table = (name: string, schema = 'public') => ({ schema, table: name });
const rows = (name: string, key: string[], links: string[][], aliases: string[], because: string, schema = 'public'): SourcePlan => ({
  table: table(name, schema),
  how: 'rows',
  key,
  links,
  aliases,
  because,
});
const whole = (name: string, aliases: string[], because: string, schema = 'public'): SourcePlan => ({
  table: table(name, schema),
  how: 'whole',
  aliases,
  because,
});

const SEED_JOIN = `SELECT u.user_id, u.name, c.city_id, c.name AS city_name
                     FROM users u
                     LEFT JOIN users_cities uc ON uc.user_id = u.user_id
                     LEFT JOIN cities c ON c.city_id = uc.city_id`;
const SEED_PLAN: InvalidationPlan = {
  columns: ['user_id', 'name', 'city_id', 'city_name'],
  sources: [
    rows('cities', ['city_id'], [['city_id']], ['c'], 'c.city_id is output column city_id'),
    rows('users', ['user_id'], [['user_id']], ['u'], 'u.user_id is output column user_id'),
    rows('users_cities', ['user_id'], [['user_id']], ['uc'], 'uc.user_id = u.user_id, output column user_id'),
  ],
  opaque: [],
};

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`explaining invalidation on ${backend.name}`, () => {
    let database: OpenBackend;
    let access: PostgresAccess;

    beforeAll(async () => {
      database = await backend.open();
      await database.exec(SCHEMA);
      access = new PostgresAccess(database.connection);
    });

    afterAll(async () => {
      await access?.close();
      await database?.close();
    });

    const explain = (query: string, parameters: unknown[] = []) => explainInvalidation(access, { sql: query, parameters });

    test('the seed join maps users and users_cities by user_id and cities by city_id', async () => {
      expect(await explain(SEED_JOIN)).toEqual(SEED_PLAN);
    });

    test('cities is linked through users_cities.city_id when only that side of the join is output', async () => {
      const plan = await explain(`SELECT u.user_id, uc.city_id, c.name
                                    FROM users u JOIN users_cities uc ON uc.user_id = u.user_id JOIN cities c ON c.city_id = uc.city_id`);
      expect(plan.sources[0]).toEqual(rows('cities', ['city_id'], [['city_id']], ['c'], 'c.city_id = uc.city_id, output column city_id'));
    });

    test('cities is whole-table when only its name is output', async () => {
      expect(
        await explain(`SELECT u.user_id, c.name AS city_name
                         FROM users u JOIN users_cities uc ON uc.user_id = u.user_id JOIN cities c ON c.city_id = uc.city_id`),
      ).toEqual({
        columns: ['user_id', 'city_name'],
        sources: [
          whole('cities', ['c'], 'key column c.city_id is linked to no output column'),
          rows('users', ['user_id'], [['user_id']], ['u'], 'u.user_id is output column user_id'),
          rows('users_cities', ['user_id'], [['user_id']], ['uc'], 'uc.user_id = u.user_id, output column user_id'),
        ],
        opaque: [],
      });
    });

    test('a four-table join through a many-to-many link table maps the link table by its composite key', async () => {
      expect(
        await explain(`SELECT s.student_id, s.name, e.course_id, c.title, t.teacher_id, t.name AS teacher
                         FROM students s
                         JOIN enrollments e ON e.student_id = s.student_id
                         JOIN courses c ON c.course_id = e.course_id
                         JOIN teachers t ON t.teacher_id = c.teacher_id`),
      ).toEqual({
        columns: ['student_id', 'name', 'course_id', 'title', 'teacher_id', 'teacher'],
        sources: [
          rows('courses', ['course_id'], [['course_id']], ['c'], 'c.course_id = e.course_id, output column course_id'),
          rows(
            'enrollments',
            ['student_id', 'course_id'],
            [['student_id', 'course_id']],
            ['e'],
            'e.student_id = s.student_id, output column student_id; e.course_id is output column course_id',
          ),
          rows('students', ['student_id'], [['student_id']], ['s'], 's.student_id is output column student_id'),
          rows('teachers', ['teacher_id'], [['teacher_id']], ['t'], 't.teacher_id is output column teacher_id'),
        ],
        opaque: [],
      });
    });

    test('a LEFT JOIN links its nullable side to the preserved side, never the reverse', async () => {
      // users_cities.user_id is NULL in the records of users without a city: it cannot find them.
      const plan = await explain(`SELECT uc.user_id, u.name FROM users u LEFT JOIN users_cities uc ON uc.user_id = u.user_id`);
      expect(plan.sources).toEqual([
        whole('users', ['u'], 'key column u.user_id is linked to no output column'),
        rows('users_cities', ['user_id'], [['user_id']], ['uc'], 'uc.user_id is output column user_id'),
      ]);
    });

    test('a FULL JOIN links neither side through its condition', async () => {
      const plan = await explain(`SELECT u.user_id, uc.city_id FROM users u FULL JOIN users_cities uc ON uc.user_id = u.user_id`);
      expect(plan.sources).toEqual([
        rows('users', ['user_id'], [['user_id']], ['u'], 'u.user_id is output column user_id'),
        whole('users_cities', ['uc'], 'key column uc.user_id is linked to no output column'),
      ]);
    });

    test('a table only in WHERE EXISTS is row-precise through its correlation', async () => {
      const plan = await explain(`SELECT u.user_id, u.name FROM users u WHERE EXISTS (SELECT 1 FROM banned b WHERE b.user_id = u.user_id)`);
      expect(plan.sources).toEqual([
        rows('banned', ['user_id'], [['user_id']], ['b'], 'b.user_id = u.user_id, output column user_id'),
        rows('users', ['user_id'], [['user_id']], ['u'], 'u.user_id is output column user_id'),
      ]);
    });

    test('a table only in NOT EXISTS is row-precise through its correlation', async () => {
      const plan = await explain(`SELECT u.user_id FROM users u WHERE NOT EXISTS (SELECT 1 FROM banned b WHERE b.user_id = u.user_id)`);
      expect(plan.sources[0]).toEqual(rows('banned', ['user_id'], [['user_id']], ['b'], 'b.user_id = u.user_id, output column user_id'));
    });

    test('a table only in IN (subquery) on a column that is not output is whole-table', async () => {
      const plan = await explain(`SELECT u.user_id, u.name FROM users u WHERE u.region IN (SELECT region FROM active_regions)`);
      expect(plan.sources).toEqual([
        whole('active_regions', ['active_regions'], 'key column active_regions.region is linked to no output column'),
        rows('users', ['user_id'], [['user_id']], ['u'], 'u.user_id is output column user_id'),
      ]);
    });

    test('an equality under OR links nothing', async () => {
      const plan = await explain(
        `SELECT u.user_id FROM users u WHERE EXISTS (SELECT 1 FROM banned b WHERE b.user_id = u.user_id OR u.name = 'x')`,
      );
      expect(plan.sources[0]).toEqual(whole('banned', ['b'], 'key column b.user_id is linked to no output column'));
    });

    test('a view is expanded to the tables under it', async () => {
      expect(await explain('SELECT * FROM user_cities')).toEqual({
        ...SEED_PLAN,
        sources: [
          rows('cities', ['city_id'], [['city_id']], ['c'], 'c.city_id is output column city_id'),
          rows('users', ['user_id'], [['user_id']], ['u'], 'u.user_id is output column user_id'),
          rows('users_cities', ['user_id'], [['user_id']], ['uc'], 'uc.user_id = u.user_id, output column user_id'),
        ],
      });
    });

    test('GROUP BY keeps the grouped tables row-precise and makes a table aggregated over whole-table', async () => {
      expect(
        await explain(`SELECT uc.city_id, c.name, count(*) AS users
                         FROM users_cities uc JOIN cities c ON c.city_id = uc.city_id
                        GROUP BY uc.city_id, c.name`),
      ).toEqual({
        columns: ['city_id', 'name', 'users'],
        sources: [
          rows('cities', ['city_id'], [['city_id']], ['c'], 'c.city_id = uc.city_id, output column city_id'),
          whole('users_cities', ['uc'], 'key column uc.user_id is linked to no output column'),
        ],
        opaque: [],
      });
    });

    test('an inlined CTE is traced like a subquery', async () => {
      const plan = await explain(`WITH located AS (SELECT uc.user_id, uc.city_id FROM users_cities uc)
                                  SELECT u.user_id, l.city_id FROM users u JOIN located l ON l.user_id = u.user_id`);
      expect(plan.sources).toEqual([
        rows('users', ['user_id'], [['user_id']], ['u'], 'u.user_id is output column user_id'),
        rows('users_cities', ['user_id'], [['user_id']], ['uc'], 'uc.user_id = u.user_id, output column user_id'),
      ]);
    });

    test('a materialized CTE makes the tables inside it whole-table, saying so', async () => {
      const plan = await explain(`WITH located AS MATERIALIZED (SELECT uc.user_id, uc.city_id FROM users_cities uc)
                                  SELECT l.user_id, l.city_id FROM located l`);
      expect(plan.sources).toEqual([
        whole(
          'users_cities',
          ['uc'],
          'key column uc.user_id is linked to no output column (it is read inside CTE located, whose columns are not traced)',
        ),
      ]);
    });

    test('a kysely query with parameters gives the plan of its SQL', async () => {
      const db = access.kysely as unknown as Kysely<Database>;
      const query = db
        .selectFrom('users as u')
        .innerJoin('users_cities as uc', 'uc.user_id', 'u.user_id')
        .select(['u.user_id', 'uc.city_id'])
        .where('u.region', '=', 'eu');
      const plan = await explainInvalidation(access, query);
      expect(plan).toEqual({
        columns: ['user_id', 'city_id'],
        sources: [
          rows('users', ['user_id'], [['user_id']], ['u'], 'u.user_id is output column user_id'),
          rows('users_cities', ['user_id'], [['user_id']], ['uc'], 'uc.user_id = u.user_id, output column user_id'),
        ],
        opaque: [],
      });
    });

    test('a sql template and raw SQL with parameters give the same plan', async () => {
      const region = 'eu';
      const template = sql`SELECT u.user_id FROM users u WHERE u.region = ${region}`;
      const raw = await explain('SELECT u.user_id FROM users u WHERE u.region = $1', [region]);
      expect(await explainInvalidation(access, template)).toEqual(raw);
      expect(raw.sources).toEqual([rows('users', ['user_id'], [['user_id']], ['u'], 'u.user_id is output column user_id')]);
    });

    test('a composite key is row-precise only when every key column is output', async () => {
      const plan = await explain('SELECT e.student_id, s.name FROM enrollments e JOIN students s ON s.student_id = e.student_id');
      expect(plan.sources[0]).toEqual(whole('enrollments', ['e'], 'key column e.course_id is linked to no output column'));
    });

    test('quoted schema, table and column names keep their case and spaces', async () => {
      expect(
        await explain(`SELECT o."Order Id", o."Customer", i."Line", i."Product"
                         FROM "Sales"."Orders" o JOIN "Sales"."Order Items" i ON i."Order Id" = o."Order Id"`),
      ).toEqual({
        columns: ['Order Id', 'Customer', 'Line', 'Product'],
        sources: [
          rows(
            'Order Items',
            ['Order Id', 'Line'],
            [['Order Id', 'Line']],
            ['i'],
            'i."Order Id" = o."Order Id", output column "Order Id"; i."Line" is output column "Line"',
            'Sales',
          ),
          rows('Orders', ['Order Id'], [['Order Id']], ['o'], 'o."Order Id" is output column "Order Id"', 'Sales'),
        ],
        opaque: [],
      });
    });

    test('a self-join links each occurrence of the table to its own output column', async () => {
      expect(
        await explain(`SELECT e.employee_id, e.name, m.employee_id AS manager_id, m.name AS manager
                         FROM employees e LEFT JOIN employees m ON m.employee_id = e.manager_id`),
      ).toEqual({
        columns: ['employee_id', 'name', 'manager_id', 'manager'],
        sources: [
          rows(
            'employees',
            ['employee_id'],
            [['employee_id'], ['manager_id']],
            ['e', 'm'],
            'e.employee_id is output column employee_id; m.employee_id is output column manager_id',
          ),
        ],
        opaque: [],
      });
    });

    test('a self-join is whole-table when one occurrence is not linked', async () => {
      const plan = await explain(
        `SELECT e.employee_id, m.name AS manager FROM employees e JOIN employees m ON m.employee_id = e.manager_id`,
      );
      expect(plan.sources).toEqual([whole('employees', ['e', 'm'], 'm: key column m.employee_id is linked to no output column')]);
    });

    test('a table without a primary key is whole-table', async () => {
      expect((await explain('SELECT id, message FROM log')).sources).toEqual([whole('log', ['log'], 'it has no primary key')]);
    });

    test('LIMIT and window functions make the tables under them whole-table', async () => {
      expect((await explain('SELECT user_id FROM users ORDER BY user_id LIMIT 10')).sources).toEqual([
        whole('users', ['users'], 'it is read under LIMIT/OFFSET, where one row can push others into or out of the result'),
      ]);
      expect((await explain('SELECT user_id, rank() OVER (ORDER BY name) FROM users')).sources).toEqual([
        whole('users', ['users'], 'it is read under a window function, whose values depend on other rows'),
      ]);
    });

    test('UNION ALL links each branch to the output column at the same position', async () => {
      expect(await explain('SELECT user_id FROM users UNION ALL SELECT user_id FROM banned')).toEqual({
        columns: ['user_id'],
        sources: [
          rows('banned', ['user_id'], [['user_id']], ['banned'], 'banned.user_id is output column user_id'),
          rows('users', ['user_id'], [['user_id']], ['users'], 'users.user_id is output column user_id'),
        ],
        opaque: [],
      });
    });

    test('a function in FROM is reported as opaque', async () => {
      expect(await explain('SELECT g FROM generate_series(1, 3) g')).toEqual({
        columns: ['g'],
        sources: [],
        opaque: [
          { what: 'function pg_catalog.generate_series', because: 'the database cannot tell which tables a function in FROM reads' },
        ],
      });
    });

    test('duplicate output column names are kept in order', async () => {
      const plan = await explain('SELECT u.user_id, uc.user_id FROM users u JOIN users_cities uc ON uc.user_id = u.user_id');
      expect(plan.columns).toEqual(['user_id', 'user_id']);
    });

    describe('with nested loops only (join conditions become index conditions of the inner scan)', () => {
      let nestedLoops: PostgresAccess;

      beforeAll(async () => {
        const [{ name }] = (await database.exec<{ name: string }>('SELECT current_database() AS name')) as [{ name: string }];
        const settings = ['enable_hashjoin', 'enable_mergejoin', 'enable_seqscan'];
        // New sessions (the server's pool) take the database's settings; PGlite has one session.
        for (const setting of settings) {
          await database.exec(`ALTER DATABASE "${name}" SET ${setting} = off`);
          if (backend.name === 'pglite') await database.exec(`SET ${setting} = off`);
        }
        nestedLoops = new PostgresAccess(database.connection);
        const plan = await nestedLoops.execute<{ 'QUERY PLAN': unknown }>({ sql: `EXPLAIN (FORMAT JSON) ${SEED_JOIN}` });
        expect(JSON.stringify(plan)).toContain('Index Cond');
        for (const setting of settings) {
          await database.exec(`ALTER DATABASE "${name}" RESET ${setting}`);
        }
      });

      afterAll(async () => {
        await nestedLoops?.close();
        if (backend.name === 'pglite') await database.exec('RESET ALL');
      });

      test('the seed join gives the same plan', async () => {
        expect(await explainInvalidation(nestedLoops, { sql: SEED_JOIN })).toEqual(SEED_PLAN);
      });

      test("an inner join's index condition links both ways", async () => {
        const plan = await explainInvalidation(nestedLoops, {
          sql: 'SELECT uc.user_id, uc.city_id FROM users u JOIN users_cities uc ON uc.user_id = u.user_id',
        });
        expect(plan.sources).toEqual([
          rows('users', ['user_id'], [['user_id']], ['u'], 'u.user_id = uc.user_id, output column user_id'),
          rows('users_cities', ['user_id'], [['user_id']], ['uc'], 'uc.user_id is output column user_id'),
        ]);
      });

      test("a left join's index condition links only its nullable side", async () => {
        const plan = await explainInvalidation(nestedLoops, {
          sql: 'SELECT uc.user_id, u.name FROM users u LEFT JOIN users_cities uc ON uc.user_id = u.user_id',
        });
        expect(plan.sources).toEqual([
          whole('users', ['u'], 'key column u.user_id is linked to no output column'),
          rows('users_cities', ['user_id'], [['user_id']], ['uc'], 'uc.user_id is output column user_id'),
        ]);
      });
    });

    test('describePlan prints one line per source table', async () => {
      expect(describePlan(await explain(SEED_JOIN))).toBe(
        [
          'public.cities: rows by key (city_id) through output (city_id), because c.city_id is output column city_id',
          'public.users: rows by key (user_id) through output (user_id), because u.user_id is output column user_id',
          'public.users_cities: rows by key (user_id) through output (user_id), because uc.user_id = u.user_id, output column user_id',
        ].join('\n'),
      );
    });
  });
}
