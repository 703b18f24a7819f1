import { createRequire } from 'node:module';
import type {
  CounterLike,
  HistogramLike,
  InstrumentOptionsLike,
  MeterLike,
  MeterProviderLike,
  ObservableLike,
  ObservableResultLike,
  TracerLike,
} from './opentelemetry-shapes.js';

/** The instrumentation scope tables and feeds report under. */
export const INSTRUMENTATION_SCOPE = 'tablecache';

/** What each instrument is, as data: the README's "Operating it" and the meter-reader test read it. */
export interface MetricDescription {
  /** The OpenTelemetry name; Prometheus writes it with `_` for `.` (and `_total` after counters). */
  readonly name: string;
  readonly kind: 'counter' | 'histogram' | 'gauge' | 'observable counter';
  readonly unit: string;
  /** The labels it carries. */
  readonly attributes: readonly string[];
  readonly description: string;
  /** Histogram bucket boundaries, in the unit. */
  readonly buckets?: readonly number[];
}

/** Durations in seconds: sub-millisecond refreshes of a few keys up to loads of minutes. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Commit → visible: a healthy feed is in the low milliseconds; the tail says how far behind it runs. */
const LAG_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60];

/** Every instrument tablecache reports, by the key its code uses. */
export const TABLECACHE_METRICS = {
  records: {
    name: 'tablecache.records',
    kind: 'gauge',
    unit: '{record}',
    attributes: ['table'],
    description: 'Records the table holds in memory.',
  },
  memoryBytes: {
    name: 'tablecache.memory.bytes',
    kind: 'gauge',
    unit: 'By',
    attributes: ['table'],
    description: 'Memory the records take: exact for shared-memory storage, estimated from sampled records for storage in the heap.',
  },
  invalidPending: {
    name: 'tablecache.invalid.pending',
    kind: 'gauge',
    unit: '{record}',
    attributes: ['table'],
    description:
      'Invalidations waiting for a refresh: a key counts one, a spec that is not by key counts one, the whole table counts every record.',
  },
  loads: {
    name: 'tablecache.loads',
    kind: 'counter',
    unit: '{load}',
    attributes: ['table', 'outcome'],
    description: 'Loads finished, by outcome (ok, error).',
  },
  loadDuration: {
    name: 'tablecache.load.duration.seconds',
    kind: 'histogram',
    unit: 's',
    attributes: ['table', 'outcome'],
    description: 'How long loads took.',
    buckets: DURATION_BUCKETS,
  },
  loadRows: {
    name: 'tablecache.load.rows',
    kind: 'counter',
    unit: '{row}',
    attributes: ['table'],
    description: 'Rows loads wrote to memory.',
  },
  refreshes: {
    name: 'tablecache.refreshes',
    kind: 'counter',
    unit: '{refresh}',
    attributes: ['table', 'operation', 'outcome'],
    description: 'Refreshes (operation refresh) and adjusts (operation adjust) finished, by outcome (ok, error).',
  },
  refreshDuration: {
    name: 'tablecache.refresh.duration.seconds',
    kind: 'histogram',
    unit: 's',
    attributes: ['table', 'operation', 'outcome'],
    description: 'How long refreshes and adjusts took, queries included.',
    buckets: DURATION_BUCKETS,
  },
  refreshRows: {
    name: 'tablecache.refresh.rows',
    kind: 'counter',
    unit: '{row}',
    attributes: ['table', 'operation'],
    description: 'Rows refreshes and adjusts wrote to memory: what the changes cost.',
  },
  queries: {
    name: 'tablecache.queries',
    kind: 'counter',
    unit: '{query}',
    attributes: ['table', 'reason'],
    description: 'Queries sent to the database, by reason: load, refresh, adjust, or read (a read memory could not serve).',
  },
  reads: {
    name: 'tablecache.reads',
    kind: 'observable counter',
    unit: '{read}',
    attributes: ['table', 'source'],
    description: 'Reads served, by source: memory or database. Counted in a plain field and observed at collection: a read pays nothing.',
  },
  changeLag: {
    name: 'tablecache.change.lag.seconds',
    kind: 'histogram',
    unit: 's',
    attributes: ['table'],
    description:
      "Commit → visible: from the change in the database (the trigger's clock) to the moment reads of the table see it (its invalidation applied).",
    buckets: LAG_BUCKETS,
  },
  feedNotifications: {
    name: 'tablecache.feed.notifications',
    kind: 'counter',
    unit: '{notification}',
    attributes: ['channel'],
    description: 'Change notifications the feed received (one per statement and table, or per part of a long one).',
  },
  feedGaps: {
    name: 'tablecache.feed.gaps',
    kind: 'counter',
    unit: '{gap}',
    attributes: ['channel'],
    description: 'Times the feed may have missed changes (a reconnect, an unreadable payload): every watching table refreshes whole.',
  },
  feedReconnects: {
    name: 'tablecache.feed.reconnects',
    kind: 'counter',
    unit: '{reconnect}',
    attributes: ['channel'],
    description: 'Times the listening connection was re-established after it was lost.',
  },
  feedUp: {
    name: 'tablecache.feed.up',
    kind: 'gauge',
    unit: '1',
    attributes: ['channel'],
    description: 'Whether the listening connection is in place (1) or lost (0).',
  },
  feedQueueUsage: {
    name: 'tablecache.feed.queue.usage',
    kind: 'gauge',
    unit: '1',
    attributes: ['channel'],
    description:
      "The server's notification queue, as a fraction of its size (pg_notification_queue_usage(), sampled by the liveness check); writers stop when it is full.",
  },
  feedSlotLag: {
    name: 'tablecache.feed.slot.lag.bytes',
    kind: 'gauge',
    unit: 'By',
    attributes: ['channel'],
    description:
      "A durable replication slot's lag: WAL the server keeps for it, from what the feed acknowledged to the server's current position (logical feed with a named slot).",
  },
} as const satisfies Record<string, MetricDescription>;

type MetricKey = keyof typeof TABLECACHE_METRICS;
type InstrumentOf<D> = D extends { kind: 'counter' } ? CounterLike : D extends { kind: 'histogram' } ? HistogramLike : ObservableLike;

/** Each instrument of `TABLECACHE_METRICS`, created on one meter. */
export type TablecacheInstruments = { readonly [key in MetricKey]: InstrumentOf<(typeof TABLECACHE_METRICS)[key]> };

/**
 * Instruments per meter: every table and feed of an application shares them (an SDK would warn
 * about an instrument registered twice), each adding its own observations under its labels.
 */
const instrumentsByMeter = new WeakMap<MeterLike, TablecacheInstruments>();

export function tablecacheInstruments(meter: MeterLike): TablecacheInstruments {
  let instruments = instrumentsByMeter.get(meter);
  if (instruments === undefined) {
    const made: Partial<Record<MetricKey, CounterLike | HistogramLike | ObservableLike>> = {};
    for (const [key, metric] of Object.entries(TABLECACHE_METRICS) as [MetricKey, MetricDescription][]) {
      const options: InstrumentOptionsLike = {
        description: metric.description,
        unit: metric.unit,
        ...(metric.buckets !== undefined && { advice: { explicitBucketBoundaries: [...metric.buckets] } }),
      };
      made[key] =
        metric.kind === 'counter'
          ? meter.createCounter(metric.name, options)
          : metric.kind === 'histogram'
            ? meter.createHistogram(metric.name, options)
            : metric.kind === 'gauge'
              ? meter.createObservableGauge(metric.name, options)
              : meter.createObservableCounter(metric.name, options);
    }
    instruments = made as TablecacheInstruments;
    instrumentsByMeter.set(meter, instruments);
  }
  return instruments;
}

/** The parts of the global `@opentelemetry/api` tablecache falls back to. */
interface OpenTelemetryApi {
  readonly metrics: { getMeter(name: string): MeterLike };
  readonly trace: { getTracer(name: string): TracerLike };
}

let globalApi: OpenTelemetryApi | null | undefined;

/**
 * The application's `@opentelemetry/api`, when it has one: an optional peer dependency, looked
 * up once. Its global meter is a proxy, so an SDK registered after a table was made still
 * receives the table's measurements.
 */
export function openTelemetryApi(): OpenTelemetryApi | undefined {
  if (globalApi === undefined) {
    try {
      globalApi = createRequire(import.meta.url)('@opentelemetry/api') as OpenTelemetryApi;
    } catch {
      globalApi = null;
    }
  }
  return globalApi ?? undefined;
}

/**
 * The meter of a table's or feed's `meterProvider` option: the provider given, none for `false`,
 * and by default the global one of `@opentelemetry/api` if it is installed. Without one, nothing
 * is measured and nothing is created.
 */
export function resolveMeter(provider: MeterProviderLike | false | undefined): MeterLike | undefined {
  if (provider === false) return undefined;
  if (provider !== undefined) return provider.getMeter(INSTRUMENTATION_SCOPE);
  return openTelemetryApi()?.metrics.getMeter(INSTRUMENTATION_SCOPE);
}

/** Callbacks added to observable instruments, removed together when their table or feed closes. */
export class Observations {
  readonly #added: (readonly [ObservableLike, (result: ObservableResultLike) => void])[] = [];

  add(instrument: ObservableLike, callback: (result: ObservableResultLike) => void): void {
    instrument.addCallback(callback);
    this.#added.push([instrument, callback]);
  }

  /** Stops observing: a closed table must not keep reporting, nor be kept alive by the meter. */
  clear(): void {
    for (const [instrument, callback] of this.#added) instrument.removeCallback(callback);
    this.#added.length = 0;
  }
}
