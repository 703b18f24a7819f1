import { tracingChannel } from 'node:diagnostics_channel';
import { afterEach, describe, expect, test } from 'vitest';
import { all, keys, usersTable } from '../table/users.fixture.js';
import { MemoryFeed } from '../testing/index.js';
import { TRACING_CHANNELS, type TraceContext, type TracedOperation } from './tracing.js';

type Event = readonly [string, TracedOperation, string, number | undefined];

/** Subscribes to every tablecache tracing channel; `events` lists what arrived, as [event, operation, table, rows]. */
function recordTraces() {
  const events: Event[] = [];
  const stops = Object.values(TRACING_CHANNELS).map((name) => {
    const channel = tracingChannel<TraceContext, TraceContext>(name);
    const on = (event: string) => (context: TraceContext) => events.push([event, context.operation, context.table, context.rows]);
    const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') };
    channel.subscribe(handlers);
    return () => channel.unsubscribe(handlers);
  });
  return {
    events,
    stop: () => {
      for (const stop of stops) stop();
    },
  };
}

let stop = () => {};
afterEach(() => stop());

describe('tracing channels', () => {
  test('a load publishes start and asyncEnd with the table and the rows it wrote', async () => {
    const traces = recordTraces();
    stop = traces.stop;
    const { table } = usersTable();
    await table.load(all);
    expect(traces.events.filter(([event]) => event === 'start' || event === 'asyncEnd')).toEqual([
      ['start', 'load', 'users', undefined],
      ['asyncEnd', 'load', 'users', 3],
    ]);
  });

  test('a refresh, an adjust, a database read and a sync each publish on their channel', async () => {
    const traces = recordTraces();
    stop = traces.stop;
    const { table } = usersTable();
    await table.watch(new MemoryFeed());
    await table.load(keys(1));
    table.invalidateRecords([keys(1)]);
    await table.refreshInvalid();
    await table.adjust(keys(1, 2));
    await table.getRecords(keys(3));
    await table.sync();
    const ended = traces.events.filter(([event]) => event === 'asyncEnd').map(([, operation, , rows]) => [operation, rows]);
    expect(ended).toEqual([
      ['load', 1],
      ['refresh', 1],
      ['adjust', 1],
      ['dbRead', 1],
      ['sync', undefined],
    ]);
  });

  test('a failed refresh publishes error before asyncEnd', async () => {
    const traces = recordTraces();
    stop = traces.stop;
    const { table, db } = usersTable();
    await table.load(all);
    table.invalidateRecords([keys(1)]);
    db.failNext(new Error('down'));
    await expect(table.refreshInvalid()).rejects.toThrow();
    const refresh = traces.events.filter(([, operation]) => operation === 'refresh').map(([event]) => event);
    expect(refresh).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
  });

  test('a streamed database read that the caller stops early still ends its trace', async () => {
    const traces = recordTraces();
    stop = traces.stop;
    const { table } = usersTable();
    await table.load(keys(1));
    for await (const record of table.streamRecords(keys(2, 3))) {
      expect(record.id).toBe(2);
      break;
    }
    const read = traces.events.filter(([, operation]) => operation === 'dbRead').map(([event, , , rows]) => [event, rows]);
    expect(read.at(-1)).toEqual(['asyncEnd', 1]);
  });
});
