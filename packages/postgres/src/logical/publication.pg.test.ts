import { type OpenBackend, testBackends } from '@tablecache/testing';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { PostgresAccess } from '../postgres-access.js';
import {
  checkPublication,
  installPublication,
  MissingPublicationError,
  publicationStatements,
  requirePublication,
  uninstallPublication,
} from './publication.js';

const server = testBackends().find((backend) => backend.name === 'postgres');

describe.skipIf(!server?.available)('publications for the logical feed', () => {
  let database: OpenBackend;
  let access: PostgresAccess;

  beforeAll(async () => {
    database = await server!.open();
    access = new PostgresAccess(database.connection);
    await database.exec(`
      CREATE TABLE users (id integer PRIMARY KEY, name text);
      CREATE TABLE cities (id integer PRIMARY KEY, name text);
      CREATE SCHEMA "Sales";
      CREATE TABLE "Sales"."Order Items" (id integer PRIMARY KEY);
      CREATE TABLE readings (id integer, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
      CREATE TABLE readings_eu PARTITION OF readings FOR VALUES IN ('eu');
      CREATE TABLE keyless (id integer);
      CREATE TABLE anonymous (id integer PRIMARY KEY);
      ALTER TABLE anonymous REPLICA IDENTITY NOTHING;
      CREATE VIEW user_names AS SELECT name FROM users`);
  });

  afterEach(async () => {
    await database.exec('DROP PUBLICATION IF EXISTS tablecache; DROP PUBLICATION IF EXISTS other');
  });

  afterAll(async () => {
    await access?.close();
    await database?.close();
  });

  const published = async (publication = 'tablecache') =>
    (
      await database.exec<{ name: string }>(
        "SELECT schemaname || '.' || tablename AS name FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1",
        [publication],
      )
    ).map((row) => row.name);

  test('installing creates the publication with the tables, and the check then passes', async () => {
    await installPublication(access, { tables: ['users', 'cities'] });
    expect(await published()).toEqual(['public.cities', 'public.users']);
    expect((await checkPublication(access, { tables: ['users', 'cities'] })).ok).toBe(true);
  });

  test('installing again adds only what is missing, and is harmless', async () => {
    await installPublication(access, { tables: ['users'] });
    await installPublication(access, { tables: ['users', 'cities'] });
    await installPublication(access, { tables: ['users', 'cities'] });
    expect(await published()).toEqual(['public.cities', 'public.users']);
  });

  test('the statements of a dry run are printed and change nothing', async () => {
    const statements = await publicationStatements(access, 'install', { tables: ['"Sales"."Order Items"'], publication: 'other' });
    expect(statements).toEqual([
      `CREATE PUBLICATION other FOR TABLE "Sales"."Order Items" WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)`,
    ]);
    expect(await published('other')).toEqual([]);
  });

  test('a partitioned table is published through its root', async () => {
    await installPublication(access, { tables: ['readings'] });
    expect(await published()).toEqual(['public.readings']);
  });

  test('a publication that names changes by partition is reported, and installing repairs it', async () => {
    await database.exec('CREATE PUBLICATION tablecache FOR TABLE readings');
    const check = await checkPublication(access, { tables: ['readings'] });
    expect(check.tables[0]?.problems.map((problem) => problem.kind)).toEqual(['partitions-not-via-root']);
    await installPublication(access, { tables: ['readings'] });
    expect((await checkPublication(access, { tables: ['readings'] })).ok).toBe(true);
  });

  test('a publication that leaves out deletes is reported and repaired', async () => {
    await database.exec("CREATE PUBLICATION tablecache FOR TABLE users WITH (publish = 'insert, update')");
    expect((await checkPublication(access, { tables: ['users'] })).problems.map((problem) => problem.message)).toEqual([
      "publication 'tablecache' does not publish delete, truncate",
    ]);
    await installPublication(access, { tables: ['users'] });
    expect((await checkPublication(access, { tables: ['users'] })).ok).toBe(true);
  });

  test('tables without a primary key, without a replica identity, missing or not tables are refused, changing nothing', async () => {
    const installing = installPublication(access, { tables: ['users', 'keyless', 'anonymous', '"Users"', 'user_names'] });
    const error = await installing.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingPublicationError);
    const message = String(error);
    expect(message).toContain('keyless');
    expect(message).toContain('REPLICA IDENTITY NOTHING');
    expect(message).toContain('did you mean public.users?');
    expect(message).toContain('not a table');
    expect(await published()).toEqual([]);
  });

  test('uninstalling tables takes them out; uninstalling without tables drops the publication; both are harmless when repeated', async () => {
    await installPublication(access, { tables: ['users', 'cities'] });
    await uninstallPublication(access, { tables: ['cities', 'cities'] });
    await uninstallPublication(access, { tables: ['cities'] });
    expect(await published()).toEqual(['public.users']);
    await uninstallPublication(access);
    await uninstallPublication(access);
    expect(await database.exec("SELECT 1 FROM pg_publication WHERE pubname = 'tablecache'")).toEqual([]);
  });

  test('requiring a publication resolves each name to its table, installing when asked', async () => {
    await expect(requirePublication(access, { tables: ['users'], install: false })).rejects.toThrow(MissingPublicationError);
    const resolved = await requirePublication(access, { tables: ['users', '"Sales"."Order Items"'], install: true });
    expect([...resolved]).toEqual([
      ['users', { schema: 'public', table: 'users' }],
      ['"Sales"."Order Items"', { schema: 'Sales', table: 'Order Items' }],
    ]);
  });

  test('checked without tables, a publication must exist and publish something', async () => {
    expect((await checkPublication(access)).problems.map((problem) => problem.kind)).toEqual(['no-publication']);
    await database.exec('CREATE PUBLICATION tablecache');
    expect((await checkPublication(access)).problems.map((problem) => problem.kind)).toEqual(['nothing-published']);
  });
});
