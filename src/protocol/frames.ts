/**
 * The frame vocabulary of the nestjs-iroh wire protocol (see docs/protocol.md).
 *
 * Every frame is: one byte `version << 4 | type`, one flags byte, a varint request id,
 * a varint payload length, then the payload.
 */

/** Wire protocol version carried in the high nibble of every frame's first byte. */
export const PROTOCOL_VERSION = 1;

export enum FrameType {
  /** Client → server: a message expecting a reply. Payload: a request body. */
  REQUEST = 1,
  /** Server → client: the last (or only) value of a reply; ends the request. */
  RESPONSE = 2,
  /**
   * Server → client: one value of a streamed reply; more follow. Client → server, on a
   * gRPC call with a request stream: one request message.
   */
  DATA = 3,
  /**
   * Server → client: a streamed reply is complete. Client → server, on a gRPC call with a
   * request stream: the request stream is complete. Empty payload.
   */
  END = 4,
  /** Server → client: the request failed; ends the request. Payload: the error value. */
  ERROR = 5,
  /** Client → server: a fire-and-forget event (request id 0). Payload: a request body. */
  EVENT = 6,
  /** Either side: keep-alive probe; the peer answers PONG with the same id. */
  PING = 7,
  /** Either side: answer to PING. */
  PONG = 8,
  /** Client → server: the client no longer wants the reply to this request id. */
  CANCEL = 9,
  /** Either side: the stream is being closed. Payload: varint error code + UTF-8 reason. */
  GOAWAY = 10,
}

const FRAME_TYPE_NAMES: Record<number, string> = {
  [FrameType.REQUEST]: 'REQUEST',
  [FrameType.RESPONSE]: 'RESPONSE',
  [FrameType.DATA]: 'DATA',
  [FrameType.END]: 'END',
  [FrameType.ERROR]: 'ERROR',
  [FrameType.EVENT]: 'EVENT',
  [FrameType.PING]: 'PING',
  [FrameType.PONG]: 'PONG',
  [FrameType.CANCEL]: 'CANCEL',
  [FrameType.GOAWAY]: 'GOAWAY',
};

export function isKnownFrameType(type: number): type is FrameType {
  return FRAME_TYPE_NAMES[type] !== undefined;
}

export function frameTypeName(type: number): string {
  return FRAME_TYPE_NAMES[type] ?? `UNKNOWN(${type})`;
}

/**
 * Bits of the flags byte. Unknown bits are a protocol error. Bits added after protocol 1.0 are
 * sent only to a peer whose HELLO announced the matching feature (BROTLI, PATTERN_REF,
 * REPLY_METADATA).
 */
export enum FrameFlag {
  NONE = 0,
  /** The payload is compressed with raw DEFLATE. */
  COMPRESSED = 0x01,
  /** The value in the payload is raw bytes, not JSON. */
  BINARY = 0x02,
  /**
   * The payload is a whole packet as a custom serializer produced it, not the compact
   * pattern/metadata/body layout.
   */
  ENVELOPE = 0x04,
  /**
   * REQUEST only: the payload starts with a varint, the milliseconds the caller has left
   * before its deadline; the request body follows. Sent only to a server whose HELLO
   * announced {@link Feature.DEADLINE}.
   */
  DEADLINE = 0x08,
  /**
   * The payload (after any prefix outside compression) is compressed with brotli. Sent only
   * to a peer whose HELLO announced {@link Feature.BROTLI}.
   */
  BROTLI = 0x10,
  /**
   * REQUEST and EVENT in the compact layout: the payload starts with a pattern reference (a
   * pattern defined once per stream, then named by its index), and the body that follows has
   * no pattern field. Sent only to a peer whose HELLO announced {@link Feature.PATTERN_TABLE}.
   */
  PATTERN_REF = 0x40,
  /**
   * RESPONSE, END and ERROR only: the payload starts with the handler's reply metadata (a
   * varint length and a JSON object; see `reply-metadata.ts`); the reply's payload follows.
   * Sent only to a client whose HELLO announced {@link Feature.REPLY_METADATA}.
   */
  REPLY_METADATA = 0x20,
}

export const KNOWN_FLAGS =
  FrameFlag.COMPRESSED |
  FrameFlag.BINARY |
  FrameFlag.ENVELOPE |
  FrameFlag.DEADLINE |
  FrameFlag.BROTLI |
  FrameFlag.REPLY_METADATA |
  FrameFlag.PATTERN_REF;

/**
 * Error codes: carried in GOAWAY frames, in per-request transport errors, and as the QUIC
 * application close code of a connection closed by the transport.
 */
export enum ErrorCode {
  /** Orderly close. */
  NO_ERROR = 0,
  /** A frame could not be parsed; the stream and its connection are closed. */
  PROTOCOL_ERROR = 1,
  /** The frame's version is not one this peer speaks. */
  UNSUPPORTED_VERSION = 2,
  /** The frame's type or flags are unknown. */
  UNKNOWN_FRAME = 3,
  /** A message exceeds the receiver's maximum message size (per request). */
  MESSAGE_TOO_LARGE = 4,
  /** A frame parsed but its payload did not (per request). */
  MALFORMED_PAYLOAD = 5,
  /** The request was cancelled. */
  CANCELLED = 6,
  /** The peer is shutting down. */
  GOING_AWAY = 7,
  /** The peer is not allowed to connect or to call this. */
  UNAUTHORIZED = 8,
  /** A configured limit was exceeded. */
  LIMIT_EXCEEDED = 9,
  /** The peer failed while handling the frame. */
  INTERNAL_ERROR = 10,
}

export function errorCodeName(code: number): string {
  return ErrorCode[code] ?? `UNKNOWN_ERROR_${code}`;
}

/** A decoded frame. `payload` may share memory with the received chunk. */
export interface Frame {
  type: FrameType;
  flags: number;
  id: number;
  payload: Buffer;
  /**
   * REQUEST and EVENT frames that named their pattern by reference ({@link FrameFlag.PATTERN_REF}):
   * the pattern, resolved by the stream that received the frame, which also removed the
   * reference from `payload` and the flag from `flags`. The body then has no pattern field.
   */
  pattern?: string;
}

/**
 * The header of a frame the receiver refused before reading its payload (the payload is
 * skipped): its length exceeds the receiver's limit, or the receiver's memory budget could
 * not hold it (`outOfBudget`).
 */
export interface OversizedFrame {
  type: FrameType;
  flags: number;
  id: number;
  length: number;
  /** Refused because the receive budget could not hold the payload, not for its size. */
  outOfBudget?: boolean;
}
