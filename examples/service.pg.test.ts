import type { PGlite } from '@electric-sql/pglite';
import { PostgresAccess } from '@tablecache/postgres';
import { type OpenBackend, testBackends } from '@tablecache/testing';
import pg from 'pg';
import { describe, expect, test } from 'vitest';
import { runExample } from './script.fixture.js';
import { type Service, startService } from './service.js';
import { createSeedSchema, type Database } from './users-cities.js';

interface Answer {
  readonly status: number;
  readonly contentType: string | null;
  readonly body: unknown;
}

/** One request over real HTTP; JSON bodies parsed, anything else as text. */
async function request(url: string, init?: RequestInit): Promise<Answer> {
  const response = await fetch(url, init);
  const contentType = response.headers.get('content-type');
  const body: unknown = contentType?.startsWith('application/json') ? await response.json() : await response.text();
  return { status: response.status, contentType, body };
}

/** A sample of the Prometheus text format: `name{label="value",...} value [timestamp]`. */
interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

interface Exposition {
  readonly samples: readonly Sample[];
  /** Each metric family's declared type, from its `# TYPE` line. */
  readonly types: ReadonlyMap<string, string>;
}

const METRIC_NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const SAMPLE_VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/;

/**
 * Parses the Prometheus text format (version 0.0.4) strictly: every line is empty, a comment
 * (`# HELP name text`, `# TYPE name type`, or any other `#` line), or a sample with valid names,
 * quoted and escaped label values and a number. Anything else throws, naming the line.
 */
function parsePrometheus(text: string): Exposition {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.slice(0, -1).split('\n')) {
    const fail = (what: string) => new Error(`${what} in line '${line}'`);
    if (line === '') continue;
    if (line.startsWith('#')) {
      const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (type !== null) types.set(type[1] as string, type[2] as string);
      else if (line.startsWith('# TYPE ') || (line.startsWith('# HELP ') && !/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* /.test(line)))
        throw fail('a malformed HELP or TYPE');
      continue;
    }
    METRIC_NAME.lastIndex = 0;
    const name = METRIC_NAME.exec(line)?.[0];
    if (name === undefined) throw fail('no metric name');
    let at = name.length;
    const labels: Record<string, string> = {};
    if (line[at] === '{') {
      at++;
      while (line[at] !== '}') {
        LABEL_NAME.lastIndex = at;
        const label = LABEL_NAME.exec(line)?.[0];
        if (label === undefined || line.slice(at + label.length, at + label.length + 2) !== '="') throw fail('a malformed label');
        at += label.length + 2;
        let value = '';
        for (;;) {
          const char = line[at++];
          if (char === undefined) throw fail('an unterminated label value');
          if (char === '"') break;
          if (char === '\\') {
            const escaped = line[at++];
            if (escaped === 'n') value += '\n';
            else if (escaped === '\\' || escaped === '"') value += escaped;
            else throw fail('a bad escape');
          } else value += char;
        }
        if (label in labels) throw fail(`label ${label} twice`);
        labels[label] = value;
        if (line[at] === ',') at++;
        else if (line[at] !== '}') throw fail('a label not followed by , or }');
      }
      at++;
    }
    const [value, timestamp, ...rest] = line.slice(at).replace(/^ /, '').split(' ');
    if (line[at] !== ' ' || value === undefined || !SAMPLE_VALUE.test(value) || rest.length > 0) throw fail('a malformed value');
    if (timestamp !== undefined && !/^-?\d+$/.test(timestamp)) throw fail('a malformed timestamp');
    samples.push({ name, labels, value: value.endsWith('Inf') ? (value.startsWith('-') ? -Infinity : Infinity) : Number(value) });
  }
  return { samples, types };
}

async function scrape(service: Service): Promise<Exposition> {
  const answer = await request(`${service.url}/metrics`);
  expect(answer.status).toBe(200);
  expect(answer.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(answer.body as string);
}

/** The sum of a metric's samples whose labels include `labels`: a counter summed over the labels not named. */
function total(exposition: Exposition, name: string, labels: Record<string, string>): number {
  return exposition.samples
    .filter((sample) => sample.name === name && Object.entries(labels).every(([label, value]) => sample.labels[label] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}

/** Polls until `check` passes or 10 s have gone; then its last failure is the test's. */
async function eventually(check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** How the service reaches the test's database: the server's URL, or the test's own PGlite. */
function serviceDatabase(database: OpenBackend): { databaseUrl: string } | { pglite: PGlite } {
  return 'connectionString' in database.connection
    ? { databaseUrl: database.connection.connectionString }
    : { pglite: database.connection.pglite };
}

/**
 * Seeds the example's schema, then holds it so the service cannot load it until the returned
 * function lets go: on the server a transaction locks `users` (the load's read waits for it);
 * PGlite is one session, so there a transaction that stays open makes every other query wait.
 */
async function seedAndHold(database: OpenBackend): Promise<() => Promise<void>> {
  const access = new PostgresAccess<Database>(database.connection);
  try {
    await createSeedSchema(access.kysely);
  } finally {
    await access.close();
  }
  if ('connectionString' in database.connection) {
    const client = new pg.Client({ connectionString: database.connection.connectionString });
    await client.connect();
    await client.query('BEGIN');
    await client.query('LOCK TABLE tablecache_example.users IN ACCESS EXCLUSIVE MODE');
    return async () => {
      await client.query('COMMIT');
      await client.end();
    };
  }
  let letGo = () => {};
  const gate = new Promise<void>((resolve) => {
    letGo = resolve;
  });
  let holding = () => {};
  const held = new Promise<void>((resolve) => {
    holding = resolve;
  });
  const transaction = database.connection.pglite.transaction(async () => {
    holding();
    await gate;
  });
  await held;
  return async () => {
    letGo();
    await transaction;
  };
}

for (const backend of testBackends()) {
  describe.skipIf(!backend.available)(`the service example on ${backend.name}`, () => {
    /** A fresh database with the service on it, once ready; closed after `body`. */
    async function withService(body: (service: Service, database: OpenBackend) => Promise<void>): Promise<void> {
      const database = await backend.open();
      try {
        const service = await startService({ port: 0, logger: false, ...serviceDatabase(database) });
        try {
          await service.ready;
          await body(service, database);
        } finally {
          await service.close();
        }
      } finally {
        await database.close();
      }
    }

    test("GET /users/1 returns the user's record as JSON", async () => {
      await withService(async (service) => {
        expect(service.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(await request(`${service.url}/users/1`)).toEqual({
          status: 200,
          contentType: 'application/json; charset=utf-8',
          body: { user_id: 1, name: 'Alice', nickname: 'al', city_id: 1, city_name: 'Berlin' },
        });
      });
    });

    test('an unknown user id is 404', async () => {
      await withService(async (service) => {
        expect(await request(`${service.url}/users/3`)).toMatchObject({ status: 404, body: { error: 'no user 3' } });
        // Beyond the integer column's range: no such user, rather than a failing query.
        for (const id of ['99999999999', '99999999999999999999999']) {
          expect(await request(`${service.url}/users/${id}`)).toMatchObject({ status: 404, body: { error: `no user ${id}` } });
        }
      });
    });

    test('a malformed user id is 400', async () => {
      await withService(async (service) => {
        expect(await request(`${service.url}/users/abc`)).toMatchObject({
          status: 400,
          body: { error: "a user id is a non-negative integer; got 'abc'" },
        });
        for (const id of ['-1', '1.5', '1e3', '0x10', '%20', '1%00']) {
          expect((await request(`${service.url}/users/${id}`)).status, id).toBe(400);
        }
      });
    });

    test('GET /health is 200 once the table is loaded and watching', async () => {
      await withService(async (service) => {
        expect(await request(`${service.url}/health`)).toMatchObject({
          status: 200,
          body: { ready: true, load: 'loaded', feed: 'live' },
        });
      });
    });

    test('GET /health is 503, saying why, while the table cannot load yet', async () => {
      const database = await backend.open();
      try {
        const letGo = await seedAndHold(database);
        const service = await startService({ port: 0, logger: false, ...serviceDatabase(database) });
        try {
          const waiting = await request(`${service.url}/health`);
          expect(waiting).toMatchObject({
            status: 503,
            body: { ready: false, reason: expect.stringMatching(/^the table is (idle|loading), not loaded$/) },
          });
          await letGo();
          await service.ready;
          expect(await request(`${service.url}/health`)).toMatchObject({ status: 200, body: { ready: true } });
        } finally {
          await letGo().catch(() => undefined);
          await service.close();
        }
      } finally {
        await database.close();
      }
    });

    test('a committed UPDATE shows without a sync, and /metrics then counts its refresh and its change lag', async () => {
      await withService(async (service, database) => {
        await database.exec(`UPDATE tablecache_example.users SET name = 'Alicia' WHERE user_id = 1`);
        // Eager refresh: the change arrives by NOTIFY and is refreshed with no read asking for it.
        await eventually(async () => {
          expect(await request(`${service.url}/users/1`)).toMatchObject({ status: 200, body: { name: 'Alicia', city_name: 'Berlin' } });
        });
        const exposition = await scrape(service);
        expect(exposition.types.get('tablecache_change_lag_seconds')).toBe('histogram');
        expect(total(exposition, 'tablecache_change_lag_seconds_count', { table: 'users' })).toBeGreaterThanOrEqual(1);
        expect(total(exposition, 'tablecache_refreshes_total', { table: 'users' })).toBeGreaterThanOrEqual(1);
      });
    });

    test('POST /sync answers once every change committed before it is visible', async () => {
      await withService(async (service, database) => {
        await database.exec(`UPDATE tablecache_example.cities SET name = 'Hansestadt Hamburg' WHERE city_id = 2`);
        expect(await request(`${service.url}/sync`, { method: 'POST' })).toMatchObject({ status: 200, body: { synced: true } });
        expect(await request(`${service.url}/users/2`)).toMatchObject({
          status: 200,
          body: { name: 'Bob', city_name: 'Hansestadt Hamburg' },
        });
      });
    });

    test('GET /metrics is valid Prometheus text, and every metric name starts with tablecache', async () => {
      await withService(async (service) => {
        await request(`${service.url}/users/1`);
        const exposition = await scrape(service);
        expect(exposition.samples.length).toBeGreaterThan(0);
        for (const sample of exposition.samples) expect(sample.name).toMatch(/^tablecache_/);
        for (const name of exposition.types.keys()) expect(name).toMatch(/^tablecache_/);
        expect(exposition.types.get('tablecache_records')).toBe('gauge');
        expect(total(exposition, 'tablecache_records', { table: 'users' })).toBe(2);
        expect(total(exposition, 'tablecache_loads_total', { table: 'users', outcome: 'ok' })).toBe(1);
        expect(exposition.types.get('tablecache_load_duration_seconds')).toBe('histogram');
        expect(total(exposition, 'tablecache_load_duration_seconds_count', { table: 'users' })).toBe(1);
        expect(total(exposition, 'tablecache_reads_total', { table: 'users', source: 'memory' })).toBeGreaterThanOrEqual(1);
        expect(total(exposition, 'tablecache_feed_up', {})).toBe(1);
      });
    });

    test('runs as a script: prints its URL, becomes ready, serves, and exits 0 on SIGTERM', async () => {
      const database = await backend.open();
      // On PGlite the script makes its own database (an empty DATABASE_URL).
      const script = runExample('service.ts', 'connectionString' in database.connection ? database.connection.connectionString : '');
      try {
        const serviceUrl = await script.until('become ready', async (output) => {
          const url = /listening on (http:\/\/[\d.]+:\d+)/.exec(output)?.[1];
          return url !== undefined && (await request(`${url}/health`)).status === 200 ? url : undefined;
        });
        expect(await request(`${serviceUrl}/users/2`)).toMatchObject({ status: 200, body: { name: 'Bob', city_name: 'Hamburg' } });
        script.child.kill('SIGTERM');
        expect(await script.exited).toEqual([0, null]);
        expect(script.output()).toMatch(/\nSIGTERM: shutting down\n(.*\n)*closed\n$/);
        // Fastify's logger (pino) wrote JSON lines, the tablecache ones among them.
        expect(script.output()).toMatch(/^\{"level":30,.*"msg":"loaded 2 users \(\d+ KiB\) in \d+ ms; ready"\}$/m);
      } finally {
        await script.stop();
        await database.close();
      }
    });
  });
}

test('a service that cannot reach its database says why on /health, and its ready rejects', async () => {
  // Port 1: nothing listens there, so every connection is refused at once.
  const service = await startService({ port: 0, logger: false, databaseUrl: 'postgres://postgres@127.0.0.1:1/postgres' });
  try {
    await expect(service.ready).rejects.toThrow();
    expect(await request(`${service.url}/health`)).toMatchObject({
      status: 503,
      body: { ready: false, reason: expect.stringMatching(/^start failed: .*ECONNREFUSED/) },
    });
  } finally {
    await service.close();
  }
});
