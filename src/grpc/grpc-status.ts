import type { Metadata } from '@grpc/grpc-js';

/** gRPC status codes, numbered as in the gRPC specification and `@grpc/grpc-js`'s `status`. */
export enum GrpcStatus {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

/** A call's outcome when it failed: what a gRPC status carries. */
export interface GrpcStatusObject {
  code: number;
  details: string;
  metadata: Metadata | null;
}

/**
 * The status a handler's error becomes, by the rule `@grpc/grpc-js`'s server applies (so the
 * same controller fails the same way over both transports): an integer `code` is the status
 * code, `details` (else `message`) the details; anything else is UNKNOWN. Nest's exception
 * filter has already turned an `RpcException` into its error object, and any other error
 * into `{ status: 'error', message: 'Internal server error' }`.
 */
export function statusOfHandlerError(error: unknown): GrpcStatusObject {
  if (typeof error !== 'object' || error === null) {
    return { code: GrpcStatus.UNKNOWN, details: error === undefined ? 'Unknown Error' : primitiveText(error), metadata: null };
  }
  const fields = error as { code?: unknown; details?: unknown; message?: unknown; metadata?: Metadata };
  const status: GrpcStatusObject = {
    code: GrpcStatus.UNKNOWN,
    details: 'message' in fields ? String(fields.message) : 'Unknown Error',
    metadata: fields.metadata ?? null,
  };
  if (typeof fields.code === 'number' && Number.isInteger(fields.code)) {
    status.code = fields.code;
    if (typeof fields.details === 'string') status.details = fields.details;
  }
  return status;
}

/**
 * A failed call as `@grpc/grpc-js` reports it to callers (its `ServiceError`): an Error whose
 * message is `<code> <STATUS NAME>: <details>`, with `code`, `details` and `metadata`.
 */
export interface GrpcServiceError extends Error, GrpcStatusObject {}

export function serviceError(status: GrpcStatusObject): GrpcServiceError {
  const message = `${status.code} ${GrpcStatus[status.code]}: ${status.details}`;
  return Object.assign(new Error(message), status);
}

/** A thrown value that is not an object, as text (a string, number, boolean, bigint or symbol). */
function primitiveText(value: unknown): string {
  return typeof value === 'symbol' ? value.toString() : `${value as string | number | boolean | bigint}`;
}
