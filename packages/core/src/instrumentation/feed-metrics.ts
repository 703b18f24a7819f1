import { Observations, type TablecacheInstruments, tablecacheInstruments } from './instruments.js';
import type { MeterLike } from './opentelemetry-shapes.js';

/** What a feed's gauges read at collection time. */
export interface FeedMetricsSource {
  /** Whether the feed receives changes now. */
  up(): boolean;
  /** The server's notification queue usage (0 to 1) last sampled; undefined when not sampled. */
  queueUsage(): number | undefined;
  /** A durable slot's lag in bytes, last sampled; undefined for feeds without one. */
  slotLagBytes?(): number | undefined;
}

/** One change feed's measurements, labelled by its channel. Without a meter every call returns at once. */
export class FeedMetrics {
  readonly #instruments: TablecacheInstruments | undefined;
  readonly #labels: { readonly channel: string };
  readonly #observations = new Observations();

  constructor(meter: MeterLike | undefined, channel: string, source: FeedMetricsSource) {
    this.#labels = { channel };
    if (meter === undefined) return;
    const instruments = tablecacheInstruments(meter);
    this.#instruments = instruments;
    const labels = this.#labels;
    this.#observations.add(instruments.feedUp, (result) => result.observe(source.up() ? 1 : 0, labels));
    this.#observations.add(instruments.feedQueueUsage, (result) => {
      const usage = source.queueUsage();
      if (usage !== undefined) result.observe(usage, labels);
    });
    this.#observations.add(instruments.feedSlotLag, (result) => {
      const lag = source.slotLagBytes?.();
      if (lag !== undefined) result.observe(lag, labels);
    });
  }

  notification(): void {
    this.#instruments?.feedNotifications.add(1, this.#labels);
  }

  gap(): void {
    this.#instruments?.feedGaps.add(1, this.#labels);
  }

  reconnect(): void {
    this.#instruments?.feedReconnects.add(1, this.#labels);
  }

  /** Stops observing: a closed feed must not keep reporting, nor be kept alive by the meter. */
  close(): void {
    this.#observations.clear();
  }
}
