import { type OpenBackend, testBackends } from '@tablecache/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PostgresAccess } from './postgres-access.js';

interface Database {
  'Order Items': { 'Order "Id"': number; line: number; label: string };
}

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`linkQuery restricts any query to rows whose columns hold keys, on ${backend.name}`, () => {
    let database: OpenBackend;
    let access: PostgresAccess<Database>;

    beforeAll(async () => {
      database = await backend.open();
      access = new PostgresAccess<Database>(database.connection);
      await database.exec(`
        CREATE TABLE "Order Items" ("Order ""Id""" integer, line integer, label text, PRIMARY KEY ("Order ""Id""", line));
        INSERT INTO "Order Items" VALUES (1, 1, 'a'), (1, 2, 'b'), (2, 1, 'c'), (3, 1, 'd');`);
    });

    afterAll(async () => {
      await access?.close();
      await database?.close();
    });

    const labels = async (query: Parameters<PostgresAccess['linkQuery']>[0], columns: string[], keys: unknown[][]) => {
      const rows = (await access.execute(access.linkQuery(query, columns, keys as never))) as { label: string }[];
      return rows.map((row) => row.label).sort();
    };

    test('a kysely query keeps its own parameters, and a quoted column name reads as itself', async () => {
      const query = access.kysely.selectFrom('Order Items').selectAll().where('label', '!=', 'b');
      expect(await labels(query, ['Order "Id"'], [[1], [3]])).toEqual(['a', 'd']);
    });

    test('raw SQL with parameters and a sql template work alike', async () => {
      const raw = { sql: 'SELECT * FROM "Order Items" WHERE line >= $1', parameters: [1] };
      expect(await labels(raw, ['line'], [[2]])).toEqual(['b']);
      expect(await labels(sql`SELECT * FROM "Order Items"`, ['label'], [['c']])).toEqual(['c']);
    });

    test('several columns select at least the tuples asked for', async () => {
      expect(
        await labels(
          access.kysely.selectFrom('Order Items').selectAll().compile(),
          ['Order "Id"', 'line'],
          [
            [1, 2],
            [2, 1],
          ],
        ),
      ).toEqual(['a', 'b', 'c']);
    });
  });
}
