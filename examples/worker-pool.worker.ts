/**
 * The request handlers of examples/worker-pool.ts, run by piscina in every worker thread of its
 * pool. Each worker opens the owner's table once, from the handle in `workerData`, and reads it
 * from shared memory: no copy of the table per thread, no database connection in any worker.
 * What memory cannot answer (a user being refreshed, the owner's feed away) the reader asks of
 * the owner's table on the main thread.
 */
import { threadId, workerData } from 'node:worker_threads';
import { RecordNotFoundError, TableClosedError } from '@tablecache/core';
import { OwnerUnavailableError, openSharedTable } from '@tablecache/shared-memory';
import { queryBuilder, userIndexes } from './users-cities.js';

/** What the main thread hands a worker for one HTTP request. */
export interface WorkerPoolTask {
  readonly method: string;
  /** The request's target: path and query, as `request.url`. */
  readonly url: string;
}

/** What the worker answers: the HTTP status, the JSON body, and which thread answered. */
export interface WorkerPoolAnswer {
  readonly status: number;
  readonly body: string;
  readonly thread: number;
}

/** What the main thread puts in every worker's `workerData`. */
export interface WorkerPoolData {
  /** The owner's `storage.handle()`. */
  readonly handle: unknown;
}

/** The largest `integer` (int4) key: a larger id names no user. */
const MAX_USER_ID = 2 ** 31 - 1;
const SYNC_TIMEOUT_MS = 10_000;

// The same indexes as the owner's, over a query builder that never connects: the reader needs
// them to follow the owner's coverage; its queries run on the owner's thread, if at all.
const open = () => openSharedTable((workerData as WorkerPoolData).handle, userIndexes(queryBuilder()));
let opening: ReturnType<typeof open> | undefined;

/** The reader, opened once per worker (again only if opening failed). */
function users(): ReturnType<typeof open> {
  if (opening === undefined) {
    opening = open();
    opening.catch(() => {
      opening = undefined;
    });
  }
  return opening;
}

/** JSON with bigints as decimal strings and Dates as ISO 8601 (their toJSON). */
function json(value: unknown): string {
  return JSON.stringify(value, (_, field: unknown) => (typeof field === 'bigint' ? field.toString() : field));
}

const answer = (status: number, body: unknown): WorkerPoolAnswer => ({ status, body: json(body), thread: threadId });

/**
 * Answers one request: `GET /users/:id` (`?sync=1` waits for the owner's sync first), `POST /sync`
 * and `GET /health`.
 */
export default async function handle(task: WorkerPoolTask): Promise<WorkerPoolAnswer> {
  const url = new URL(task.url, 'http://localhost');
  try {
    if (url.pathname === '/sync') {
      if (task.method !== 'POST') return answer(405, { error: 'use POST /sync' });
      await (await users()).sync({ timeoutMs: SYNC_TIMEOUT_MS });
      return answer(200, { synced: true });
    }
    if (url.pathname === '/health') {
      // Ready when the owner's table is loaded and memory may be served (its feed live, it answers).
      const { status } = await users();
      return answer(status.load === 'loaded' && status.servesMemory ? 200 : 503, status);
    }
    const match = /^\/users\/([^/]*)$/.exec(url.pathname);
    if (match === null) return answer(404, { error: `no route for ${url.pathname}` });
    if (task.method !== 'GET') return answer(405, { error: `use GET ${url.pathname}` });
    const id = match[1]!;
    if (!/^[0-9]+$/.test(id)) return answer(400, { error: `a user id is a number; got '${id}'` });
    const userId = Number(id);
    if (userId > MAX_USER_ID) return answer(404, { error: `no user ${id}` });
    const table = await users();
    if (url.searchParams.has('sync')) await table.sync({ timeoutMs: SYNC_TIMEOUT_MS });
    // From shared memory, synchronously, when it holds the user and the user is valid; else the
    // reader asks (the owner refreshes, or knows the user is absent).
    const user = table.peek(userId) ?? (await table.getFirstRecord({ index: 'primaryKey', keys: [userId] }));
    return answer(200, user);
  } catch (error) {
    if (error instanceof RecordNotFoundError) return answer(404, { error: `no user ${url.pathname.slice('/users/'.length)}` });
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    // The owner gone or closing: the service cannot answer now, a retry elsewhere may.
    if (error instanceof OwnerUnavailableError || error instanceof TableClosedError) {
      return answer(503, { error: message });
    }
    return answer(500, { error: message });
  }
}

// Open at the worker's start (piscina loads this module then), not at its first request.
users().catch(() => undefined);
