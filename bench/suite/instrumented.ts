import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, InMemorySpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import { traceWithOpenTelemetry } from '@tablecache/core';

/**
 * Runs `measure` with metrics and tracing on as a production service would have them: a global
 * meter provider whose reader collects every second (observing the tables' gauges and read
 * counters), and tablecache's tracing channels turned into spans. Tables made before pick the
 * provider up through the global api's proxy. Everything is turned off again afterwards.
 */
export async function withMetricsAndTracing<T>(measure: () => Promise<T>): Promise<T> {
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 1000,
  });
  const provider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(provider);
  const tracer = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter: new InMemorySpanExporter() })] });
  const stopTracing = traceWithOpenTelemetry(tracer.getTracer('bench'));
  try {
    return await measure();
  } finally {
    stopTracing();
    metrics.disable();
    await provider.shutdown();
    await tracer.shutdown();
  }
}
