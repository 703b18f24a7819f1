// Test support: an OpenTelemetry MeterProvider whose measurements a test collects on demand.
// Shared by the core, postgres and example tests; not part of the build.
import { type DataPoint, type Histogram, MeterProvider, type MetricData, MetricReader } from '@opentelemetry/sdk-metrics';

/** A reader that exports nowhere: `collect()` is how a test reads. */
class CollectingReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

type Labels = Readonly<Record<string, string | number | boolean>>;

/** One collection: each instrument's data points, found by name and labels. */
export class MetricsSnapshot {
  readonly #points = new Map<string, readonly DataPoint<unknown>[]>();

  constructor(metrics: readonly MetricData[]) {
    for (const metric of metrics) this.#points.set(metric.descriptor.name, metric.dataPoints);
  }

  /** The names of the instruments that reported anything. */
  get names(): string[] {
    return [...this.#points.keys()];
  }

  /** A counter's or gauge's value for the data point whose labels include `labels`; undefined when none. */
  value(name: string, labels: Labels = {}): number | undefined {
    const point = this.#point(name, labels);
    return typeof point?.value === 'number' ? point.value : undefined;
  }

  /** A histogram's count, sum and per-bucket counts for the data point whose labels include `labels`. */
  histogram(name: string, labels: Labels = {}): Histogram | undefined {
    const point = this.#point(name, labels);
    return point !== undefined && typeof point.value === 'object' ? (point.value as Histogram) : undefined;
  }

  #point(name: string, labels: Labels): DataPoint<unknown> | undefined {
    return this.#points.get(name)?.find((point) => Object.entries(labels).every(([key, value]) => point.attributes[key] === value));
  }
}

/** A meter provider for one test, read with `collect()`. */
export class InMemoryMetrics {
  readonly #reader = new CollectingReader();
  readonly provider = new MeterProvider({ readers: [this.#reader] });

  async collect(): Promise<MetricsSnapshot> {
    const { resourceMetrics, errors } = await this.#reader.collect();
    if (errors.length > 0) throw errors[0];
    return new MetricsSnapshot(resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics));
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
