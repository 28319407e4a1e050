import type { Attributes, Histogram, Meter, Span, Tracer } from '@opentelemetry/api';
import { INSTRUMENTATION_SCOPE, OpenTelemetryApi, instrumentationVersion } from './opentelemetry-api';
import { ATTR_NETWORK_IO_DIRECTION, ATTR_RPC_SYSTEM_NAME, DURATION_BUCKETS, SYSTEM_GRPC, SYSTEM_NESTJS_IROH } from './semantic-conventions';

/** The tracer and meter of a server or client, taken when it listens or connects. */
export interface Instrumentation {
  /** A proxy: spans start recording whenever the application registers a TracerProvider. */
  readonly tracer: Tracer;
  /** Fixed now: the metrics API has no proxy (see {@link metricsAreLive}). */
  readonly meter: Meter;
}

export function takeInstrumentation(api: OpenTelemetryApi): Instrumentation {
  const version = instrumentationVersion();
  return {
    tracer: api.trace.getTracer(INSTRUMENTATION_SCOPE, version),
    meter: api.metrics.getMeter(INSTRUMENTATION_SCOPE, version),
  };
}

/**
 * False when `histogram` came from a meter taken before any MeterProvider was registered:
 * such a meter hands out the no-op meter's shared instruments, which stay no-ops, so the
 * telemetry does not call them at all.
 */
export function metricsAreLive(api: OpenTelemetryApi, histogram: Histogram): boolean {
  return histogram !== api.createNoopMeter().createHistogram('');
}

/** A call-duration histogram, in seconds. */
export function durationHistogram(meter: Meter, name: string, description: string): Histogram {
  return meter.createHistogram(name, {
    description,
    unit: 's',
    // Read by API 1.7 and later; older ones ignore it.
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  } as Parameters<Meter['createHistogram']>[1]);
}

/**
 * Whether a TracerProvider is registered now. The global provider is the API's proxy; with no
 * SDK behind it, it delegates to the no-op provider, which a fresh proxy also returns (the
 * same object when the application and nestjs-iroh share one copy of the API; with two
 * copies this answers true and calls take the full path, which is correct, only slower).
 * It lets a call skip the tracer when there is nothing to trace.
 */
export function tracingProbe(api: OpenTelemetryApi): () => boolean {
  const noop = new api.ProxyTracerProvider().getDelegate();
  return () => {
    const provider = api.trace.getTracerProvider() as { getDelegate?: () => unknown };
    return typeof provider.getDelegate !== 'function' || provider.getDelegate() !== noop;
  };
}

/** `rpc.system.name` alone, by system: the attributes of the requests-in-flight counter. */
export const SYSTEM_ONLY: Record<string, Attributes> = {
  [SYSTEM_NESTJS_IROH]: Object.freeze({ [ATTR_RPC_SYSTEM_NAME]: SYSTEM_NESTJS_IROH }),
  [SYSTEM_GRPC]: Object.freeze({ [ATTR_RPC_SYSTEM_NAME]: SYSTEM_GRPC }),
};

export const TRANSMIT: Attributes = Object.freeze({ [ATTR_NETWORK_IO_DIRECTION]: 'transmit' });
export const RECEIVE: Attributes = Object.freeze({ [ATTR_NETWORK_IO_DIRECTION]: 'receive' });

/**
 * Reports a failure of the telemetry itself (a throwing propagator, sampler or exporter) once
 * through OpenTelemetry's diagnostic logger: calls go on untraced rather than failing.
 */
export class FailureReporter {
  private reported = false;

  constructor(private readonly api: OpenTelemetryApi) {}

  report(err: unknown): void {
    if (this.reported) return;
    this.reported = true;
    this.api.diag.warn(`nestjs-iroh: telemetry failed, calls go on without it: ${(err as Error)?.message ?? String(err)}`);
  }
}

/** Ends a span; a failing span processor or exporter is reported, not thrown at the transport. */
export function endSpan(span: Span, failures: FailureReporter): void {
  try {
    span.end();
  } catch (err) {
    failures.report(err);
  }
}
