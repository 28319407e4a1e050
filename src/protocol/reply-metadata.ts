import { ProtocolError } from './errors';
import { ErrorCode, Frame, FrameFlag, FrameType } from './frames';
import { EncodedPayload } from './payload';
import { readVarint, varintSize, writeVarint } from './varint';

/**
 * Reply metadata (docs/protocol.md, "Reply metadata"): what a handler sets for its caller, as
 * gRPC's response metadata, carried by the frame that ends the request (RESPONSE, END or
 * ERROR) with the REPLY_METADATA flag, toward a client whose HELLO announced
 * `Feature.REPLY_METADATA`. The payload then starts with a varint length and that many
 * bytes of a JSON object; the reply's own payload follows, compressed or not by its flags.
 */

/** Largest reply metadata, as JSON bytes (gRPC's default limit on metadata is 8 KiB). */
export const MAX_REPLY_METADATA_SIZE = 8 * 1024;

/** Reply metadata: a JSON object. */
export type ReplyMetadata = Record<string, unknown>;

/**
 * The JSON bytes of reply metadata a handler set. Throws a TypeError (the handler's own
 * error) for anything but a plain object that JSON can carry within
 * {@link MAX_REPLY_METADATA_SIZE}.
 */
export function encodeReplyMetadata(metadata: unknown): Buffer {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new TypeError('Reply metadata must be a plain object');
  }
  const json = JSON.stringify(metadata);
  const bytes = Buffer.from(json, 'utf8');
  if (bytes.length > MAX_REPLY_METADATA_SIZE) {
    throw new TypeError(`Reply metadata is ${bytes.length} bytes as JSON, more than ${MAX_REPLY_METADATA_SIZE}`);
  }
  return bytes;
}

/** A reply payload with reply metadata (JSON bytes from {@link encodeReplyMetadata}) before it. */
export function withReplyMetadata(payload: EncodedPayload, metadata: Buffer): EncodedPayload {
  const prefix = Buffer.allocUnsafe(varintSize(metadata.length));
  writeVarint(prefix, 0, metadata.length);
  return {
    bytes: Buffer.concat([prefix, metadata, payload.bytes], prefix.length + metadata.length + payload.bytes.length),
    flags: payload.flags | FrameFlag.REPLY_METADATA,
    uncompressedLength: payload.uncompressedLength,
  };
}

/**
 * A reply frame's metadata, and the frame without it (so that it decodes as any other);
 * `metadata` undefined when the frame has none. Throws a ProtocolError (MALFORMED_PAYLOAD)
 * for a prefix that is not a JSON object within {@link MAX_REPLY_METADATA_SIZE}, and for the
 * flag on a frame that does not end a request.
 */
export function takeReplyMetadata(frame: Frame): { frame: Frame; metadata: ReplyMetadata | undefined } {
  if (!(frame.flags & FrameFlag.REPLY_METADATA)) return { frame, metadata: undefined };
  if (frame.type !== FrameType.RESPONSE && frame.type !== FrameType.END && frame.type !== FrameType.ERROR) {
    throw new ProtocolError(ErrorCode.MALFORMED_PAYLOAD, 'reply metadata on a frame that does not end the request');
  }
  const payload = frame.payload;
  const cursor = { value: 0, offset: 0 };
  let ok: boolean;
  try {
    ok =
      readVarint(payload, payload.length, cursor) &&
      cursor.value <= MAX_REPLY_METADATA_SIZE &&
      cursor.offset + cursor.value <= payload.length;
  } catch {
    ok = false;
  }
  if (!ok) throw new ProtocolError(ErrorCode.MALFORMED_PAYLOAD, 'reply metadata: bad length');
  const end = cursor.offset + cursor.value;
  let metadata: unknown;
  try {
    metadata = JSON.parse(payload.toString('utf8', cursor.offset, end));
  } catch {
    metadata = undefined;
  }
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new ProtocolError(ErrorCode.MALFORMED_PAYLOAD, 'reply metadata: not a JSON object');
  }
  return {
    frame: { type: frame.type, flags: frame.flags & ~FrameFlag.REPLY_METADATA, id: frame.id, payload: payload.subarray(end) },
    metadata: metadata as ReplyMetadata,
  };
}
