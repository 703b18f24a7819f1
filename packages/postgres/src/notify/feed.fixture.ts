import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import type { ChangeFeedEvent, Logger } from '@tablecache/core';
import type { BackendConnection } from '@tablecache/testing';
import pg from 'pg';
import { LISTENER_APPLICATION_PREFIX } from './pg-listener.js';

/**
 * Faults on a test database's listening connection (or a logical feed's replication connection:
 * whatever connections carry the application name prefix given), from an administrator's
 * connection to the server. Every statement names the test database: other tests share the server.
 */
export class ListenerFaults {
  readonly #admin: pg.Client;
  readonly #prefix: string;
  readonly database: string;

  private constructor(admin: pg.Client, database: string, prefix: string) {
    this.#admin = admin;
    this.database = database;
    this.#prefix = prefix;
  }

  static async open(connectionString: string, prefix = LISTENER_APPLICATION_PREFIX): Promise<ListenerFaults> {
    const url = new URL(connectionString);
    const database = decodeURIComponent(url.pathname.slice(1));
    url.pathname = '/postgres';
    const admin = new pg.Client({ connectionString: url.toString() });
    admin.on('error', () => undefined); // reported by its queries
    await admin.connect();
    return new ListenerFaults(admin, database, prefix);
  }

  /** The backend pids of the listeners connected to the test database. */
  async listenerPids(): Promise<number[]> {
    const { rows } = await this.#admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND starts_with(application_name, $2) ORDER BY pid',
      [this.database, this.#prefix],
    );
    return rows.map((row) => row.pid);
  }

  /** The one listener's pid, once the backends of closed feeds are gone. */
  async listenerPid(): Promise<number> {
    for (let tries = 0; tries < 100; tries++) {
      const pids = await this.listenerPids();
      if (pids.length === 1) return pids[0]!;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`expected one listener on ${this.database}, found ${(await this.listenerPids()).length}`);
  }

  /** Terminates the test database's listeners; returns how many. */
  async terminateListeners(): Promise<number> {
    const { rows } = await this.#admin.query<{ n: number }>(
      'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND starts_with(application_name, $2)',
      [this.database, this.#prefix],
    );
    return rows[0]!.n;
  }

  /** Refuses (or allows again) every new connection to the test database, superusers' included. */
  async allowConnections(allow: boolean): Promise<void> {
    const { rows } = await this.#admin.query<{ sql: string }>('SELECT format($1::text, $2::text) AS sql', [
      `ALTER DATABASE %I WITH ALLOW_CONNECTIONS ${allow}`,
      this.database,
    ]);
    await this.#admin.query(rows[0]!.sql);
  }

  async close(): Promise<void> {
    await this.#admin.end();
  }
}

/**
 * Whether `pid` is a Postgres backend on this machine (the test server is local), so a signal
 * can freeze it: a server in a container or elsewhere has no such process here.
 */
export function isLocalBackend(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
  } catch {
    return false;
  }
}

/** A feed's events as they arrive, with when. */
export function recordEvents(feed: { subscribe(listener: (event: ChangeFeedEvent) => void): () => void }) {
  const events: { event: ChangeFeedEvent; at: number }[] = [];
  feed.subscribe((event) => events.push({ event, at: Date.now() }));
  return {
    events,
    types: () => events.map(({ event }) => event.type),
    at: (type: ChangeFeedEvent['type']) => events.find(({ event }) => event.type === type)?.at,
  };
}

/** A logger that keeps its lines, by level. */
export function recordingLogger(): Logger & { lines: { level: keyof Logger; line: string }[]; at(level: keyof Logger): string[] } {
  const lines: { level: keyof Logger; line: string }[] = [];
  return {
    lines,
    at: (level) => lines.filter((entry) => entry.level === level).map((entry) => entry.line),
    error: (line) => lines.push({ level: 'error', line }),
    warn: (line) => lines.push({ level: 'warn', line }),
    info: (line) => lines.push({ level: 'info', line }),
    debug: (line) => lines.push({ level: 'debug', line }),
  };
}

/** A port nothing listens on: one the system handed out and took back. */
export async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * Counts the sync markers on the default channel, from a connection of its own (on PGlite, its
 * one session, where a feed must be listening). `total()` waits for a marker of its own, sent
 * after everything counted so far: Postgres delivers in commit order, so every marker sent
 * before the call is in the total. Feeds ignore markers that are not theirs.
 */
export async function countMarkers(connection: BackendConnection) {
  const sentinel = JSON.stringify({ v: 1, marker: 'countMarkers:total' });
  let count = 0;
  let done: (() => void) | undefined;
  const seen = (payload: string | undefined) => {
    if (payload === sentinel) done?.();
    else if (payload?.includes('"marker"')) count++;
  };
  const total = async (notify: () => Promise<unknown>): Promise<number> => {
    const counted = new Promise<void>((resolve) => {
      done = resolve;
    });
    await notify();
    await counted;
    return count;
  };
  if ('pglite' in connection) {
    const { pglite } = connection;
    const stop = pglite.onNotification((channel, payload) => channel === 'tablecache' && seen(payload));
    return { total: () => total(() => pglite.query("SELECT pg_notify('tablecache', $1)", [sentinel])), stop: async () => stop() };
  }
  const client = new pg.Client({ connectionString: connection.connectionString });
  await client.connect();
  client.on('notification', (message) => seen(message.payload));
  await client.query('LISTEN tablecache');
  return { total: () => total(() => client.query("SELECT pg_notify('tablecache', $1)", [sentinel])), stop: () => client.end() };
}
