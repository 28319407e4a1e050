import { ErrorCode, Frame, FrameFlag, ProtocolError } from '../protocol';

/** Why a request failed on the client's side of the transport. */
export enum IrohClientErrorCode {
  /** The server could not be reached (after the configured retries). */
  CONNECT_FAILED = 'CONNECT_FAILED',
  /** The connection to the server was lost or closed before the reply came. */
  CONNECTION_LOST = 'CONNECTION_LOST',
  /** The client was closed with the request in flight. */
  CLIENT_CLOSED = 'CLIENT_CLOSED',
  /** No reply within the client's `timeout`. */
  TIMEOUT = 'TIMEOUT',
  /** The message is larger than `maxMessageSize`. */
  MESSAGE_TOO_LARGE = 'MESSAGE_TOO_LARGE',
  /** The request could not be encoded (for example a circular structure). */
  SERIALIZATION_FAILED = 'SERIALIZATION_FAILED',
  /** The server refused this client (it is not in the server's `allowPeers`). */
  UNAUTHORIZED = 'UNAUTHORIZED',
  /** The server broke the protocol. */
  PROTOCOL_ERROR = 'PROTOCOL_ERROR',
}

/** The error a `ClientIroh` Observable fails with when the transport, not the handler, failed. */
export class IrohClientError extends Error {
  constructor(
    readonly code: IrohClientErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'IrohClientError';
  }
}

/** QUIC application close code the server uses to refuse a peer (ErrorCode.UNAUTHORIZED). */
const UNAUTHORIZED_CLOSE = /\(code 8\)|error_code: 8\b/;

/** The error for a connection that ended with `reason` (the binding's close description). */
export function connectionLostError(reason: string): IrohClientError {
  if (UNAUTHORIZED_CLOSE.test(reason)) {
    return new IrohClientError(
      IrohClientErrorCode.UNAUTHORIZED,
      `The server refused this client (not allowed by the server's allowPeers): ${reason}`,
    );
  }
  return new IrohClientError(IrohClientErrorCode.CONNECTION_LOST, `Connection lost: ${reason}`);
}

/** A reply that could not be decoded, as the request fails with: too large, or malformed. */
export function replyError(err: unknown): IrohClientError {
  const message = err instanceof Error ? err.message : String(err);
  return err instanceof ProtocolError && err.code === ErrorCode.MESSAGE_TOO_LARGE
    ? new IrohClientError(IrohClientErrorCode.MESSAGE_TOO_LARGE, `Reply refused: ${message}`)
    : new IrohClientError(IrohClientErrorCode.PROTOCOL_ERROR, `Malformed reply: ${message}`);
}

/** A protocol violation by the server, as the error requests fail with. */
export function protocolFailure(error: ProtocolError): IrohClientError {
  return new IrohClientError(IrohClientErrorCode.PROTOCOL_ERROR, `Protocol error (${error.codeName}): ${error.message}`);
}

/**
 * A transport error GOING_AWAY: a server refused the request because it is shutting down,
 * before running it (its value is `{ "status": "error", "code": "GOING_AWAY", … }`).
 */
export function isGoingAwayRefusal(frame: Frame): boolean {
  if (frame.flags !== (FrameFlag.NONE as number) || frame.payload.length > 256 || !frame.payload.includes('GOING_AWAY')) return false;
  try {
    const value = JSON.parse(frame.payload.toString('utf8')) as { status?: unknown; code?: unknown } | null;
    return value?.status === 'error' && value.code === 'GOING_AWAY';
  } catch {
    return false;
  }
}
