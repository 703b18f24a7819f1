import { tracingChannel } from 'node:diagnostics_channel';
import { InvalidOptionsError } from '../errors/errors.js';
import { INSTRUMENTATION_SCOPE, openTelemetryApi } from './instruments.js';
import type { SpanLike, TracerLike } from './opentelemetry-shapes.js';
import { TRACING_CHANNELS, type TraceContext, type TracedOperation } from './tracing.js';

/** OpenTelemetry's `SpanStatusCode.ERROR` and `SpanKind.INTERNAL` (the api is an optional peer: not imported). */
const SPAN_STATUS_ERROR = 2;
const SPAN_KIND_INTERNAL = 0;

/**
 * Turns tablecache's tracing channels into OpenTelemetry spans: `tablecache load`,
 * `tablecache refresh`, `tablecache adjust`, `tablecache db-read`, `tablecache sync`, each with
 * the table's name (`tablecache.table`) and, when known, the rows it wrote or read
 * (`tablecache.rows`); a failure sets the span's status to error and records the exception.
 * A span's parent is the span active where the operation started. Uses `tracer`, or the global
 * tracer of `@opentelemetry/api` (which must then be installed). Returns the function that stops it.
 */
export function traceWithOpenTelemetry(tracer?: TracerLike): () => void {
  const spansFrom = tracer ?? openTelemetryApi()?.trace.getTracer(INSTRUMENTATION_SCOPE);
  if (spansFrom === undefined) {
    throw new InvalidOptionsError('traceWithOpenTelemetry needs a tracer, or @opentelemetry/api installed for its global one');
  }
  const spans = new WeakMap<TraceContext, SpanLike>();
  const unsubscribes = (Object.entries(TRACING_CHANNELS) as [TracedOperation, string][]).map(([operation, name]) => {
    const channel = tracingChannel<TraceContext, TraceContext>(name);
    const handlers = {
      start(context: TraceContext) {
        spans.set(
          context,
          spansFrom.startSpan(`tablecache ${name.slice('tablecache:'.length)}`, {
            kind: SPAN_KIND_INTERNAL,
            attributes: { 'tablecache.table': context.table, 'tablecache.operation': operation },
          }),
        );
      },
      end() {},
      asyncStart() {},
      error(context: TraceContext) {
        const span = spans.get(context);
        if (span === undefined) return;
        const { error } = context;
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SPAN_STATUS_ERROR, message: error instanceof Error ? error.message : String(error) });
      },
      asyncEnd(context: TraceContext) {
        const span = spans.get(context);
        if (span === undefined) return;
        spans.delete(context);
        if (context.rows !== undefined) span.setAttribute('tablecache.rows', context.rows);
        span.end();
      },
    };
    channel.subscribe(handlers);
    return () => channel.unsubscribe(handlers);
  });
  return () => {
    for (const unsubscribe of unsubscribes) unsubscribe();
  };
}
