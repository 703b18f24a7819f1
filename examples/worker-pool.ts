/**
 * An HTTP service whose request handlers run in a pool of worker threads (piscina), all reading
 * one table in shared memory. The main thread owns the table: it loads the users ⋈ users_cities
 * ⋈ cities join into a SharedMemoryStorageTable, follows the database through NOTIFY (eager
 * refresh) and hands every worker `storage.handle()`. The workers (examples/worker-pool.worker.ts)
 * answer from shared memory, with no copy of the table and no database connection of their own.
 *
 *   pnpm example:worker-pool                                 # on embedded PGlite, port 3000
 *   PORT=0 DATABASE_URL=postgres://... pnpm example:worker-pool   # a random port, on a server
 *
 *   GET  /users/:id          the user as JSON; 404 when absent, 400 for an id that is not a number
 *   GET  /users/:id?sync=1   the same, after every change committed before the request is visible
 *   POST /sync               waits (in a worker) until every change committed before it is visible
 *   GET  /health             200 when the table is loaded and memory is served, else 503
 *
 * PGlite runs in one thread: the main thread holds it, the workers never touch the database, so
 * the service works on it as on a server. SIGTERM or SIGINT shuts it down gracefully.
 */
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CachedTable, type Change, describePlan } from '@tablecache/core';
import { installTriggers, loadProgressBar, PgNotifyFeed, PostgresAccess } from '@tablecache/postgres';
import { SharedMemoryStorageTable } from '@tablecache/shared-memory';
import { Piscina } from 'piscina';
import { type ExampleConnection, runAsScript } from './connect.js';
import { type Database, ensureSeedSchema, SCHEMA, userIndexes } from './users-cities.js';
import type { WorkerPoolAnswer, WorkerPoolData, WorkerPoolTask } from './worker-pool.worker.js';

export interface WorkerPoolServiceOptions {
  /** The port to listen on; 0 picks a free one. Default 3000. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Worker threads in the pool, all started up front. Default 2. */
  readonly threads?: number;
  readonly log?: (line: string) => void;
}

export interface WorkerPoolService {
  /** Where the service listens, as `http://host:port`. */
  readonly url: string;
  readonly threads: number;
  /** Stops accepting requests, lets those in flight finish, then ends the pool, the table, the feed and the access. */
  close(): Promise<void>;
}

/** The cached users a change to `users` or `users_cities` touches: the user ids it names, old and new. */
const byUser = (change: Change) => [
  { index: 'primaryKey' as const, keys: [change.old?.user_id, change.new?.user_id].filter((id): id is number => typeof id === 'number') },
];

/** How long a graceful shutdown waits for requests in flight before it drops their connections. */
const SHUTDOWN_GRACE_MS = 5_000;

/**
 * The worker module beside this one, and the Node options its threads need: when this module
 * runs as TypeScript (tsx, vitest), the workers get tsx's loader too, unless the main thread's
 * options (which workers inherit) already load it. (On Node 20 a worker's `--import tsx` does not
 * reach its ES module loading, but piscina loads the module with `require` first, which tsx's
 * CommonJS hooks, registered by the same option, do compile.)
 */
function workerModule(): { filename: string; execArgv: string[] } {
  const typescript = import.meta.url.endsWith('.ts');
  const filename = fileURLToPath(new URL(`./worker-pool.worker.${typescript ? 'ts' : 'js'}`, import.meta.url));
  const execArgv = [...process.execArgv];
  if (typescript && !execArgv.some((option) => /[/\\]tsx[/\\]|^tsx$/.test(option))) {
    execArgv.push('--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href);
  }
  return { filename, execArgv };
}

export async function startWorkerPoolService(
  connection: ExampleConnection,
  options: WorkerPoolServiceOptions = {},
): Promise<WorkerPoolService> {
  const log = options.log ?? console.log;
  const threads = options.threads ?? 2;
  const access = new PostgresAccess<Database>(connection);
  const db = access.kysely;
  const feed = new PgNotifyFeed(connection);
  const indexes = userIndexes(db);
  const storage = new SharedMemoryStorageTable(indexes, { name: 'users' });
  const users = new CachedTable(indexes, access, storage);
  let pool: Piscina<WorkerPoolTask, WorkerPoolAnswer> | undefined;
  let server: Server | undefined;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      if (server?.listening) {
        const closed = new Promise<void>((resolve) => server!.close(() => resolve()));
        server.closeIdleConnections();
        const drop = setTimeout(() => server!.closeAllConnections(), SHUTDOWN_GRACE_MS);
        await closed;
        clearTimeout(drop);
      }
      await pool?.close(); // the queued tasks run, then the workers end
      await users.close();
      await feed.close();
      await access.close();
    })();
    return closing;
  };

  try {
    if (await ensureSeedSchema(db)) log(`created ${SCHEMA}.users, .cities and .users_cities with users 1 and 2`);
    await installTriggers(access, { for: users });
    // Watch first, then load: nothing that commits in between can be missed. A change to a user
    // or a user's city link names the user: refreshed by primary key. Cities are followed by
    // 'auto': shared storage cannot add the index a row-precise link needs once it exists, so
    // the plan says a city's change refreshes the whole join (rare changes, a small table here).
    await users.watch(feed, {
      tables: { [`${SCHEMA}.users`]: byUser, [`${SCHEMA}.users_cities`]: byUser, [`${SCHEMA}.cities`]: 'auto' },
      refresh: 'eager',
    });
    for (const line of describePlan(await users.describeInvalidation()).split('\n')) log(`  ${line}`);
    // A bar on a terminal while a long load runs (these few users load too fast to show one).
    await users.load({ index: 'primaryKey', all: true }, { onProgress: loadProgressBar({ label: 'users' }) });
    const { usedBytes } = storage.memory;
    log(`loaded the join into shared memory (${(usedBytes / 1024).toFixed(0)} KiB)`);

    const workerData: WorkerPoolData = { handle: storage.handle() };
    pool = new Piscina<WorkerPoolTask, WorkerPoolAnswer>({
      ...workerModule(),
      workerData,
      minThreads: threads,
      maxThreads: threads,
    });
    const run = pool.run.bind(pool);
    server = createServer((request, response) => {
      request.resume(); // no route reads a body
      run({ method: request.method ?? 'GET', url: request.url ?? '/' }).then(
        (answer) => {
          response.writeHead(answer.status, { 'content-type': 'application/json', 'x-worker-thread': String(answer.thread) });
          response.end(answer.body);
        },
        (error: unknown) => {
          // The worker itself failed (not the request): piscina replaces it.
          response.writeHead(500, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }));
        },
      );
    });
    const listening = server;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(options.port ?? 3000, options.host ?? '127.0.0.1', () => {
        listening.off('error', reject);
        resolve();
      });
    });
    const address = listening.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return { url: `http://${host}:${address.port}`, threads, close };
  } catch (error) {
    await close();
    throw error;
  }
}

await runAsScript(import.meta.url, 'tablecache worker-pool example', async (connection) => {
  const port = process.env.PORT === undefined || process.env.PORT === '' ? 3000 : Number(process.env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`PORT must be a port number; got '${process.env.PORT}'`);
  const service = await startWorkerPoolService(connection, { port });
  console.log(`listening on ${service.url} with ${service.threads} worker threads: GET ${service.url}/users/1, POST ${service.url}/sync`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  console.log(`${signal}: shutting down`);
  await service.close();
  console.log('closed');
});
