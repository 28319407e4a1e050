// Names of the spans' attributes and of the metrics, after the OpenTelemetry RPC semantic
// conventions (the release-candidate set: `rpc.system.name`, a fully qualified `rpc.method`,
// durations in seconds), plus a few `iroh.*` names of our own. docs/observability.md lists
// them; keep it in step.

/** `rpc.system.name` of message patterns, requests and events. */
export const SYSTEM_NESTJS_IROH = 'nestjs-iroh';
/** `rpc.system.name` of gRPC calls carried over iroh. */
export const SYSTEM_GRPC = 'grpc';

/** `rpc.method` of a request no handler matches: its pattern is the caller's choice. */
export const UNKNOWN_METHOD = '_OTHER';
/** `error.type` of an error nothing better describes. */
export const OTHER_ERROR = '_OTHER';
/** `error.type` of a call its caller gave up (unsubscribed) or the client cancelled. */
export const CANCELLED = 'CANCELLED';

export const ATTR_RPC_SYSTEM_NAME = 'rpc.system.name';
export const ATTR_RPC_METHOD = 'rpc.method';
export const ATTR_RPC_METHOD_ORIGINAL = 'rpc.method_original';
export const ATTR_RPC_STATUS_CODE = 'rpc.status_code';
export const ATTR_ERROR_TYPE = 'error.type';
/** On the client: the endpoint id of the server called (what it dialled). */
export const ATTR_SERVER_ADDRESS = 'server.address';
/** On the server: the endpoint id of the caller, authenticated by the QUIC handshake. */
export const ATTR_CLIENT_ADDRESS = 'client.address';
export const ATTR_NETWORK_IO_DIRECTION = 'network.io.direction';
/** `direct` (UDP to the peer's address) or `relay`. */
export const ATTR_IROH_PATH = 'iroh.path';
/** `request`, `event` or `grpc`. */
export const ATTR_IROH_CALL_TYPE = 'iroh.call.type';
/** Values a request's reply carried: 1 for a plain reply, n for a stream, 0 for an empty one. */
export const ATTR_IROH_REPLY_VALUE_COUNT = 'iroh.reply.value_count';

export const METRIC_CLIENT_CALL_DURATION = 'rpc.client.call.duration';
export const METRIC_SERVER_CALL_DURATION = 'rpc.server.call.duration';
export const METRIC_CLIENT_RECONNECTS = 'iroh.client.reconnects';
export const METRIC_CLIENT_CONNECTION_RTT = 'iroh.client.connection.rtt';

/** The metrics both sides have, by side. */
export const SIDE_METRICS = {
  client: {
    duration: METRIC_CLIENT_CALL_DURATION,
    durationDescription: 'Duration of calls made, from subscription to the last reply',
    activeRequests: 'iroh.client.active_requests',
    activeRequestsDescription: 'Requests waiting for their reply',
    connections: 'iroh.client.connection.count',
    connectionsDescription: 'Open connections to servers',
    losses: 'iroh.client.connection.losses',
    lossesDescription: 'Connections to servers lost (not closed by the client)',
    io: 'iroh.client.network.io',
    ioDescription: 'Frame bytes exchanged with servers',
  },
  server: {
    duration: METRIC_SERVER_CALL_DURATION,
    durationDescription: 'Duration of calls served, from the request to the last reply',
    activeRequests: 'iroh.server.active_requests',
    activeRequestsDescription: 'Requests being handled',
    connections: 'iroh.server.connection.count',
    connectionsDescription: 'Open connections from clients',
    losses: 'iroh.server.connection.losses',
    lossesDescription: 'Connections from clients lost (not closed in order)',
    io: 'iroh.server.network.io',
    ioDescription: 'Frame bytes exchanged with clients',
  },
};

/**
 * Bucket boundaries of the duration histograms, in seconds: the conventions' boundaries
 * (5 ms to 10 s) with finer ones below 5 ms, where calls between nearby peers land (a
 * request over loopback takes tens of microseconds).
 */
export const DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/** gRPC status names by code, as `rpc.status_code` reports them. */
const GRPC_STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

export const GRPC_OK = 'OK';

/**
 * The status codes that make a served gRPC call an error (the gRPC conventions): the others
 * (NOT_FOUND, INVALID_ARGUMENT, …) are the caller's problem, not the server's. For the
 * caller every status but OK is an error.
 */
const GRPC_SERVER_ERRORS = new Set(['UNKNOWN', 'DEADLINE_EXCEEDED', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS']);

/** How a call ended, as spans and metrics report it. */
export interface CallOutcome {
  /** `error.type`; undefined when the call succeeded. */
  errorType: string | undefined;
  /** `rpc.status_code` (gRPC calls only). */
  statusCode: string | undefined;
  /** Whether the span's status is ERROR. */
  failed: boolean;
  /** The span status description. */
  message: string;
}

const IDENTIFIER = /^[A-Z][A-Z0-9_]{0,63}$/;
const ERROR_NAME = /^[A-Za-z_$][\w$.]{0,63}$/;
const MAX_MESSAGE = 512;

/**
 * The outcome of a call that ended with `error`: an error value as the transport carries it
 * (an `IrohClientError`, a transport error `{ status, code, message }`, an `RpcException`'s
 * error, a gRPC status `{ code, details }`, an `Error`, a string). `error.type` stays of low
 * cardinality: an upper-case `code`, else an `Error`'s name, else `_OTHER`.
 */
export function outcomeOf(error: unknown, grpc: boolean, side: 'client' | 'server'): CallOutcome {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (grpc && typeof code === 'number' && Number.isInteger(code) && code >= 0 && code < GRPC_STATUS_NAMES.length) {
    const statusCode = GRPC_STATUS_NAMES[code];
    const failed = code !== 0 && (side === 'client' || GRPC_SERVER_ERRORS.has(statusCode));
    return { errorType: failed ? statusCode : undefined, statusCode, failed, message: messageOf(error) };
  }
  return { errorType: errorTypeOf(error, code), statusCode: undefined, failed: true, message: messageOf(error) };
}

/** The outcome of a call its caller cancelled: not a failure of the call, but not a success. */
export function cancelledOutcome(grpc: boolean): CallOutcome {
  return { errorType: CANCELLED, statusCode: grpc ? CANCELLED : undefined, failed: false, message: 'cancelled' };
}

function errorTypeOf(error: unknown, code: unknown): string {
  if (typeof code === 'string' && IDENTIFIER.test(code)) return code;
  const codeName = typeof error === 'object' && error !== null ? (error as { codeName?: unknown }).codeName : undefined;
  if (typeof codeName === 'string' && IDENTIFIER.test(codeName)) return codeName;
  if (error instanceof Error && typeof error.name === 'string' && ERROR_NAME.test(error.name)) return error.name;
  return OTHER_ERROR;
}

/** A short description of an error value, for the span status. */
export function messageOf(error: unknown): string {
  let message: unknown;
  if (typeof error === 'string') message = error;
  else if (error instanceof Error) message = error.message;
  else if (typeof error === 'object' && error !== null) {
    const fields = error as { message?: unknown; details?: unknown };
    message = typeof fields.message === 'string' ? fields.message : fields.details;
  }
  if (typeof message !== 'string') return 'error';
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
}

/** The `rpc.method` of a gRPC path `/pkg.Service/Method`: `pkg.Service/Method`. */
export function grpcMethodOf(path: string): string {
  return path.charCodeAt(0) === 0x2f ? path.slice(1) : path;
}
