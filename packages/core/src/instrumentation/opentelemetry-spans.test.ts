import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, test } from 'vitest';
import { all, keys, usersTable } from '../table/users.fixture.js';
import { traceWithOpenTelemetry } from './opentelemetry-spans.js';

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
let stop = () => {};

afterEach(() => {
  stop();
  exporter.reset();
});

describe('OpenTelemetry spans from the tracing channels', () => {
  test('a load becomes a span named for it, with the table and the rows', async () => {
    stop = traceWithOpenTelemetry(provider.getTracer('test'));
    const { table } = usersTable();
    await table.load(all);
    await provider.forceFlush();
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe('tablecache load');
    expect(span?.attributes).toMatchObject({ 'tablecache.table': 'users', 'tablecache.operation': 'load', 'tablecache.rows': 3 });
  });

  test('a failed refresh ends its span with an error status and the exception', async () => {
    stop = traceWithOpenTelemetry(provider.getTracer('test'));
    const { table, db } = usersTable();
    await table.load(all);
    table.invalidateRecords([keys(1)]);
    db.failNext(new Error('the database is down'));
    await expect(table.refreshInvalid()).rejects.toThrow();
    await provider.forceFlush();
    const refresh = exporter.getFinishedSpans().find((span) => span.name === 'tablecache refresh');
    expect(refresh?.status).toMatchObject({ code: 2 });
    expect(refresh?.events.map((event) => event.name)).toContain('exception');
  });

  test('no span is made after the function returned is called', async () => {
    traceWithOpenTelemetry(provider.getTracer('test'))();
    const { table } = usersTable();
    await table.load(all);
    await provider.forceFlush();
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
