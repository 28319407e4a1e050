import { ProtocolError } from './errors';
import { ErrorCode } from './frames';
import { readVarint, varintSize, writeVarint } from './varint';

/**
 * What each side of a stream supports beyond protocol 1.0, agreed when the stream starts
 * (docs/protocol.md, "HELLO"). The client's first frame is a PING with id {@link HELLO_ID}
 * whose payload is its HELLO; a server that knows HELLO answers with a PONG of the same id
 * carrying its own. A server of protocol 1.0 answers every PING with an empty PONG, so an
 * empty payload means "none of these features": each side uses a feature only once the other
 * has announced it, and a peer never receives a frame it cannot read.
 */

/** The id of the PING/PONG pair that carries HELLO payloads (keep-alive PINGs use 1 and up). */
export const HELLO_ID = 0;

/** The revision of the HELLO layout this implementation writes. */
export const HELLO_REVISION = 1;

/** Features, as bits of a HELLO's feature set. Unknown bits are ignored. */
export enum Feature {
  /** REQUEST frames may carry the caller's remaining time ({@link FrameFlag.DEADLINE}). */
  DEADLINE = 1 << 0,
  /**
   * The server's shutdown starts with GOAWAY (GOING_AWAY) while requests in flight still
   * finish; requests that arrive after it are refused with GOING_AWAY, never run.
   */
  DRAIN = 1 << 1,
  /** Payloads may be compressed with brotli ({@link FrameFlag.BROTLI}); the sender reads them too. */
  BROTLI = 1 << 2,
  /**
   * REQUEST and EVENT frames may name their pattern by reference ({@link FrameFlag.PATTERN_REF}):
   * the receiver keeps a per-stream pattern table (docs/protocol.md, "Pattern table").
   */
  PATTERN_TABLE = 1 << 3,
  /**
   * The client reads reply metadata: the frame that ends a request may carry what its handler
   * set ({@link FrameFlag.REPLY_METADATA}).
   */
  REPLY_METADATA = 1 << 4,
}

export interface Hello {
  /** The sender's HELLO revision (0 for a peer that sent an empty payload). */
  revision: number;
  /** Bits of {@link Feature}. */
  features: number;
}

/** No HELLO: a peer of protocol 1.0. */
export const NO_HELLO: Hello = { revision: 0, features: 0 };

/** HELLO payload: varint revision, varint feature bits; later revisions may append fields. */
export function encodeHello(features: number): Buffer {
  const bytes = Buffer.allocUnsafe(varintSize(HELLO_REVISION) + varintSize(features));
  writeVarint(bytes, writeVarint(bytes, 0, HELLO_REVISION), features);
  return bytes;
}

/** Reads a HELLO payload; an empty one is {@link NO_HELLO}. Throws a ProtocolError when malformed. */
export function decodeHello(payload: Buffer): Hello {
  if (payload.length === 0) return NO_HELLO;
  const cursor = { value: 0, offset: 0 };
  try {
    if (readVarint(payload, payload.length, cursor)) {
      const revision = cursor.value;
      if (readVarint(payload, payload.length, cursor)) return { revision, features: cursor.value };
    }
  } catch {
    // Reported below.
  }
  throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'malformed HELLO');
}

/** The features both sides announced. */
export function sharedFeatures(ours: number, theirs: Hello): number {
  return ours & theirs.features;
}
