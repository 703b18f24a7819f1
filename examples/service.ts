/**
 * An HTTP service (Fastify) that serves users ⋈ users_cities ⋈ cities from memory, keyed by
 * `user_id`, kept fresh by NOTIFY (eager refresh), with a readiness check and Prometheus metrics.
 *
 *   pnpm example:service                                      # on embedded PGlite, port 3000
 *   PORT=0 DATABASE_URL=postgres://... pnpm example:service   # a random port, on a server
 *
 *   GET  /users/:id   the user as JSON; 404 when absent, 400 for an id that is not a user id
 *   POST /sync        answers once every change committed before it is visible
 *   GET  /health      200 once the table is loaded and its feed live, else 503 saying why
 *   GET  /metrics     Prometheus text: what tablecache reports through OpenTelemetry
 *
 * It listens at once and prepares in the background (the seed schema `tablecache_example` when it
 * is absent, the triggers, the watch, the load), so a readiness probe sees 503 during a long
 * load instead of a refused connection; reads that arrive meanwhile go to the database, as any
 * read the cache cannot serve from memory does. SIGTERM or SIGINT shuts it down gracefully.
 */
import { PGlite } from '@electric-sql/pglite';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  CachedTable,
  type CachedTableStatus,
  describeError,
  describePlan,
  type LoadProgress,
  type Logger,
  RecordNotFoundError,
} from '@tablecache/core';
import { LocalStorageTable } from '@tablecache/local';
import { installTriggers, PgNotifyFeed, PostgresAccess } from '@tablecache/postgres';
import Fastify, { type FastifyBaseLogger, type FastifyServerOptions } from 'fastify';
import { type ExampleConnection, runAsScript } from './connect.js';
import { type Database, ensureSeedSchema, SCHEMA, userIndexes } from './users-cities.js';

export interface ServiceOptions {
  /** The port to listen on; 0 picks a free one. Default 3000. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** A Postgres server. Without it, the service runs on `pglite`, or on an in-memory PGlite of its own. */
  readonly databaseUrl?: string;
  /** An embedded database the caller owns (and closes): for running beside the code that writes to it. */
  readonly pglite?: PGlite;
  /** Fastify's `logger` option (pino). Default: info and above, as JSON lines on stdout. */
  readonly logger?: FastifyServerOptions['logger'];
}

export interface Service {
  /** Where the service listens, as `http://host:port`. */
  readonly url: string;
  /**
   * Resolves once the table is loaded and watching, as `/health` then says; rejects with what
   * stopped the preparation (it is also logged, and `/health` reports it).
   */
  readonly ready: Promise<void>;
  /** Stops accepting requests, lets those in flight finish, then ends the table, the feed, the access, the metrics (and its own PGlite). */
  close(): Promise<void>;
}

/** What `/health` answers: ready or not, why not, and the table's status behind it. */
export interface Health extends CachedTableStatus {
  readonly ready: boolean;
  readonly reason?: string;
}

/**
 * Ready when the table is loaded and every feed it watches receives changes: then reads are
 * answered from memory and kept fresh. Anything else says why not, first the cause that blocks
 * the rest (a failed start, then the load, then the feed).
 */
export function healthOf(status: CachedTableStatus, startError?: unknown): Health {
  if (startError !== undefined) return { ready: false, reason: `start failed: ${describeError(startError)}`, ...status };
  if (status.load !== 'loaded') return { ready: false, reason: `the table is ${status.load}, not loaded`, ...status };
  if (status.feed !== 'live') return { ready: false, reason: `the change feed is ${status.feed}, not live`, ...status };
  return { ready: true, ...status };
}

/** The largest `integer` (int4), the column's type: a larger id names no user, and a query with it would fail. */
const MAX_USER_ID = 2_147_483_647;

/** How often a load still running says how far it got. */
const LOAD_PROGRESS_INTERVAL_MS = 5_000;

const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

/** How long a graceful shutdown waits for requests in flight before it drops their connections. */
const SHUTDOWN_GRACE_MS = 5_000;

/** The four methods tablecache logs through, each a line on fastify's logger (pino needs them called as its methods). */
function tablecacheLogger(log: FastifyBaseLogger): Logger {
  return {
    error: (message) => log.error(message),
    warn: (message) => log.warn(message),
    info: (message) => log.info(message),
    debug: (message) => log.debug(message),
  };
}

export async function startService(options: ServiceOptions = {}): Promise<Service> {
  const app = Fastify({ logger: options.logger ?? { level: 'info' } });
  const logger = tablecacheLogger(app.log.child({ component: 'tablecache' }));

  let ownPglite: PGlite | undefined;
  let connection: ExampleConnection;
  if (options.databaseUrl !== undefined) connection = { connectionString: options.databaseUrl };
  else if (options.pglite !== undefined) connection = { pglite: options.pglite };
  else {
    ownPglite = await PGlite.create();
    connection = { pglite: ownPglite };
  }
  // Metrics before the table and the feed: they take their instruments from the global meter
  // provider when they are made. The exporter starts no server of its own; /metrics collects
  // through it. target_info is left out: every name served here is tablecache's.
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutTargetInfo: true });
  const serializer = new PrometheusSerializer(undefined, false, undefined, true);
  const meterProvider = new MeterProvider({ readers: [exporter] });
  // A second provider cannot be registered; the table's instruments would then go elsewhere and
  // /metrics would be silently empty, so refuse to start instead.
  if (!metrics.setGlobalMeterProvider(meterProvider)) {
    await meterProvider.shutdown();
    await ownPglite?.close();
    throw new Error('a global OpenTelemetry meter provider is already registered; /metrics could not see the table');
  }

  const access = new PostgresAccess<Database>({ ...connection, logger });
  const feed = new PgNotifyFeed(connection, { logger });
  const indexes = userIndexes(access.kysely);
  const users = new CachedTable(indexes, access, new LocalStorageTable(indexes, { name: 'users' }), { name: 'users', logger });

  let startError: unknown;
  let starting: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      // Fastify stops accepting, answers 503 to requests that arrive now, and waits for those in
      // flight: a long one (a sync behind a lost feed) is cut after the grace period.
      const drop = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await app.close();
      clearTimeout(drop);
      await users.close(); // unwatches; a load still running rejects
      await starting?.catch(() => undefined);
      await feed.close();
      await access.close();
      await meterProvider.shutdown();
      metrics.disable(); // the next service in this process may register its own
      await ownPglite?.close();
    })();
    return closing;
  };

  app.get('/health', async (_request, reply) => {
    const health = healthOf(users.status, startError);
    return reply.code(health.ready ? 200 : 503).send(health);
  });

  app.get<{ Params: { id: string } }>('/users/:id', async (request, reply) => {
    const text = request.params.id;
    if (!/^\d+$/.test(text)) return reply.code(400).send({ error: `a user id is a non-negative integer; got '${text}'` });
    const id = Number(text);
    if (id > MAX_USER_ID) return reply.code(404).send({ error: `no user ${text}` });
    try {
      return await users.getFirstRecord({ index: 'primaryKey', keys: [id] });
    } catch (error) {
      if (error instanceof RecordNotFoundError) return reply.code(404).send({ error: `no user ${id}` });
      throw error; // fastify logs it and answers 500
    }
  });

  app.post('/sync', async () => {
    await users.sync();
    return { synced: true };
  });

  app.get('/metrics', async (_request, reply) => {
    const { resourceMetrics, errors } = await exporter.collect();
    for (const error of errors) app.log.warn(`collecting metrics: ${describeError(error)}`);
    const text = serializer.serialize(resourceMetrics);
    // The text format ends every line with a newline; the serializer's "no metrics" comment has none.
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(text.endsWith('\n') ? text : `${text}\n`);
  });

  let url: string;
  try {
    url = await app.listen({ port: options.port ?? 3000, host: options.host ?? '127.0.0.1' });
  } catch (error) {
    await close();
    throw error;
  }

  const start = async () => {
    if (await ensureSeedSchema(access.kysely)) app.log.info(`created ${SCHEMA}.users, .cities and .users_cities with users 1 and 2`);
    await installTriggers(access, { for: users });
    // Watch first, then load: nothing that commits in between can be missed. 'auto' asks Postgres
    // how each table's rows map to cached users: users and users_cities by user_id, cities by
    // city_id, so renaming a city refreshes exactly the users who live there.
    await users.watch(feed, { tables: 'auto', refresh: 'eager' });
    for (const line of describePlan(await users.describeInvalidation()).split('\n')) app.log.info(`invalidation plan: ${line}`);
    // A log line every few seconds while a big load runs (a service's logs go to a collector,
    // not a terminal, so no progress bar), and one with the totals when it is done.
    let last: LoadProgress | undefined;
    await users.load(
      { index: 'primaryKey', all: true },
      {
        onProgress: (progress) => {
          if (!progress.done && progress.elapsedMs - (last?.elapsedMs ?? 0) < LOAD_PROGRESS_INTERVAL_MS) return;
          last = progress;
          if (progress.done) return;
          const of = progress.expectedRows === undefined ? '' : ` of about ${progress.expectedRows}`;
          app.log.info(`loading users: ${progress.rows} rows${of}, ${kib(progress.bytes)} after ${progress.elapsedMs} ms`);
        },
      },
    );
    app.log.info(`loaded ${last?.rows} users (${kib(last?.bytes ?? 0)}) in ${last?.elapsedMs.toFixed(0)} ms; ready`);
  };
  starting = start();
  const ready = starting.catch((error: unknown) => {
    if (closing === undefined) {
      startError = error;
      app.log.error(`start failed: ${describeError(error)}`);
    }
    throw error;
  });
  // Whoever only serves (and watches /health) need not await `ready`: no unhandled rejection.
  ready.catch(() => undefined);
  return { url, ready, close };
}

await runAsScript(import.meta.url, 'tablecache service example', async (connection) => {
  const port = process.env.PORT === undefined || process.env.PORT === '' ? 3000 : Number(process.env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`PORT must be a port number; got '${process.env.PORT}'`);
  const service = await startService({
    port,
    ...('pglite' in connection ? { pglite: connection.pglite } : { databaseUrl: connection.connectionString }),
  });
  console.log(`listening on ${service.url}: GET ${service.url}/users/1, ${service.url}/health, ${service.url}/metrics`);
  // A second signal during the shutdown gets Node's default: the process ends at once.
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  // Runs until a signal; a start that fails ends it too, non-zero, rather than leave a service
  // that can never become ready.
  const outcome = await Promise.race([
    signal,
    service.ready.then(
      () => signal,
      (error: unknown) => ({ error }),
    ),
  ]);
  if (typeof outcome === 'string') console.log(`${outcome}: shutting down`);
  await service.close();
  if (typeof outcome !== 'string') throw outcome.error; // logged already
  console.log('closed');
});
