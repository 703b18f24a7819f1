import type { TestProject } from 'vitest/node';
import { LOCAL_SERVER_URL, serverAnswers } from './test-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Postgres server for `*.pg.test.ts`, or null when none could be found or started. */
    databaseUrl: string | null;
  }
}

/**
 * Finds the test server, in DESIGN.md's order: TABLECACHE_TEST_DATABASE_URL; a container when a
 * Docker engine answers; the local server. With none, server tests are skipped, unless
 * TABLECACHE_REQUIRE_SERVER=1 makes that a failure.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let stop = async (): Promise<void> => {};
  let url: string | null = null;
  const fromEnv = process.env.TABLECACHE_TEST_DATABASE_URL;
  if (fromEnv) {
    if (!(await serverAnswers(fromEnv))) throw new Error(`TABLECACHE_TEST_DATABASE_URL=${fromEnv} does not answer`);
    url = fromEnv;
  } else {
    const container = await startContainer();
    if (container) {
      url = container.url;
      stop = container.stop;
    } else if (await serverAnswers(LOCAL_SERVER_URL)) {
      url = LOCAL_SERVER_URL;
    }
  }
  if (url === null && process.env.TABLECACHE_REQUIRE_SERVER === '1') {
    throw new Error(
      'TABLECACHE_REQUIRE_SERVER=1 but no Postgres server: set TABLECACHE_TEST_DATABASE_URL, run a Docker engine, or start Postgres on 127.0.0.1:5432',
    );
  }
  console.log(`[tablecache tests] Postgres server: ${url === null ? 'none, server tests are skipped' : redact(url)}`);
  project.provide('databaseUrl', url);
  return stop;
}

async function startContainer(): Promise<{ url: string; stop: () => Promise<void> } | undefined> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await withTimeout(getContainerRuntimeClient(), 5000);
  } catch {
    return undefined; // no Docker engine answers
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('postgres:16-alpine')
    .withCommand(['postgres', '-c', 'wal_level=logical', '-c', 'fsync=off'])
    .start();
  return { url: container.getConnectionUri(), stop: async () => void (await container.stop()) };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref()),
  ]);
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
