/**
 * The parts of `@opentelemetry/api` tablecache calls, as structural types: the api's own
 * `MeterProvider`, `Meter` and `Tracer` fit them, and a user without the package installed (it
 * is an optional peer dependency) compiles against types that do not name it. Methods, not
 * function properties, so the api's enums (a span's status code) fit these wider parameters.
 */

/** Label values of one measurement. */
export type MetricAttributes = Readonly<Record<string, string | number | boolean>>;

export interface MeterProviderLike {
  getMeter(name: string, version?: string): MeterLike;
}

export interface InstrumentOptionsLike {
  readonly description?: string;
  readonly unit?: string;
  readonly advice?: { readonly explicitBucketBoundaries?: number[] };
}

export interface MeterLike {
  createCounter(name: string, options?: InstrumentOptionsLike): CounterLike;
  createHistogram(name: string, options?: InstrumentOptionsLike): HistogramLike;
  createObservableGauge(name: string, options?: InstrumentOptionsLike): ObservableLike;
  createObservableCounter(name: string, options?: InstrumentOptionsLike): ObservableLike;
}

export interface CounterLike {
  add(value: number, attributes?: MetricAttributes): void;
}

export interface HistogramLike {
  record(value: number, attributes?: MetricAttributes): void;
}

export interface ObservableResultLike {
  observe(value: number, attributes?: MetricAttributes): void;
}

export interface ObservableLike {
  addCallback(callback: (result: ObservableResultLike) => void): void;
  removeCallback(callback: (result: ObservableResultLike) => void): void;
}

export interface TracerLike {
  startSpan(name: string, options?: { readonly attributes?: MetricAttributes; readonly kind?: number }): SpanLike;
}

export interface SpanLike {
  setAttribute(key: string, value: string | number | boolean): unknown;
  recordException(exception: Error | string): void;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}
