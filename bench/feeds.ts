/**
 * The change feeds against each other, in one run on the same data: NOTIFY triggers
 * (PgNotifyFeed) and logical replication (PgLogicalFeed, pgoutput).
 *
 * - commit → visible: the cached join of the suite, eager refresh, watching one feed while
 *   single-row UPDATEs commit at 100, 1,000 and 5,000/s, open-loop (on schedule, not after the
 *   previous change became visible);
 * - what a feed costs writers: 8 connections committing single-row UPDATEs of distinct rows as
 *   fast as they can, without a feed, with the triggers and a listener, and with a publication
 *   and a streaming slot; rounds interleaved, medians reported.
 *
 *   pnpm bench:feeds           # 100,000 users, 3 s per rate, 3 rounds of 5 s per configuration
 *   pnpm bench:feeds --quick   # 20,000 users, 1 s per rate, 1 round of 1 s
 *
 * Postgres: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres); the logical rows
 * need wal_level=logical.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { type ChangeFeed, TRACING_CHANNELS } from '@tablecache/core';
import {
  installPublication,
  installTriggers,
  PgLogicalFeed,
  PgNotifyFeed,
  PostgresAccess,
  uninstallPublication,
  uninstallTriggers,
} from '@tablecache/postgres';
import pg from 'pg';
import type { WritersJob } from './feeds.writers.js';
import { createData, SCHEMA, usersByKey, usersTable } from './suite/fixture.js';
import { median, percentile } from './suite/measure.js';
import { benchOptions, progress } from './suite/options.js';
import { paced } from './suite/pacing.js';
import { ms, notRun, p50p99, printTable, type Row, rate, times } from './suite/report.js';
import { typescriptWorker } from './suite/worker.js';

const { quick, rows: N, databaseUrl } = benchOptions(20_000, 100_000);
const RATES = [100, 1000, 5000];
const RATE_SECONDS = quick ? 1 : 3;
const WRITERS = 8;
const WRITE_MS = quick ? 1000 : 5000;
const ROUNDS = quick ? 1 : 3;
/** How long a change may take to become visible before it counts as never seen. */
const VISIBLE_WITHIN_MS = 10_000;
const USERS = `${SCHEMA}.users`;
const NAME = 'tablecache_bench_feeds';
const WRITER_APPLICATION = 'tablecache-bench-writer';

type ClosableFeed = ChangeFeed & { close(): Promise<void> };

/** One way of following the users table: what it puts in place, and the feed that listens. */
interface Configuration {
  readonly name: string;
  /** Why it cannot run here; its rows say so. */
  readonly unavailable?: string;
  setUp(): Promise<void>;
  /** A new feed, started; none for the baseline. */
  feed(): ClosableFeed | undefined;
  /** Removes what setUp made; harmless when nothing is there, so it also clears what an interrupted run left. */
  tearDown(): Promise<void>;
}

const access = new PostgresAccess({ connectionString: databaseUrl });

const none: Configuration = {
  name: 'no feed',
  setUp: async () => undefined,
  feed: () => undefined,
  tearDown: async () => undefined,
};
const notify: Configuration = {
  name: 'NOTIFY',
  setUp: () => installTriggers(access, { tables: [USERS], channel: NAME }),
  feed: () => new PgNotifyFeed({ connectionString: databaseUrl }, { channel: NAME }),
  tearDown: () => uninstallTriggers(access, { channel: NAME }),
};
const pool = new pg.Pool({ connectionString: databaseUrl, max: 16 });
const walLevel = (await pool.query<{ wal_level: string }>('SHOW wal_level')).rows[0]?.wal_level;
const logical: Configuration = {
  name: 'logical',
  ...(walLevel !== 'logical' && { unavailable: `wal_level is ${walLevel}, not logical` }),
  setUp: () => installPublication(access, { tables: [USERS], publication: NAME }),
  // The feed's default, temporary slot: the server drops it with the connection, even when the bench dies.
  feed: () => new PgLogicalFeed({ connectionString: databaseUrl }, { publication: NAME }),
  tearDown: () => uninstallPublication(access, { publication: NAME }),
};
const feeds = [notify, logical];
const configurations = [none, notify, logical];

/** Runs `use` with the configuration set up and its feed listening, and takes both down whatever happens. */
async function withConfiguration<T>(configuration: Configuration, use: (feed: ClosableFeed | undefined) => Promise<T>): Promise<T> {
  let feed: ClosableFeed | undefined;
  try {
    await configuration.setUp();
    feed = configuration.feed();
    await feed?.ready?.();
    return await use(feed);
  } finally {
    await feed?.close();
    await configuration.tearDown();
  }
}

const UPDATE_NAME = `UPDATE ${USERS} SET name = $1 WHERE user_id = $2`;

interface Propagation {
  /** Commit → visible, from the start of each UPDATE's call, ascending. */
  readonly latencies: number[];
  /** The UPDATEs' calls alone, ascending: what of the latencies the writer's side took. */
  readonly commits: number[];
  /** Commits per second the writer reached. */
  readonly achieved: number;
  /** Changes not visible within VISIBLE_WITHIN_MS. */
  readonly unseen: number;
}

/** Numbers every UPDATE of the run: a value no table (nor an earlier configuration's run) can have shown before. */
let sequence = 0;

/**
 * Commits `perSecond` single-row UPDATEs of users `firstId` on, for RATE_SECONDS, each setting
 * its user's name to a value of its own, and measures until the table shows each value. The
 * table is checked when a refresh ends (its tracing channel), the only moment an eager table
 * changes: polling instead would keep a core busy, and this machine has two.
 */
async function commitToVisible(
  users: ReturnType<typeof usersTable>,
  writer: pg.Pool,
  perSecond: number,
  firstId: number,
): Promise<Propagation> {
  const count = perSecond * RATE_SECONDS;
  const pending = new Map<number, { value: string; started: number }>();
  const latencies: number[] = [];
  let allSeen = () => {};
  const seen = new Promise<void>((resolve) => {
    allSeen = resolve;
  });
  let sent = false;
  const check = () => {
    for (const [id, { value, started }] of pending) {
      if (users.peek(id)?.name !== value) continue;
      latencies.push(performance.now() - started);
      pending.delete(id);
    }
    if (sent && pending.size === 0) allSeen();
  };
  const refreshEnded = `tracing:${TRACING_CHANNELS.refresh}:asyncEnd`;
  subscribe(refreshEnded, check);
  try {
    const calls: Promise<unknown>[] = [];
    const commits: number[] = [];
    let lastCommit = 0;
    const began = performance.now();
    await paced(perSecond, count, (i) => {
      const id = firstId + i;
      const value = `feeds #${++sequence}`;
      const started = performance.now();
      pending.set(id, { value, started });
      calls.push(
        writer.query(UPDATE_NAME, [value, id]).then(() => {
          lastCommit = performance.now();
          commits.push(lastCommit - started);
        }),
      );
    });
    await Promise.all(calls);
    const achieved = (count / (lastCommit - began)) * 1000;
    sent = true;
    check();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([seen, new Promise((resolve) => (timer = setTimeout(resolve, VISIBLE_WITHIN_MS)))]);
    clearTimeout(timer);
    const ascending = (values: number[]) => values.sort((a, b) => a - b);
    return { latencies: ascending(latencies), commits: ascending(commits), achieved, unseen: pending.size };
  } finally {
    unsubscribe(refreshEnded, check);
  }
}

/** Where the writers' backends spend their time, sampled from pg_stat_activity. */
class WaitSampler {
  readonly #counts = new Map<string, number>();
  #samples = 0;

  /** Samples every `everyMs` until `until` settles. */
  async sample(monitor: pg.Client, until: Promise<unknown>, everyMs: number): Promise<void> {
    let done = false;
    void until.finally(() => (done = true));
    while (!done) {
      const { rows } = await monitor.query<{ state: string }>(
        `SELECT CASE WHEN state <> 'active' THEN 'client' ELSE coalesce(wait_event_type || ':' || wait_event, 'CPU') END AS state
         FROM pg_stat_activity WHERE application_name = $1`,
        [WRITER_APPLICATION],
      );
      for (const { state } of rows) this.#counts.set(state, (this.#counts.get(state) ?? 0) + 1);
      this.#samples += rows.length;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }

  /** The commonest states with their share of samples, e.g. `62% Lock:object, 20% IO:WALSync`. */
  top(count: number): string {
    return [...this.#counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([state, n]) => `${Math.round((100 * n) / this.#samples)}% ${state}`)
      .join(', ');
  }
}

/** Commits per second of WRITERS connections in a tight loop, each on rows of its own, in a thread of their own (see feeds.writers.ts). */
async function writersCommit(monitor: pg.Client, waits: WaitSampler): Promise<number> {
  const job: WritersJob = { databaseUrl, table: USERS, rows: N, writers: WRITERS, ms: WRITE_MS, applicationName: WRITER_APPLICATION };
  const worker = typescriptWorker(new URL('./feeds.writers.ts', import.meta.url), { workerData: job });
  const done = once(worker, 'message').then(([perSecond]) => perSecond as number);
  const [perSecond] = await Promise.all([done, waits.sample(monitor, done, 20)]);
  await worker.terminate();
  return perSecond;
}

/** Runs every step in turn, whatever became of those before (cleaning up after a failure), and throws the first error. */
async function everyStep(steps: readonly (() => Promise<unknown>)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) await step().catch((error: unknown) => errors.push(error));
  if (errors.length > 0) throw errors[0];
}

const rows: Row[] = [];
const monitor = new pg.Client({ connectionString: databaseUrl });
const began = performance.now();
try {
  // What an interrupted run left (triggers, a publication) would skew the baseline.
  for (const configuration of configurations) await configuration.tearDown();
  progress(`creating ${N.toLocaleString('en')} users`);
  await createData(access, N);
  await monitor.connect();

  const TARGET = 'commit → visible p99 ≤ 10 ms';
  // NOTIFY's rows are the baseline of the other feeds' at the same rate.
  const notifyLatencies = new Map<number, number[]>();
  for (const configuration of feeds) {
    if (configuration.unavailable !== undefined) {
      for (const perSecond of RATES) rows.push(notRun(`${configuration.name}: ${perSecond} commits/s`, TARGET, configuration.unavailable));
      continue;
    }
    progress(`commit → visible through ${configuration.name}`);
    await withConfiguration(configuration, async (feed) => {
      const users = usersTable(access);
      try {
        await users.load({ index: 'primaryKey', all: true });
        await users.watch(feed!, { tables: usersByKey, refresh: 'eager' });
        await users.sync();
        let firstId = 1;
        for (const perSecond of RATES) {
          const { latencies, commits, achieved, unseen } = await commitToVisible(users, pool, perSecond, firstId);
          firstId += perSecond * RATE_SECONDS;
          if (configuration === notify) notifyLatencies.set(perSecond, latencies);
          const baseline = configuration === notify ? undefined : notifyLatencies.get(perSecond);
          const p99 = percentile(latencies, 0.99);
          const reached = achieved < 0.95 * perSecond ? `the writer reached only ${rate(achieved)}` : `${rate(achieved)} reached`;
          const missed = unseen > 0 ? `; ${unseen} never visible within ${VISIBLE_WITHIN_MS / 1000} s` : '';
          rows.push({
            scenario: `${configuration.name}: ${perSecond} commits/s`,
            ours: `${p50p99(latencies)} (the commit itself p50 ${ms(percentile(commits, 0.5))}); ${reached}${missed}`,
            baseline: baseline === undefined ? '—' : `${p50p99(baseline)} (NOTIFY)`,
            ratio: baseline === undefined ? '' : `p99 ${times(p99 / percentile(baseline, 0.99))}`,
            target: TARGET,
            met: unseen === 0 && p99 <= 10,
          });
        }
      } finally {
        await users.close();
      }
    });
  }

  // The rounds go none, NOTIFY, logical, none, …: a machine that slows down midway slows all alike.
  const commitRates = new Map(configurations.map((configuration) => [configuration, [] as number[]]));
  const waits = new Map(configurations.map((configuration) => [configuration, new WaitSampler()]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const configuration of configurations) {
      if (configuration.unavailable !== undefined) continue;
      progress(`${WRITERS} writers, ${configuration.name}, round ${round} of ${ROUNDS}`);
      const perSecond = await withConfiguration(configuration, (feed) => {
        // Listening as a table would: a feed may leave what nobody takes unread.
        feed?.subscribe(() => undefined);
        return writersCommit(monitor, waits.get(configuration)!);
      });
      commitRates.get(configuration)!.push(perSecond);
    }
  }
  const baseline = median(commitRates.get(none)!);
  for (const configuration of configurations) {
    const scenario = `${WRITERS} writers' commits, ${configuration.name}`;
    if (configuration.unavailable !== undefined) {
      rows.push(notRun(scenario, '(for reference)', configuration.unavailable));
      continue;
    }
    const runs = commitRates.get(configuration)!;
    const perSecond = median(runs);
    rows.push({
      scenario,
      ours: `${rate(perSecond)} (${runs.map(rate).join(', ')}); writers: ${waits.get(configuration)!.top(2)}`,
      baseline: configuration === none ? '—' : `${rate(baseline)} (no feed)`,
      ratio: configuration === none ? '' : times(perSecond / baseline),
      target: '(for reference)',
      met: true,
    });
  }
} finally {
  await everyStep([
    () => monitor.end(),
    ...configurations.map((configuration) => () => configuration.tearDown()),
    () => access.execute({ sql: `DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE` }),
    () => access.close(),
    () => pool.end(),
  ]);
}

const seconds = (performance.now() - began) / 1000;
console.log(
  `\ntablecache feeds, ${N.toLocaleString('en')} users${quick ? ' (--quick)' : ''}, Node ${process.version}, ` +
    `${new Date().toISOString().slice(0, 10)}, ${seconds.toFixed(0)} s\n`,
);
printTable(rows);
