import { randomUUID } from 'node:crypto';
import { type Change, type ChangeFeedEvent, type EncodedChange, isEncodedChange } from '@tablecache/core';
import type { OpenBackend } from '@tablecache/testing';
import pg from 'pg';
import { markerPayload, parsePayload } from '../notify/payload.js';
import { PgNotifyFeed } from '../notify/pg-notify-feed.js';

/** A change as tests compare it: keys as text, whether the feed decoded them or not. */
export interface ChangeSummary {
  readonly op: string;
  readonly schema: string;
  readonly table: string;
  readonly old?: readonly string[];
  readonly new?: readonly string[];
}

export function summarize(change: Change | EncodedChange): ChangeSummary {
  const texts = (key: readonly string[] | Change['old']) =>
    key === undefined ? undefined : Array.isArray(key) ? key : Object.values(key).map(String);
  const old = texts(change.old);
  const current = isEncodedChange(change) ? change.new : texts(change.new);
  return {
    op: change.op,
    schema: change.schema,
    table: change.table,
    ...(old === undefined ? {} : { old }),
    ...(current === undefined ? {} : { new: current }),
  };
}

/** A `PgNotifyFeed` that records every event. */
export async function recordingFeed(backend: OpenBackend, channel?: string) {
  const feed = new PgNotifyFeed(backend.connection, channel === undefined ? {} : { channel });
  const events: ChangeFeedEvent[] = [];
  feed.subscribe((event) => events.push(event));
  await feed.ready();
  const changes = () => events.flatMap((event) => (event.type === 'changes' ? event.changes.map(summarize) : []));
  return { feed, events, changes };
}

/**
 * Records the raw payloads on a channel (no feed in between), read with `parsePayload`, so tests
 * see key values as the triggers wrote them.
 */
export async function recordPayloads(backend: OpenBackend, channel = 'tablecache') {
  const texts: string[] = [];
  const waiting = new Map<string, () => void>();
  const receive = (text: string) => {
    const release = waiting.get(text);
    if (release === undefined) texts.push(text);
    else release();
  };
  let stop: () => Promise<void>;
  const [row] = await backend.exec<{ listen: string }>('SELECT format($1::text, $2::text) AS listen', ['LISTEN %I', channel]);
  const listen = row!.listen;
  if ('pglite' in backend.connection) {
    const { pglite } = backend.connection;
    const unsubscribe = pglite.onNotification((name, payload) => {
      if (name === channel) receive(payload);
    });
    await pglite.exec(listen);
    stop = async () => unsubscribe();
  } else {
    const client = new pg.Client({ connectionString: backend.connection.connectionString });
    await client.connect();
    client.on('notification', (message) => {
      if (message.channel === channel) receive(message.payload ?? '');
    });
    await client.query(listen);
    stop = () => client.end();
  }
  return {
    texts,
    /** The changes received so far, keys as text. */
    changes: () => texts.map((text) => parsePayload(text)).flatMap((payload) => (payload.kind === 'changes' ? payload.changes : [])),
    /** Resolves once everything committed before the call has arrived. */
    async sync() {
      const marker = markerPayload(randomUUID());
      const arrived = new Promise<void>((resolve) => waiting.set(marker, resolve));
      await backend.exec('SELECT pg_notify($1, $2)', [channel, marker]);
      await arrived;
    },
    close: () => stop(),
  };
}
