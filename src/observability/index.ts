// Spans and metrics through OpenTelemetry when the application has `@opentelemetry/api`
// installed (an optional peer dependency); see docs/observability.md.
export { createClientTelemetry } from './client-telemetry';
export { createServerTelemetry } from './server-telemetry';
export {
  CallType,
  ClientCallTelemetry,
  ClientTelemetry,
  ConnectionPath,
  NOOP_CLIENT_CALL,
  NOOP_CLIENT_TELEMETRY,
  NOOP_SERVER_CALL,
  NOOP_SERVER_TELEMETRY,
  PeerPathObservation,
  ServerCallTelemetry,
  ServerTelemetry,
  byteCounters,
} from './telemetry';
export { TRACE_CONTEXT_KEY, canCarryTraceContext, withoutTraceContext } from './trace-context';
export { UNKNOWN_METHOD } from './semantic-conventions';
