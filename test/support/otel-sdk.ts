import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { DataPoint, Histogram, MeterProvider, MetricData, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, ReadableSpan, Sampler, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** A metric reader the test pulls from. */
class PullReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

export interface RegisteredSdk {
  spans(): ReadableSpan[];
  span(name: string): ReadableSpan;
  /** Every metric recorded so far (cumulative), by name. */
  metric(name: string): Promise<MetricData | undefined>;
  shutdown(): Promise<void>;
}

/**
 * The real SDK registered as the global providers (what an application's `sdk.start()`
 * does), with an in-memory span exporter and a pull metric reader. `shutdown` unregisters
 * everything so that the next test starts from no provider.
 */
export function registerSdk(options: { traces?: boolean; metrics?: boolean; sampler?: Sampler } = {}): RegisteredSdk {
  const exporter = new InMemorySpanExporter();
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  let tracerProvider: BasicTracerProvider | undefined;
  if (options.traces !== false) {
    tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)], sampler: options.sampler });
    trace.setGlobalTracerProvider(tracerProvider);
  }
  const reader = new PullReader();
  let meterProvider: MeterProvider | undefined;
  if (options.metrics !== false) {
    meterProvider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(meterProvider);
  }
  return {
    spans: () => exporter.getFinishedSpans(),
    span(name) {
      const found = exporter.getFinishedSpans().filter(s => s.name === name);
      if (found.length !== 1) throw new Error(`expected one span named ${name}, found ${found.length}`);
      return found[0];
    },
    async metric(name) {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length) throw errors[0];
      for (const scope of resourceMetrics.scopeMetrics) {
        const found = scope.metrics.find(m => m.descriptor.name === name);
        if (found) return found;
      }
      return undefined;
    },
    async shutdown() {
      await tracerProvider?.shutdown();
      await meterProvider?.shutdown();
      contextManager.disable();
      trace.disable();
      context.disable();
      propagation.disable();
      metrics.disable();
    },
  };
}

/** Unregisters whatever a test registered, provider or not. */
export function unregisterAll(): void {
  trace.disable();
  context.disable();
  propagation.disable();
  metrics.disable();
}

/** The data point whose attributes include `attributes`. */
export function pointWith<T>(metric: MetricData | undefined, attributes: Record<string, unknown>): DataPoint<T> | undefined {
  if (!metric) return undefined;
  return (metric.dataPoints as DataPoint<T>[]).find(point =>
    Object.entries(attributes).every(([key, value]) => point.attributes[key] === value),
  );
}

export type HistogramPoint = DataPoint<Histogram>;
