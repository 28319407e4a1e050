import type { Context, Counter, Histogram, Span, Tracer, UpDownCounter } from '@opentelemetry/api';
import { MethodDescription, MethodTable } from './call-attributes';
import {
  FailureReporter,
  RECEIVE,
  TRANSMIT,
  counter,
  durationHistogram,
  metricsAreLive,
  takeInstrumentation,
  upDownCounter,
} from './instruments';
import { OpenTelemetryApi, openTelemetryApi } from './opentelemetry-api';
import { CallRecorder, RecordedCall, callStart } from './recorded-call';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_RPC_METHOD_ORIGINAL,
  METRIC_SERVER_ACTIVE_REQUESTS,
  METRIC_SERVER_CALL_DURATION,
  METRIC_SERVER_CONNECTIONS,
  METRIC_SERVER_CONNECTION_LOSSES,
  METRIC_SERVER_NETWORK_IO,
} from './semantic-conventions';
import { CallType, NOOP_SERVER_CALL, NOOP_SERVER_TELEMETRY, ServerCallTelemetry, ServerTelemetry } from './telemetry';
import { carrierGetter, traceContextOf } from './trace-context';

/**
 * A server's observability. Call it when the server listens: it loads `@opentelemetry/api`
 * if installed and takes the tracer and meter at that moment. Without the API it returns a
 * shared no-op.
 */
export function createServerTelemetry(): ServerTelemetry {
  const api = openTelemetryApi();
  if (!api) return NOOP_SERVER_TELEMETRY;
  try {
    return new LiveServerTelemetry(api);
  } catch (err) {
    new FailureReporter(api).report(err);
    return NOOP_SERVER_TELEMETRY;
  }
}

class LiveServerTelemetry implements ServerTelemetry, CallRecorder {
  readonly enabled = true;
  readonly side = 'server';
  readonly tracer: Tracer;
  readonly metricsLive: boolean;
  readonly duration: Histogram;
  readonly activeRequests: UpDownCounter;
  private readonly connections: UpDownCounter;
  private readonly losses: Counter;
  private readonly io: Counter;
  private readonly methods: MethodTable;
  readonly failures: FailureReporter;

  constructor(readonly api: OpenTelemetryApi) {
    const { tracer, meter } = takeInstrumentation(api);
    this.tracer = tracer;
    this.methods = new MethodTable(api, false);
    this.failures = new FailureReporter(api);
    this.duration = durationHistogram(meter, METRIC_SERVER_CALL_DURATION, 'Duration of calls served, from the request to the last reply');
    this.metricsLive = metricsAreLive(api, this.duration);
    this.activeRequests = upDownCounter(meter, METRIC_SERVER_ACTIVE_REQUESTS, '{request}', 'Requests being handled');
    this.connections = upDownCounter(meter, METRIC_SERVER_CONNECTIONS, '{connection}', 'Open connections from clients');
    this.losses = counter(meter, METRIC_SERVER_CONNECTION_LOSSES, '{connection}', 'Connections from clients lost (not closed in order)');
    this.io = counter(meter, METRIC_SERVER_NETWORK_IO, 'By', 'Frame bytes exchanged with clients');
  }

  startHandling(type: CallType, pattern: string, remoteEndpointId: string, metadata: unknown, known = true): ServerCallTelemetry {
    try {
      const api = this.api;
      const method = known ? this.methods.get(type, pattern) : this.methods.unknownMethod(type);
      // A root unless the caller sent its trace context: the context active here is the
      // server's own (its read loop's), unrelated to the call.
      const carrier = traceContextOf(metadata);
      const parent = carrier ? api.propagation.extract(api.ROOT_CONTEXT, carrier, carrierGetter) : api.ROOT_CONTEXT;
      const span = this.tracer.startSpan(method.spanName, method.target.spanOptions, parent);
      const recording = span.isRecording();
      // Nothing to record and no trace context for the handler's own calls to pass on.
      if (!recording && !this.metricsLive && !api.isSpanContextValid(span.spanContext())) return NOOP_SERVER_CALL;
      if (recording) {
        span.setAttribute(ATTR_CLIENT_ADDRESS, remoteEndpointId);
        if (!known) span.setAttribute(ATTR_RPC_METHOD_ORIGINAL, pattern);
      }
      return new LiveServerCall(this, method, span, parent);
    } catch (err) {
      this.failures.report(err);
      return NOOP_SERVER_CALL;
    }
  }

  connectionOpened(): void {
    if (this.metricsLive) this.connections.add(1);
  }

  connectionClosed(lost = false): void {
    if (!this.metricsLive) return;
    this.connections.add(-1);
    if (lost) this.losses.add(1);
  }

  bytesSent(bytes: number): void {
    if (this.metricsLive && bytes > 0) this.io.add(bytes, TRANSMIT);
  }

  bytesReceived(bytes: number): void {
    if (this.metricsLive && bytes > 0) this.io.add(bytes, RECEIVE);
  }

  dispose(): void {
    // Nothing registered with the SDK: instruments without callbacks need no release.
  }
}

class LiveServerCall extends RecordedCall implements ServerCallTelemetry {
  private context: Context | undefined;

  constructor(
    private readonly owner: LiveServerTelemetry,
    method: MethodDescription,
    span: Span,
    private readonly parent: Context,
  ) {
    super(owner, method, method.target, span, callStart(owner));
  }

  run<T>(fn: () => T): T {
    const api = this.owner.api;
    let context: Context;
    try {
      context = this.context ??= api.trace.setSpan(this.parent, this.span);
    } catch (err) {
      this.owner.failures.report(err);
      return fn();
    }
    return api.context.with(context, fn);
  }
}
