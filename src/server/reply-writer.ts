import type { LoggerService } from '@nestjs/common';
import type { ConsumerSerializer } from '@nestjs/microservices';
import {
  ErrorCode,
  Feature,
  FrameType,
  ReplyMessage,
  encodeEnvelope,
  encodeReplyMessage,
  isFinalReply,
  messageSize,
  messageTooLargeMessage,
  replyFrameType,
  withReplyMetadata,
} from '../protocol';
import type { ServerChannel } from './server-channel';
import type { ServerRequest } from './server-request';

export interface ReplyWriterOptions {
  maxMessageSize: number;
  maxPendingReplyBytes: number;
  /** The custom serializer, when the server has one. */
  serializer: ConsumerSerializer | null;
  logger: LoggerService;
}

/**
 * Turns reply messages into frames: encodes them (through the custom serializer, if any),
 * and enforces the limits on what is sent — the message size, and the bytes a slow client
 * may leave queued — failing the request rather than breaking either.
 */
export class ReplyWriter {
  constructor(private readonly options: ReplyWriterOptions) {}

  /** Writes one reply of `request`; `serialize` false bypasses the custom serializer (gRPC calls). */
  write(channel: ServerChannel, request: ServerRequest, message: ReplyMessage, serialize: boolean): void {
    const { serializer, maxMessageSize, maxPendingReplyBytes } = this.options;
    // Nobody will read it: encoding (and compressing) it would be wasted work.
    if (channel.isClosed) {
      request.cancel();
      return;
    }
    const type = replyFrameType(message);
    let payload;
    try {
      // Not compressed here: the channel's stream compresses with the codec its client reads.
      payload =
        serialize && serializer
          ? encodeEnvelope(serializer.serialize({ ...message, id: String(request.id) }), 0)
          : encodeReplyMessage(message, 0);
    } catch (err) {
      this.fail(request, ErrorCode.INTERNAL_ERROR, `Reply could not be serialized: ${errorMessage(err)}`);
      return;
    }
    const final = isFinalReply(type);
    // What the handler set for its caller travels with the reply's end, to clients that read it.
    if (final && request.replyMetadata && channel.supports(Feature.REPLY_METADATA)) {
      payload = withReplyMetadata(payload, request.replyMetadata);
    }
    const size = messageSize(payload);
    if (size > maxMessageSize) {
      this.fail(request, ErrorCode.MESSAGE_TOO_LARGE, `Reply: ${messageTooLargeMessage(size, maxMessageSize)}`);
      return;
    }
    if (type === FrameType.DATA && channel.pendingBytes + payload.bytes.length > maxPendingReplyBytes) {
      this.fail(
        request,
        ErrorCode.LIMIT_EXCEEDED,
        `Streamed reply dropped: the client does not read fast enough (maxPendingReplyBytes ${maxPendingReplyBytes})`,
      );
      return;
    }
    channel.write(type, request.id, payload);
    if (type !== FrameType.END && type !== FrameType.ERROR) request.telemetry.onValue();
    if (final) request.finished(type === FrameType.ERROR ? message.err : undefined);
  }

  private fail(request: ServerRequest, code: ErrorCode, message: string): void {
    this.options.logger.error(`Request ${request.id} from ${request.remoteEndpointId}: ${message}`);
    request.fail(code, message);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
