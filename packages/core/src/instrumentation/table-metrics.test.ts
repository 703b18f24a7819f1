import { afterEach, describe, expect, test } from 'vitest';
import { all, keys, user, usersTable } from '../table/users.fixture.js';
import { MemoryFeed } from '../testing/index.js';
import { InMemoryMetrics } from './in-memory-metrics.fixture.js';

const users = { table: 'users' };
let metrics: InMemoryMetrics;

function measuredTable(rows = [user(1), user(2), user(3)]) {
  metrics = new InMemoryMetrics();
  return usersTable(rows, { meterProvider: metrics.provider });
}

afterEach(() => metrics?.shutdown());

describe('a table measured through OpenTelemetry', () => {
  test('a load is counted with its rows and duration, and the records held are reported', async () => {
    const { table } = measuredTable();
    await table.load(all);
    const snapshot = await metrics.collect();
    expect(snapshot.value('tablecache.loads', { ...users, outcome: 'ok' })).toBe(1);
    expect(snapshot.value('tablecache.load.rows', users)).toBe(3);
    expect(snapshot.histogram('tablecache.load.duration.seconds', { ...users, outcome: 'ok' })?.count).toBe(1);
    expect(snapshot.value('tablecache.records', users)).toBe(3);
    expect(snapshot.value('tablecache.memory.bytes', users)).toBeGreaterThan(3 * 20);
  });

  test('a failed load is counted with the outcome error', async () => {
    const { table, db } = measuredTable();
    db.failNext(new Error('down'));
    await expect(table.load(all)).rejects.toThrow();
    const snapshot = await metrics.collect();
    expect(snapshot.value('tablecache.loads', { ...users, outcome: 'error' })).toBe(1);
    expect(snapshot.histogram('tablecache.load.duration.seconds', { ...users, outcome: 'error' })?.count).toBe(1);
  });

  test('invalidations are pending until a refresh, which is counted with the rows it wrote', async () => {
    const { table } = measuredTable();
    await table.load(all);
    table.invalidateRecords([keys(1, 2)]);
    expect((await metrics.collect()).value('tablecache.invalid.pending', users)).toBe(2);
    await table.refreshInvalid();
    const snapshot = await metrics.collect();
    expect(snapshot.value('tablecache.invalid.pending', users)).toBe(0);
    expect(snapshot.value('tablecache.refreshes', { ...users, operation: 'refresh', outcome: 'ok' })).toBe(1);
    expect(snapshot.value('tablecache.refresh.rows', { ...users, operation: 'refresh' })).toBe(2);
    expect(snapshot.histogram('tablecache.refresh.duration.seconds', { ...users, operation: 'refresh' })?.count).toBe(1);
  });

  test('a whole-table invalidation counts every record as pending', async () => {
    const { table } = measuredTable();
    const feed = new MemoryFeed();
    await table.watch(feed);
    await table.load(all);
    feed.emit({ type: 'gap', reason: 'test' });
    expect((await metrics.collect()).value('tablecache.invalid.pending', users)).toBe(3);
  });

  test('an adjust is counted as a refresh of operation adjust', async () => {
    const { table } = measuredTable();
    await table.load(keys(1));
    await table.adjust(keys(1, 2));
    const snapshot = await metrics.collect();
    expect(snapshot.value('tablecache.refreshes', { ...users, operation: 'adjust', outcome: 'ok' })).toBe(1);
    expect(snapshot.value('tablecache.refresh.rows', { ...users, operation: 'adjust' })).toBe(1);
  });

  test('queries are counted by reason', async () => {
    const { table } = measuredTable();
    await table.load(keys(1));
    await table.getRecords(keys(3)); // not covered: the database answers
    table.invalidateRecords([keys(1)]);
    await table.refreshInvalid();
    await table.adjust(keys(1, 2));
    const snapshot = await metrics.collect();
    for (const reason of ['load', 'read', 'refresh', 'adjust']) {
      expect(snapshot.value('tablecache.queries', { ...users, reason }), reason).toBe(1);
    }
  });

  test('reads are observed by where they were served from', async () => {
    const { table } = measuredTable();
    await table.load(keys(1, 2));
    table.peek(1);
    await table.getFirstRecord(keys(2));
    await table.getRecords(keys(3));
    const snapshot = await metrics.collect();
    expect(snapshot.value('tablecache.reads', { ...users, source: 'memory' })).toBe(2);
    expect(snapshot.value('tablecache.reads', { ...users, source: 'database' })).toBe(1);
  });

  test('a change with its commit time is measured as commit-to-visible lag once applied', async () => {
    const { table } = measuredTable();
    const feed = new MemoryFeed();
    await table.watch(feed, { tables: { users: (change) => [keys(change.new?.id as number)] } });
    await table.load(all);
    const change = { op: 'update', schema: 'public', table: 'users', old: { id: 1 }, new: { id: 1 } } as const;
    feed.emit({ type: 'changes', changes: [change], committedAt: Date.now() - 250 });
    const lag = (await metrics.collect()).histogram('tablecache.change.lag.seconds', users);
    expect(lag?.count).toBe(1);
    expect(lag?.sum).toBeGreaterThanOrEqual(0.25);
    expect(lag?.sum).toBeLessThan(60);
  });

  test('a change applied by an async mapping is measured when the mapping has invalidated', async () => {
    const { table } = measuredTable();
    const feed = new MemoryFeed();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const mapping = async () => {
      await released;
      return [keys(1)];
    };
    await table.watch(feed, { tables: { users: mapping } });
    await table.load(all);
    feed.emit({ type: 'changes', changes: [{ op: 'delete', schema: 'public', table: 'users', old: { id: 1 } }], committedAt: Date.now() });
    expect((await metrics.collect()).histogram('tablecache.change.lag.seconds', users)).toBeUndefined();
    release();
    await table.sync();
    expect((await metrics.collect()).histogram('tablecache.change.lag.seconds', users)?.count).toBe(1);
  });

  test('changes to tables the watch does not map are not measured', async () => {
    const { table } = measuredTable();
    const feed = new MemoryFeed();
    await table.watch(feed, { tables: { users: true } });
    await table.load(all);
    feed.emit({ type: 'changes', changes: [{ op: 'delete', schema: 'public', table: 'orders', old: { id: 1 } }], committedAt: Date.now() });
    expect((await metrics.collect()).histogram('tablecache.change.lag.seconds', users)).toBeUndefined();
  });

  test('a closed table stops reporting its gauges', async () => {
    const { table } = measuredTable();
    await table.load(all);
    await table.close();
    const snapshot = await metrics.collect();
    expect(snapshot.value('tablecache.records', users)).toBeUndefined();
    expect(snapshot.value('tablecache.reads', users)).toBeUndefined();
  });

  test('with meterProvider false nothing is measured', async () => {
    metrics = new InMemoryMetrics();
    const { table } = usersTable(undefined, { meterProvider: false });
    await table.load(all);
    expect((await metrics.collect()).names).toEqual([]);
  });
});
