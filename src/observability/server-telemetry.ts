import type { Context, Span } from '@opentelemetry/api';
import { MethodDescription } from './call-attributes';
import { FailureReporter } from './instruments';
import { OpenTelemetryApi, openTelemetryApi } from './opentelemetry-api';
import { RecordedCall, callStart } from './recorded-call';
import { ATTR_CLIENT_ADDRESS, ATTR_RPC_METHOD_ORIGINAL } from './semantic-conventions';
import { CallType, NOOP_SERVER_CALL, NOOP_SERVER_TELEMETRY, ServerCallTelemetry, ServerTelemetry } from './telemetry';
import { TelemetryCore } from './telemetry-core';
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

class LiveServerTelemetry extends TelemetryCore implements ServerTelemetry {
  constructor(api: OpenTelemetryApi) {
    super(api, 'server');
  }

  startHandling(type: CallType, pattern: string, remoteEndpointId: string, metadata: unknown, known = true): ServerCallTelemetry {
    try {
      const api = this.api;
      const carrier = traceContextOf(metadata);
      // No provider and no trace context to pass on to the handler's own calls.
      if (carrier === undefined && !this.metricsLive && !this.tracingLive()) return NOOP_SERVER_CALL;
      const method = known ? this.methods.get(type, pattern) : this.methods.unknownMethod(type);
      // A root unless the caller sent its trace context: the context active here is the
      // server's own (its read loop's), unrelated to the call.
      const parent = carrier ? api.propagation.extract(api.ROOT_CONTEXT, carrier, carrierGetter) : api.ROOT_CONTEXT;
      const span = this.tracer.startSpan(method.spanName, method.target.spanOptions, parent);
      const recording = span.isRecording();
      // A span that is neither recorded nor passed on (no valid trace context came).
      if (!recording && !this.metricsLive && !api.isSpanContextValid(span.spanContext())) return NOOP_SERVER_CALL;
      if (recording) {
        span.setAttribute(ATTR_CLIENT_ADDRESS, remoteEndpointId);
        if (!known) span.setAttribute(ATTR_RPC_METHOD_ORIGINAL, pattern);
      }
      // Metrics alone, with no trace context to pass on: the handler runs as it is, since
      // entering a context turns on AsyncLocalStorage's promise hooks for what it runs.
      const propagates = recording || api.isSpanContextValid(span.spanContext());
      return new LiveServerCall(this, method, span, parent, propagates);
    } catch (err) {
      this.failures.report(err);
      return NOOP_SERVER_CALL;
    }
  }
}

class LiveServerCall extends RecordedCall implements ServerCallTelemetry {
  private context: Context | undefined;

  constructor(
    private readonly owner: LiveServerTelemetry,
    method: MethodDescription,
    span: Span,
    private readonly parent: Context,
    private readonly propagates: boolean,
  ) {
    super(owner, method, method.target, span, callStart(owner));
  }

  run<T>(fn: () => T): T {
    if (!this.propagates) return fn();
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
