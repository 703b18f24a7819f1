import { type TracingChannel, tracingChannel } from 'node:diagnostics_channel';

/**
 * The `node:diagnostics_channel` tracing channels tablecache publishes, the way undici, pg and
 * fastify publish theirs. Subscribe with `diagnostics_channel.tracingChannel(name).subscribe({
 * start, end, asyncStart, asyncEnd, error })`; each event gets the operation's `TraceContext`
 * (the same object throughout one operation). Nothing is published, and nothing allocated,
 * while no one subscribes.
 */
export const TRACING_CHANNELS = {
  /** A table's load, from the first query to the commit. */
  load: 'tablecache:load',
  /** A refresh of what is invalid (eager in the background, or started by a read). */
  refresh: 'tablecache:refresh',
  /** An adjust: what leaves coverage expires, what enters is loaded. */
  adjust: 'tablecache:adjust',
  /** A read memory could not serve, answered by the database. */
  dbRead: 'tablecache:db-read',
  /** `table.sync()`: the read-your-writes barrier. */
  sync: 'tablecache:sync',
} as const;

export type TracedOperation = keyof typeof TRACING_CHANNELS;

/** What each event of a traced operation carries; Node adds `result` or `error` when it settles. */
export interface TraceContext {
  readonly operation: TracedOperation;
  /** The table's name. */
  readonly table: string;
  /** The spec of a load, an adjust or a read. */
  readonly spec?: unknown;
  /** Rows written (load, refresh, adjust) or read from the database, set before the operation ends. */
  rows?: number;
  /** The value the operation resolved with. */
  result?: unknown;
  /** The error it rejected with. */
  error?: unknown;
}

const channels = Object.fromEntries(
  Object.entries(TRACING_CHANNELS).map(([operation, name]) => [operation, tracingChannel<TraceContext, TraceContext>(name)]),
) as Record<TracedOperation, TracingChannel<TraceContext, TraceContext>>;

/** Runs `operation` inside its tracing channel when someone subscribes; otherwise just runs it. */
export function traced<T>(context: TraceContext, operation: () => Promise<T>): Promise<T> {
  const channel = channels[context.operation];
  return channel.hasSubscribers ? channel.tracePromise(operation, context) : operation();
}

/** Whether anyone subscribes to an operation's channel: a caller skips building a context otherwise. */
export function isTraced(operation: TracedOperation): boolean {
  return channels[operation].hasSubscribers;
}

/**
 * `items` inside its tracing channel when someone subscribes: `start` when iteration begins,
 * `error` if it throws, `asyncEnd` when it ends (also when the consumer stops early), with
 * `rows` counted. For reads streamed to their caller, which no promise wraps.
 */
export function tracedItems<T>(context: TraceContext, items: AsyncIterable<T>): AsyncIterable<T> {
  const channel = channels[context.operation];
  return channel.hasSubscribers ? traceItems(channel, context, items) : items;
}

async function* traceItems<T>(
  channel: TracingChannel<TraceContext, TraceContext>,
  context: TraceContext,
  items: AsyncIterable<T>,
): AsyncGenerator<T, void, undefined> {
  channel.start.publish(context);
  channel.end.publish(context);
  let rows = 0;
  try {
    for await (const item of items) {
      rows++;
      yield item;
    }
  } catch (error) {
    context.error = error;
    channel.error.publish(context);
    throw error;
  } finally {
    context.rows = rows;
    channel.asyncStart.publish(context);
    channel.asyncEnd.publish(context);
  }
}
