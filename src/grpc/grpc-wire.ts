import { ErrorCode, ProtocolError } from '../protocol';

// How a gRPC call travels in the frames of the nestjs-iroh protocol (docs/protocol.md,
// "gRPC calls"): its call header in a REQUEST's metadata, its status in an ERROR.

/**
 * The metadata field of a gRPC call's REQUEST body (see docs/protocol.md, "gRPC calls").
 * The pattern of such a request is the method's path, `/package.Service/Method`.
 */
export interface GrpcCallHeader {
  /** The call's gRPC metadata: key → values; values of `-bin` keys are base64. */
  headers?: Record<string, string[]>;
  /** Milliseconds until the client's deadline, when it set one. */
  timeoutMs?: number;
  /** The request messages follow as DATA frames from the client, ended by END. */
  requestStream?: boolean;
  /** The client encodes messages with protobuf and wants the replies so encoded (else JSON). */
  protobuf?: boolean;
}

/** The value of an ERROR frame that ends a gRPC call: a gRPC status. */
export interface GrpcStatusValue {
  code: number;
  details: string;
  /** Trailing metadata, in the layout of {@link GrpcCallHeader.headers}. */
  metadata?: Record<string, string[]>;
}

const GRPC_METHOD_PATH = /^\/[^/]+\/[^/]+$/;

/** True for a pattern shaped as a gRPC method path, `/package.Service/Method`. */
export function isGrpcMethodPath(pattern: string): boolean {
  return pattern.charCodeAt(0) === 0x2f && GRPC_METHOD_PATH.test(pattern);
}

/** The call header carried by a REQUEST's metadata; throws a ProtocolError when it is not one. */
export function readGrpcCallHeader(metadata: unknown): GrpcCallHeader {
  if (metadata === undefined) return {};
  const header = metadata as GrpcCallHeader;
  const valid =
    typeof metadata === 'object' &&
    metadata !== null &&
    (header.headers === undefined || isHeaderMap(header.headers)) &&
    (header.timeoutMs === undefined || (typeof header.timeoutMs === 'number' && header.timeoutMs >= 0)) &&
    (header.requestStream === undefined || typeof header.requestStream === 'boolean') &&
    (header.protobuf === undefined || typeof header.protobuf === 'boolean');
  if (!valid) throw new ProtocolError(ErrorCode.MALFORMED_PAYLOAD, 'gRPC call header is malformed');
  return header;
}

/** True for an ERROR value that is a gRPC status (transport errors have a string `code`). */
export function isGrpcStatusValue(value: unknown): value is GrpcStatusValue {
  const status = value as GrpcStatusValue;
  return (
    typeof value === 'object' &&
    value !== null &&
    Number.isInteger(status.code) &&
    typeof status.details === 'string' &&
    (status.metadata === undefined || isHeaderMap(status.metadata))
  );
}

/** True for metadata in the wire layout: an object of string arrays. */
export function isHeaderMap(value: unknown): value is Record<string, string[]> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const values of Object.values(value)) {
    if (!Array.isArray(values) || !values.every(v => typeof v === 'string')) return false;
  }
  return true;
}
