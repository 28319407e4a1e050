import { isGrpcStatusValue } from '../grpc-wire';
import { IrohClientError, IrohClientErrorCode } from '../../client/client-errors';
import { NO_MESSAGE_HANDLER } from '../../constants';
import { metadataFromWire } from '../grpc-metadata';
import { GrpcStatus, GrpcStatusObject } from '../grpc-status';

/** Transport error codes (ERROR values `{ status: 'error', code, message }`) as gRPC statuses. */
const TRANSPORT_CODES: Record<string, GrpcStatus> = {
  MESSAGE_TOO_LARGE: GrpcStatus.RESOURCE_EXHAUSTED,
  LIMIT_EXCEEDED: GrpcStatus.RESOURCE_EXHAUSTED,
  MALFORMED_PAYLOAD: GrpcStatus.INTERNAL,
  INTERNAL_ERROR: GrpcStatus.INTERNAL,
  CANCELLED: GrpcStatus.CANCELLED,
  GOING_AWAY: GrpcStatus.UNAVAILABLE,
  UNAUTHORIZED: GrpcStatus.PERMISSION_DENIED,
};

/** Failures on the client's side of the transport as gRPC statuses. */
const CLIENT_CODES: Record<IrohClientErrorCode, GrpcStatus> = {
  [IrohClientErrorCode.CONNECT_FAILED]: GrpcStatus.UNAVAILABLE,
  [IrohClientErrorCode.CONNECTION_LOST]: GrpcStatus.UNAVAILABLE,
  [IrohClientErrorCode.CLIENT_CLOSED]: GrpcStatus.UNAVAILABLE,
  [IrohClientErrorCode.TIMEOUT]: GrpcStatus.DEADLINE_EXCEEDED,
  [IrohClientErrorCode.MESSAGE_TOO_LARGE]: GrpcStatus.RESOURCE_EXHAUSTED,
  [IrohClientErrorCode.SERIALIZATION_FAILED]: GrpcStatus.INTERNAL,
  [IrohClientErrorCode.UNAUTHORIZED]: GrpcStatus.PERMISSION_DENIED,
  [IrohClientErrorCode.PROTOCOL_ERROR]: GrpcStatus.INTERNAL,
};

/**
 * The status a failed call reports: the server's gRPC status as sent, or the transport's
 * failure mapped to the status `@grpc/grpc-js` reports for the like (an expired deadline is
 * DEADLINE_EXCEEDED, a lost connection UNAVAILABLE, an unknown method UNIMPLEMENTED).
 */
export function statusOfFailure(failure: unknown, path: string): GrpcStatusObject {
  if (isGrpcStatusValue(failure)) {
    return { code: failure.code, details: failure.details, metadata: metadataFromWire(failure.metadata) };
  }
  const status = (code: GrpcStatus, details: string): GrpcStatusObject => ({ code, details, metadata: metadataFromWire(undefined) });
  if (failure instanceof IrohClientError) {
    if (failure.code === IrohClientErrorCode.TIMEOUT) return status(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded');
    return status(CLIENT_CODES[failure.code] ?? GrpcStatus.UNKNOWN, failure.message);
  }
  if (failure === NO_MESSAGE_HANDLER) return status(GrpcStatus.UNIMPLEMENTED, `The server does not implement the method ${path}`);
  const transport = failure as { status?: unknown; code?: unknown; message?: unknown };
  if (typeof transport === 'object' && transport !== null && transport.status === 'error' && typeof transport.code === 'string') {
    return status(TRANSPORT_CODES[transport.code] ?? GrpcStatus.UNKNOWN, String(transport.message));
  }
  if (failure instanceof Error) return status(GrpcStatus.UNKNOWN, failure.message);
  return status(GrpcStatus.UNKNOWN, typeof failure === 'string' ? failure : JSON.stringify(failure));
}
