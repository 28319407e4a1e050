import type { ProducerDeserializer, ProducerSerializer, ReadPacket } from '@nestjs/microservices';
import {
  EncodedPayload,
  Frame,
  FrameFlag,
  FrameType,
  ReplyMessage,
  decodeFrameValue,
  decodeReplyMessage,
  encodeEnvelope,
  isPromise,
  encodeRequestMessage,
  messageSize,
  messageTooLargeMessage,
} from '../protocol';
import { IrohClientError, IrohClientErrorCode } from './client-errors';

/**
 * A Nest packet as a REQUEST or EVENT payload: in the protocol's message format, or what the
 * client's own `serializer` (null: it has none) makes of it, in an envelope. `metadata`: the
 * packet's, with the trace context when there is one to pass on.
 */
export function serializePacket(
  packet: ReadPacket & { metadata?: unknown },
  pattern: string,
  metadata: unknown,
  serializer: ProducerSerializer | null,
  maxMessageSize: number,
): EncodedPayload {
  let payload: EncodedPayload;
  try {
    // Not compressed here: the channel's stream compresses with the codec its server reads.
    payload = serializer
      ? encodeEnvelope(
          serializer.serialize(metadata === packet.metadata ? { ...packet, pattern } : ({ ...packet, pattern, metadata } as ReadPacket)),
          0,
        )
      : encodeRequestMessage(pattern, packet.data, metadata, 0);
  } catch (err) {
    throw new IrohClientError(IrohClientErrorCode.SERIALIZATION_FAILED, `Message could not be serialized: ${(err as Error).message}`);
  }
  const size = messageSize(payload);
  if (size > maxMessageSize) {
    throw new IrohClientError(IrohClientErrorCode.MESSAGE_TOO_LARGE, messageTooLargeMessage(size, maxMessageSize));
  }
  return payload;
}

/**
 * An uncompressed reply frame as Nest's reply message. `deserializer` (the client's own, or
 * Nest's default) reads enveloped replies, and every reply when `custom` (the client was given
 * a deserializer of its own).
 */
export function deserializeReply(
  frame: Frame,
  maxMessageSize: number,
  deserializer: ProducerDeserializer,
  custom: boolean,
): ReplyMessage | Promise<ReplyMessage> {
  if (!(frame.flags & FrameFlag.ENVELOPE) && !custom) {
    return decodeReplyMessage(frame, maxMessageSize);
  }
  const raw = frame.flags & FrameFlag.ENVELOPE ? decodeFrameValue(frame, maxMessageSize) : decodeReplyMessage(frame, maxMessageSize);
  const deserialized = deserializer.deserialize(raw) as ReplyMessage | Promise<ReplyMessage>;
  // The frame type, not the payload, says whether the request is over.
  const withEnd = (message: ReplyMessage): ReplyMessage => ({
    ...message,
    isDisposed: message.isDisposed || frame.type !== FrameType.DATA,
  });
  return isPromise(deserialized) ? deserialized.then(withEnd) : withEnd(deserialized);
}
