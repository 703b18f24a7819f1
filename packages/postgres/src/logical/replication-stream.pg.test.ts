import { type OpenBackend, testBackends } from '@tablecache/testing';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { isLocalBackend } from '../notify/feed.fixture.js';
import {
  PublicationMissingError,
  ReplicationConnectionError,
  ReplicationPermissionError,
  SlotInUseError,
  SlotMissingError,
} from './logical-errors.js';
import { type PgoutputMessage, UNCHANGED_TOAST } from './pgoutput.js';
import { REPLICATION_APPLICATION_PREFIX, ReplicationStream, type ReplicationStreamOptions } from './replication-stream.js';
import { dropReplicationSlot, readSlotLag } from './slots.js';
import { recordStream, testSlotName } from './stream.fixture.js';

const [server] = testBackends();
const PUBLICATION = 'tablecache_test_pub';

/** Logical replication needs wal_level = logical: on a server without it, these tests are skipped (the cluster tests cover the error). */
async function walLevel(url: string | undefined): Promise<string | undefined> {
  if (url === undefined) return undefined;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ wal_level: string }>('SHOW wal_level')).rows[0]?.wal_level;
  } finally {
    await client.end();
  }
}

const database0 = server?.available ? await server.open() : undefined;
const logical =
  database0 !== undefined && (await walLevel((database0.connection as { connectionString: string }).connectionString)) === 'logical';
await database0?.close();

describe.skipIf(!logical)('ReplicationStream on a real server', () => {
  let database: OpenBackend;
  let url: string;
  /** The test's own connection: it changes data and inspects slots. */
  let admin: pg.Client;
  const streams: ReplicationStream[] = [];
  const slots: string[] = [];

  beforeEach(async () => {
    database = await server!.open();
    url = (database.connection as { connectionString: string }).connectionString;
    await database.exec(`CREATE TABLE items (id integer PRIMARY KEY, label text, note text);
      CREATE PUBLICATION ${PUBLICATION} FOR TABLE items`);
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
  });

  afterEach(async () => {
    for (const stream of streams.splice(0)) await stream.close();
    // A database with logical slots cannot be dropped: durable slots go first.
    // A closed stream's walsender may still hold its slot for a moment.
    for (const slot of slots.splice(0)) await vi.waitFor(() => dropReplicationSlot(admin, slot));
    await admin?.end();
    await database?.close();
  });

  async function open(options: Partial<ReplicationStreamOptions> & Pick<ReplicationStreamOptions, 'handlers'>): Promise<ReplicationStream> {
    const slot = options.slot ?? testSlotName();
    if ((options.slotMode ?? 'temporary') !== 'temporary' && !slots.includes(slot)) slots.push(slot);
    const stream = await ReplicationStream.open({
      connectionString: url,
      slot,
      slotMode: 'temporary',
      publications: [PUBLICATION],
      statusIntervalMs: 200,
      timeoutMs: 5000,
      ...options,
    });
    streams.push(stream);
    return stream;
  }

  async function slotExists(slot: string): Promise<boolean> {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    return rowCount === 1;
  }

  async function walsenderPid(slot: string): Promise<number> {
    const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_replication WHERE application_name = $1', [
      REPLICATION_APPLICATION_PREFIX + slot,
    ]);
    return rows[0]!.pid;
  }

  /** The data changes of the messages: tag and values, without positions and times. */
  function changes(messages: PgoutputMessage[]): unknown[] {
    return messages.flatMap((m): unknown[] => {
      switch (m.tag) {
        case 'insert':
          return [['insert', m.new]];
        case 'update':
          return [['update', m.key, m.old, m.new]];
        case 'delete':
          return [['delete', m.key, m.old]];
        case 'truncate':
          return [['truncate', m.relationIds.length, m.cascade, m.restartIdentity]];
        case 'message':
          return [['message', m.transactional, m.prefix, m.content.toString()]];
        default:
          return [];
      }
    });
  }

  test('insert, update (key kept and changed), delete and truncate arrive decoded, after their relation, with key flags', async () => {
    const recorded = recordStream();
    const stream = await open({ handlers: recorded.handlers });
    expect(stream.slotCreated).toBe(true);
    expect(stream.consistentPoint).toBeGreaterThan(0n);
    // A note that does not compress is stored out of line (TOASTed): updates that keep it do not send it.
    const note = (await admin.query<{ note: string }>(`SELECT string_agg(md5(g::text), '') AS note FROM generate_series(1, 3000) g`))
      .rows[0]!.note;
    await admin.query(`INSERT INTO items VALUES (1, 'a', $1)`, [note]);
    await admin.query(`UPDATE items SET label = 'b' WHERE id = 1`);
    await admin.query('UPDATE items SET id = 2 WHERE id = 1');
    await admin.query('DELETE FROM items WHERE id = 2');
    await admin.query('TRUNCATE items');
    await vi.waitFor(() => expect(recorded.messages().filter((m) => m.tag === 'commit')).toHaveLength(5));
    const messages = recorded.messages();
    const relation = messages.find((m) => m.tag === 'relation');
    expect(messages.findIndex((m) => m.tag === 'relation')).toBeLessThan(messages.findIndex((m) => m.tag === 'insert'));
    expect(relation).toMatchObject({
      schema: 'public',
      name: 'items',
      replicaIdentity: 'default',
      columns: [
        { name: 'id', typeId: 23, typeMod: -1, isKey: true },
        { name: 'label', typeId: 25, isKey: false },
        { name: 'note', typeId: 25, isKey: false },
      ],
    });
    const changed = messages.filter((m) => m.tag === 'insert' || m.tag === 'update' || m.tag === 'delete');
    for (const m of changed) expect(m).toMatchObject({ relationId: relation?.tag === 'relation' ? relation.relationId : -1 });
    expect(changes(messages)).toEqual([
      ['insert', ['1', 'a', note]],
      ['update', undefined, undefined, ['1', 'b', UNCHANGED_TOAST]],
      ['update', ['1', null, null], undefined, ['2', 'b', UNCHANGED_TOAST]],
      ['delete', ['2', null, null], undefined],
      ['truncate', 1, false, false],
    ]);
    // Every transaction is begin … commit, and positions only grow (relation messages are outside the WAL: 0).
    expect(messages.map((m) => m.tag).filter((tag) => tag === 'begin' || tag === 'commit')).toEqual(
      Array(5).fill(['begin', 'commit']).flat(),
    );
    const positions = recorded.events.flatMap((e) => (e.kind === 'message' && e.message.tag !== 'relation' ? [e.position.lsn] : []));
    expect(recorded.events.flatMap((e) => (e.kind === 'message' && e.message.tag === 'relation' ? [e.position.lsn] : []))).toEqual([
      0n,
      0n,
    ]);
    expect([...positions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(positions);
  });

  test('a transactional logical message arrives inside its transaction, in commit order', async () => {
    const recorded = recordStream();
    await open({ handlers: recorded.handlers });
    const first = new pg.Client({ connectionString: url });
    await first.connect();
    try {
      // The first transaction to start commits last: the stream follows commits.
      await first.query('BEGIN');
      await first.query(`INSERT INTO items VALUES (10, 'first', NULL)`);
      await first.query(`SELECT pg_logical_emit_message(true, 'tablecache', 'x')`);
      await admin.query(`INSERT INTO items VALUES (11, 'second', NULL)`);
      await first.query('COMMIT');
      await admin.query(`SELECT pg_logical_emit_message(true, 'tablecache', 'rolled back') FROM (SELECT 1) s WHERE false`);
    } finally {
      await first.end();
    }
    await vi.waitFor(() => expect(recorded.messages().filter((m) => m.tag === 'commit')).toHaveLength(2));
    expect(changes(recorded.messages())).toEqual([
      ['insert', ['11', 'second', null]],
      ['insert', ['10', 'first', null]],
      ['message', true, 'tablecache', 'x'],
    ]);
    const tags = recorded.messages().map((m) => m.tag);
    expect(tags.indexOf('message')).toBeLessThan(tags.lastIndexOf('commit'));
  });

  test('a temporary slot disappears when the stream closes', async () => {
    const slot = testSlotName();
    const stream = await open({ slot, handlers: recordStream().handlers });
    expect(await slotExists(slot)).toBe(true);
    await stream.close();
    await vi.waitFor(async () => expect(await slotExists(slot)).toBe(false));
  });

  test('a durable slot resumes after close from the acknowledged position: what was committed meanwhile arrives, nothing twice', async () => {
    const slot = testSlotName();
    const first = recordStream();
    const stream = await open({ slot, slotMode: 'create-if-missing', handlers: first.handlers });
    expect(stream.slotCreated).toBe(true);
    await admin.query(`INSERT INTO items VALUES (1, 'acknowledged', NULL)`);
    await admin.query(`INSERT INTO items VALUES (2, 'not acknowledged', NULL)`);
    await vi.waitFor(() => expect(first.messages().filter((m) => m.tag === 'commit')).toHaveLength(2));
    // The first transaction is applied: its commit's position is acknowledged; the second is not.
    const commit = first.events.find((e) => e.kind === 'message' && e.message.tag === 'commit');
    stream.acknowledge(commit?.kind === 'message' ? commit.position.lsn : 0n);
    await stream.close();
    await admin.query(`INSERT INTO items VALUES (3, 'while closed', NULL)`);

    const second = recordStream();
    const resumed = await open({ slot, slotMode: 'existing', handlers: second.handlers });
    expect(resumed.slotCreated).toBe(false);
    await vi.waitFor(() => expect(second.messages().filter((m) => m.tag === 'commit')).toHaveLength(2));
    expect(changes(second.messages())).toEqual([
      ['insert', ['2', 'not acknowledged', null]],
      ['insert', ['3', 'while closed', null]],
    ]);
    // The slot reports the acknowledged position and that it is read.
    const lag = await readSlotLag(url, slot);
    expect(lag).toMatchObject({ active: true, confirmedFlush: commit?.kind === 'message' ? commit.position.lsn : -1n });
    expect(lag!.lagBytes).toBeGreaterThan(0n);
  });

  test('create-if-missing finds the slot that exists; a slot streamed by another connection is SlotInUseError', async () => {
    const slot = testSlotName();
    await open({ slot, slotMode: 'create-if-missing', handlers: recordStream().handlers });
    const error = await open({ slot, slotMode: 'create-if-missing', handlers: recordStream().handlers }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SlotInUseError);
    expect(String(error)).toMatch(/in use by another connection.*pg_terminate_backend/);
  });

  test('resuming a durable slot that does not exist is SlotMissingError; a missing publication is PublicationMissingError', async () => {
    const missingSlot = open({ slotMode: 'existing', handlers: recordStream().handlers });
    await expect(missingSlot).rejects.toThrow(SlotMissingError);
    await expect(missingSlot).rejects.toThrow(/create-if-missing/);
    const missingPublication = open({ publications: [PUBLICATION, 'no_such_pub'], handlers: recordStream().handlers });
    await expect(missingPublication).rejects.toThrow(PublicationMissingError);
    await expect(missingPublication).rejects.toThrow(/'no_such_pub' does not exist.*CREATE PUBLICATION "no_such_pub"/);
  });

  test('a role without REPLICATION gets ReplicationPermissionError naming ALTER ROLE', async () => {
    const role = `tablecache_norepl_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    try {
      const asRole = new URL(url);
      asRole.username = role;
      const opened = open({ connectionString: asRole.toString(), handlers: recordStream().handlers });
      await expect(opened).rejects.toThrow(ReplicationPermissionError);
      await expect(opened).rejects.toThrow(`ALTER ROLE "${role}" REPLICATION`);
    } finally {
      await admin.query(`DROP ROLE ${role}`);
    }
  });

  test('pg_terminate_backend of the walsender is reported lost, once', async () => {
    const slot = testSlotName();
    const recorded = recordStream();
    await open({ slot, handlers: recorded.handlers });
    await admin.query('SELECT pg_terminate_backend($1)', [await walsenderPid(slot)]);
    await vi.waitFor(() => expect(recorded.losses()).toHaveLength(1));
    await new Promise((resolve) => setTimeout(resolve, 500)); // later events of the same loss (the socket's end) stay unreported
    expect(recorded.losses()).toHaveLength(1);
    expect(recorded.losses()[0]).toBeInstanceOf(ReplicationConnectionError);
    expect(recorded.losses()[0]!.message).toMatch(/lost its connection: terminating connection/);
  });

  test('a frozen walsender (its process stopped) is reported lost after timeoutMs of silence', async (context) => {
    const slot = testSlotName();
    const recorded = recordStream();
    await open({ slot, handlers: recorded.handlers, statusIntervalMs: 100, timeoutMs: 600 });
    const pid = await walsenderPid(slot);
    if (!isLocalBackend(pid)) context.skip('the test server is not on this machine: its walsender cannot be stopped');
    process.kill(pid, 'SIGSTOP');
    try {
      await vi.waitFor(() => expect(recorded.losses()).toHaveLength(1), { timeout: 5000 });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(recorded.losses()[0]!.message).toMatch(/nothing from the server within 600 ms/);
  });

  test('dropReplicationSlot drops a slot, is harmless when it is absent, and refuses one in use', async () => {
    const slot = testSlotName();
    const stream = await open({ slot, slotMode: 'create-if-missing', handlers: recordStream().handlers });
    await expect(dropReplicationSlot(url, slot)).rejects.toThrow(SlotInUseError);
    await stream.close();
    await vi.waitFor(async () => expect((await readSlotLag(admin, slot))?.active).toBe(false));
    await dropReplicationSlot(url, slot);
    expect(await slotExists(slot)).toBe(false);
    await dropReplicationSlot(url, slot);
    expect(await readSlotLag(url, slot)).toBeUndefined();
  });
});
