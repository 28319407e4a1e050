import type { Context, Counter, Histogram, ObservableGauge, ObservableResult, Span, Tracer, UpDownCounter } from '@opentelemetry/api';
import { CallTarget, MethodDescription, MethodTable } from './call-attributes';
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
  ATTR_IROH_PATH,
  ATTR_SERVER_ADDRESS,
  METRIC_CLIENT_ACTIVE_REQUESTS,
  METRIC_CLIENT_CALL_DURATION,
  METRIC_CLIENT_CONNECTIONS,
  METRIC_CLIENT_CONNECTION_LOSSES,
  METRIC_CLIENT_CONNECTION_RTT,
  METRIC_CLIENT_NETWORK_IO,
  METRIC_CLIENT_RECONNECTS,
} from './semantic-conventions';
import {
  CallType,
  ClientCallTelemetry,
  ClientTelemetry,
  ConnectionPath,
  NOOP_CLIENT_CALL,
  NOOP_CLIENT_TELEMETRY,
  PeerPathObservation,
} from './telemetry';
import { TraceCarrier, canCarryTraceContext, carrierSetter, withTraceContext } from './trace-context';

/**
 * A client's observability. Call it when the client connects (or first sends): it loads
 * `@opentelemetry/api` if installed and takes the tracer and meter at that moment. Without
 * the API it returns a shared no-op.
 */
export function createClientTelemetry(): ClientTelemetry {
  const api = openTelemetryApi();
  if (!api) return NOOP_CLIENT_TELEMETRY;
  try {
    return new LiveClientTelemetry(api);
  } catch (err) {
    new FailureReporter(api).report(err);
    return NOOP_CLIENT_TELEMETRY;
  }
}

class LiveClientTelemetry implements ClientTelemetry, CallRecorder {
  readonly enabled = true;
  readonly side = 'client';
  readonly tracer: Tracer;
  readonly metricsLive: boolean;
  readonly duration: Histogram;
  readonly activeRequests: UpDownCounter;
  private readonly connections: UpDownCounter;
  private readonly losses: Counter;
  private readonly reconnects: Counter;
  private readonly io: Counter;
  private readonly rtt: ObservableGauge;
  private readonly methods: MethodTable;
  readonly failures: FailureReporter;
  private peerSource: (() => Iterable<PeerPathObservation>) | undefined;
  private observing = false;

  constructor(readonly api: OpenTelemetryApi) {
    const { tracer, meter } = takeInstrumentation(api);
    this.tracer = tracer;
    this.methods = new MethodTable(api, true);
    this.failures = new FailureReporter(api);
    this.duration = durationHistogram(meter, METRIC_CLIENT_CALL_DURATION, 'Duration of calls made, from subscription to the last reply');
    this.metricsLive = metricsAreLive(api, this.duration);
    this.activeRequests = upDownCounter(meter, METRIC_CLIENT_ACTIVE_REQUESTS, '{request}', 'Requests waiting for their reply');
    this.connections = upDownCounter(meter, METRIC_CLIENT_CONNECTIONS, '{connection}', 'Open connections to servers');
    this.losses = counter(meter, METRIC_CLIENT_CONNECTION_LOSSES, '{connection}', 'Connections to servers lost (not closed by the client)');
    this.reconnects = counter(meter, METRIC_CLIENT_RECONNECTS, '{connection}', 'Connections made again after a loss');
    this.io = counter(meter, METRIC_CLIENT_NETWORK_IO, 'By', 'Frame bytes exchanged with servers');
    this.rtt = meter.createObservableGauge(METRIC_CLIENT_CONNECTION_RTT, {
      unit: 's',
      description: 'Round-trip time to each server on the selected path',
    });
  }

  startCall(type: CallType, pattern: string, peerEndpointId?: string, path?: ConnectionPath): ClientCallTelemetry {
    try {
      const api = this.api;
      const method = this.methods.get(type, pattern);
      const target = method.toPeer(peerEndpointId);
      const parent = api.context.active();
      const span = this.tracer.startSpan(method.spanName, target.spanOptions, parent);
      const recording = span.isRecording();
      // Nothing to record and no trace context to pass on (no provider, no incoming trace).
      if (!recording && !this.metricsLive && !api.isSpanContextValid(span.spanContext())) return NOOP_CLIENT_CALL;
      if (recording && path !== undefined) span.setAttribute(ATTR_IROH_PATH, path);
      return new LiveClientCall(this, method, target, span, parent);
    } catch (err) {
      this.failures.report(err);
      return NOOP_CLIENT_CALL;
    }
  }

  connectionOpened(reconnect = false): void {
    if (!this.metricsLive) return;
    this.connections.add(1);
    if (reconnect) this.reconnects.add(1);
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

  observePeers(source: () => Iterable<PeerPathObservation>): void {
    this.peerSource = source;
    if (this.observing || !this.metricsLive) return;
    this.rtt.addCallback(this.observeRtt);
    this.observing = true;
  }

  dispose(): void {
    this.peerSource = undefined;
    if (!this.observing) return;
    this.rtt.removeCallback(this.observeRtt);
    this.observing = false;
  }

  private readonly observeRtt = (result: ObservableResult): void => {
    const source = this.peerSource;
    if (!source) return;
    try {
      for (const peer of source()) {
        if (!Number.isFinite(peer.rttMs)) continue;
        result.observe(peer.rttMs / 1000, { [ATTR_SERVER_ADDRESS]: peer.endpointId, [ATTR_IROH_PATH]: peer.path });
      }
    } catch (err) {
      this.failures.report(err);
    }
  };
}

class LiveClientCall extends RecordedCall implements ClientCallTelemetry {
  constructor(
    private readonly owner: LiveClientTelemetry,
    method: MethodDescription,
    target: CallTarget,
    span: Span,
    private readonly parent: Context,
  ) {
    super(owner, method, target, span, callStart(owner));
  }

  inject(metadata: unknown): unknown {
    if (!canCarryTraceContext(metadata)) return metadata;
    const api = this.owner.api;
    try {
      if (!api.isSpanContextValid(this.span.spanContext())) return metadata;
      const carrier: TraceCarrier = {};
      api.propagation.inject(api.trace.setSpan(this.parent, this.span), carrier, carrierSetter);
      return isEmpty(carrier) ? metadata : withTraceContext(metadata, carrier);
    } catch (err) {
      this.owner.failures.report(err);
      return metadata;
    }
  }

  setPeer(endpointId: string, path?: ConnectionPath): void {
    this.target = this.method.toPeer(endpointId);
    if (!this.span.isRecording()) return;
    this.span.setAttribute(ATTR_SERVER_ADDRESS, endpointId);
    if (path !== undefined) this.span.setAttribute(ATTR_IROH_PATH, path);
  }
}

function isEmpty(carrier: TraceCarrier): boolean {
  for (const key in carrier) if (Object.prototype.hasOwnProperty.call(carrier, key)) return false;
  return true;
}
