import { testBackends } from '@tablecache/testing';
import { describe, expect, test } from 'vitest';
import { runExample } from './script.fixture.js';
import { startWorkerPoolService } from './worker-pool.js';

interface Answer {
  readonly status: number;
  readonly thread: string | null;
  readonly body: Record<string, unknown>;
}

async function request(url: string, init?: RequestInit): Promise<Answer> {
  const response = await fetch(url, init);
  return {
    status: response.status,
    thread: response.headers.get('x-worker-thread'),
    body: (await response.json()) as Record<string, unknown>,
  };
}

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`the worker-pool example on ${backend.name}`, () => {
    test('workers answer from shared memory, and after a sync through the service every worker shows a committed change', async () => {
      const database = await backend.open();
      const lines: string[] = [];
      try {
        const service = await startWorkerPoolService(database.connection, { port: 0, threads: 2, log: (line) => lines.push(line) });
        try {
          expect(service.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
          const alice = await request(`${service.url}/users/1`);
          expect(alice).toMatchObject({
            status: 200,
            body: { user_id: 1, name: 'Alice', nickname: 'al', city_id: 1, city_name: 'Berlin' },
          });

          await database.exec(`UPDATE tablecache_example.users SET name = 'Alicia' WHERE user_id = 1`);
          expect(await request(`${service.url}/sync`, { method: 'POST' })).toMatchObject({ status: 200, body: { synced: true } });
          // Many requests at once, in rounds, until both workers have answered: each says Alicia.
          const threads = new Set<string>();
          for (let round = 0; round < 20 && threads.size < 2; round++) {
            const answers = await Promise.all(Array.from({ length: 16 }, () => request(`${service.url}/users/1`)));
            for (const answer of answers) {
              expect(answer).toMatchObject({ status: 200, body: { user_id: 1, name: 'Alicia', city_name: 'Berlin' } });
              threads.add(answer.thread!);
            }
          }
          expect(threads.size).toBe(2);

          // The flag form: the read waits for the sync itself.
          await database.exec(`UPDATE tablecache_example.users SET name = 'Bobby' WHERE user_id = 2`);
          expect(await request(`${service.url}/users/2?sync=1`)).toMatchObject({
            status: 200,
            body: { name: 'Bobby', city_name: 'Hamburg' },
          });

          expect(await request(`${service.url}/users/3`)).toMatchObject({ status: 404, body: { error: 'no user 3' } });
          expect(await request(`${service.url}/users/99999999999`)).toMatchObject({ status: 404 });
          expect(await request(`${service.url}/users/abc`)).toMatchObject({
            status: 400,
            body: { error: "a user id is a number; got 'abc'" },
          });
          expect(await request(`${service.url}/users/-1`)).toMatchObject({ status: 400 });
          expect(await request(`${service.url}/users/%E0%A4%A`)).toMatchObject({ status: 400 });
          expect(await request(`${service.url}/health`)).toMatchObject({ status: 200, body: { load: 'loaded', servesMemory: true } });
          expect(await request(`${service.url}/nothing`)).toMatchObject({ status: 404 });
          expect(await request(`${service.url}/sync`)).toMatchObject({ status: 405 });

          // A user inserted behind the service's back shows after a sync, in every worker.
          await database.exec(
            `INSERT INTO tablecache_example.users VALUES (3, 'Carol', NULL); INSERT INTO tablecache_example.users_cities VALUES (3, 2)`,
          );
          expect(await request(`${service.url}/sync`, { method: 'POST' })).toMatchObject({ status: 200 });
          const carols = await Promise.all(Array.from({ length: 8 }, () => request(`${service.url}/users/3`)));
          for (const carol of carols)
            expect(carol).toMatchObject({ status: 200, body: { name: 'Carol', nickname: null, city_name: 'Hamburg' } });
        } finally {
          await service.close();
        }
        // Closed: nothing listens any more.
        await expect(fetch(`${service.url}/users/1`)).rejects.toThrow();
        expect(lines[0]).toMatch(/^created tablecache_example/);
      } finally {
        await database.close();
      }
    });

    test('runs as a script: prints its URL, serves, and shuts down gracefully on SIGTERM', async () => {
      const database = await backend.open();
      // On PGlite the script makes its own database (an empty DATABASE_URL).
      const script = runExample('worker-pool.ts', 'connectionString' in database.connection ? database.connection.connectionString : '');
      try {
        const serviceUrl = await script.until('start listening', (output) => /listening on (http:\/\/\S+) /.exec(output)?.[1]);
        expect(await request(`${serviceUrl}/users/2`)).toMatchObject({ status: 200, body: { name: 'Bob', city_name: 'Hamburg' } });
        script.child.kill('SIGTERM');
        expect(await script.exited).toEqual([0, null]);
        expect(script.output()).toMatch(/SIGTERM: shutting down\nclosed\n$/);
      } finally {
        await script.stop();
        await database.close();
      }
    });
  });
}
