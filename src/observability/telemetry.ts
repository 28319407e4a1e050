// What the transport calls. Nothing here mentions an OpenTelemetry type, so the package's
// typings need no `@opentelemetry/api`. Every method is cheap and never throws: without
// OpenTelemetry (or without a registered provider) the objects are shared no-ops.

/** What a call is: a request (replies expected), an event (none), or a gRPC call. */
export type CallType = 'request' | 'event' | 'grpc';

/** How a connection reaches its peer. */
export type ConnectionPath = 'direct' | 'relay';

/** One connection's state, as a client reports it for the RTT gauge. */
export interface PeerPathObservation {
  /** The server's endpoint id. */
  endpointId: string;
  path: ConnectionPath;
  /** Round-trip time on the selected path, in milliseconds. */
  rttMs: number;
}

/** The observability of one outgoing call: its CLIENT span and its duration. */
export interface ClientCallTelemetry {
  /**
   * The metadata to send: `metadata` with the trace context under `TRACE_CONTEXT_KEY`, or
   * `metadata` itself when there is nothing to propagate or it cannot carry it (see
   * `canCarryTraceContext`). `metadata` itself is never changed.
   */
  inject(metadata: unknown): unknown;
  /** The server, when it was not known at `startCall` (a picker chose it since). */
  setPeer(endpointId: string, path?: ConnectionPath): void;
  /** One reply value arrived. */
  onValue(): void;
  /** The call ended: successfully when `error` is undefined or null. Later calls do nothing. */
  end(error?: unknown): void;
  /** The caller unsubscribed before the call ended. */
  cancel(): void;
}

/** The observability of one incoming call: its SERVER span and its duration. */
export interface ServerCallTelemetry {
  /**
   * Runs `fn` with the SERVER span as the active span, so that spans the handler starts are
   * its children and `trace.getActiveSpan()` is it; returns what `fn` returns (or throws).
   */
  run<T>(fn: () => T): T;
  /** One reply value was sent. */
  onValue(): void;
  /** The reply ended: successfully when `error` is undefined or null. Later calls do nothing. */
  end(error?: unknown): void;
  /** The client cancelled the call (or went away) before it ended. */
  cancel(): void;
}

/** A client's observability: created when it connects, one per client. */
export interface ClientTelemetry {
  /** False when OpenTelemetry is not installed: every method is then a no-op. */
  readonly enabled: boolean;
  /**
   * A call starting, as a child of the span active now: call it where `send()` or `emit()` is
   * subscribed (or the gRPC call starts). `pattern` is the normalized pattern (the gRPC
   * method path for `grpc`).
   */
  startCall(type: CallType, pattern: string, peerEndpointId?: string, path?: ConnectionPath): ClientCallTelemetry;
  /** A connection to a server is up; `reconnect` when an earlier one was lost. */
  connectionOpened(reconnect?: boolean): void;
  /** A connection closed; `lost` when it was not closed on purpose (error, timeout, peer gone). */
  connectionClosed(lost?: boolean): void;
  /** Whether byte counts are read (a MeterProvider collects the metrics): see {@link byteCounters}. */
  readonly countsBytes: boolean;
  /** Frame bytes written to a server. */
  bytesSent(bytes: number): void;
  /** Frame bytes read from a server. */
  bytesReceived(bytes: number): void;
  /**
   * Where the RTT gauge reads its values: called at each metric collection, not per request.
   * A later call replaces the source.
   */
  observePeers(source: () => Iterable<PeerPathObservation>): void;
  /** Stops observing peers (the client closed). */
  dispose(): void;
}

/** A server's observability: created when it listens. */
export interface ServerTelemetry {
  /** False when OpenTelemetry is not installed: every method is then a no-op. */
  readonly enabled: boolean;
  /**
   * A call arriving: its SERVER span is a child of the trace context in `metadata` (the
   * packet's metadata as received, reserved key included). `known` false for a pattern no
   * handler matches: its method is then reported as `_OTHER`, so a caller cannot make up
   * metric series. Handlers must see `withoutTraceContext(metadata)`.
   */
  startHandling(type: CallType, pattern: string, remoteEndpointId: string, metadata: unknown, known?: boolean): ServerCallTelemetry;
  /** A client connected. */
  connectionOpened(): void;
  /** A connection closed; `lost` when it was not closed on purpose. */
  connectionClosed(lost?: boolean): void;
  /** Whether byte counts are read (a MeterProvider collects the metrics): see {@link byteCounters}. */
  readonly countsBytes: boolean;
  /** Frame bytes written to clients. */
  bytesSent(bytes: number): void;
  /** Frame bytes read from clients. */
  bytesReceived(bytes: number): void;
  /** Releases what the telemetry registered (the server closed). */
  dispose(): void;
}

/** The call that records nothing. */
export const NOOP_CLIENT_CALL: ClientCallTelemetry = Object.freeze({
  inject: (metadata: unknown) => metadata,
  setPeer: () => undefined,
  onValue: () => undefined,
  end: () => undefined,
  cancel: () => undefined,
});

/** The call that records nothing and runs handlers as they are. */
export const NOOP_SERVER_CALL: ServerCallTelemetry = Object.freeze({
  run: <T>(fn: () => T): T => fn(),
  onValue: () => undefined,
  end: () => undefined,
  cancel: () => undefined,
});

/** A client's observability without OpenTelemetry. */
export const NOOP_CLIENT_TELEMETRY: ClientTelemetry = Object.freeze({
  enabled: false,
  startCall: () => NOOP_CLIENT_CALL,
  connectionOpened: () => undefined,
  connectionClosed: () => undefined,
  countsBytes: false,
  bytesSent: () => undefined,
  bytesReceived: () => undefined,
  observePeers: () => undefined,
  dispose: () => undefined,
});

/** A server's observability without OpenTelemetry. */
export const NOOP_SERVER_TELEMETRY: ServerTelemetry = Object.freeze({
  enabled: false,
  startHandling: () => NOOP_SERVER_CALL,
  connectionOpened: () => undefined,
  connectionClosed: () => undefined,
  countsBytes: false,
  bytesSent: () => undefined,
  bytesReceived: () => undefined,
  dispose: () => undefined,
});

/**
 * A frame stream's byte-counting handlers for `telemetry`: none unless its counts are read,
 * so that a stream whose bytes no metric reader collects does no work per read and write.
 */
export function byteCounters(telemetry: ClientTelemetry | ServerTelemetry): {
  bytesSent?: (bytes: number) => void;
  bytesReceived?: (bytes: number) => void;
} {
  if (!telemetry.countsBytes) return {};
  return { bytesSent: bytes => telemetry.bytesSent(bytes), bytesReceived: bytes => telemetry.bytesReceived(bytes) };
}
