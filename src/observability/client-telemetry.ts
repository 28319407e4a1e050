import type { Context, Span } from '@opentelemetry/api';
import { CallTarget, MethodDescription } from './call-attributes';
import { FailureReporter } from './instruments';
import { OpenTelemetryApi, openTelemetryApi } from './opentelemetry-api';
import { RecordedCall, callStart } from './recorded-call';
import { ATTR_IROH_PATH, ATTR_SERVER_ADDRESS } from './semantic-conventions';
import { CallType, ClientCallTelemetry, ClientTelemetry, ConnectionPath, NOOP_CLIENT_CALL, NOOP_CLIENT_TELEMETRY } from './telemetry';
import { TelemetryCore } from './telemetry-core';
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

class LiveClientTelemetry extends TelemetryCore implements ClientTelemetry {
  constructor(api: OpenTelemetryApi) {
    super(api, 'client');
  }

  startCall(type: CallType, pattern: string, peerEndpointId?: string, path?: ConnectionPath): ClientCallTelemetry {
    try {
      const api = this.api;
      const parent = api.context.active();
      // No provider and no span to continue: nothing to record, nothing to pass on.
      if (!this.metricsLive && !this.tracingLive() && api.trace.getSpan(parent) === undefined) return NOOP_CLIENT_CALL;
      const method = this.methods.get(type, pattern);
      const target = method.toPeer(peerEndpointId);
      const span = this.tracer.startSpan(method.spanName, target.spanOptions, parent);
      const recording = span.isRecording();
      // A span that is neither recorded nor passed on (the tracer found no valid parent).
      if (!recording && !this.metricsLive && !api.isSpanContextValid(span.spanContext())) return NOOP_CLIENT_CALL;
      if (recording && path !== undefined) span.setAttribute(ATTR_IROH_PATH, path);
      return new LiveClientCall(this, method, target, span, parent);
    } catch (err) {
      this.failures.report(err);
      return NOOP_CLIENT_CALL;
    }
  }
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
      // A recording span always has a valid context; another may be a no-op's.
      if (!this.span.isRecording() && !api.isSpanContextValid(this.span.spanContext())) return metadata;
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
