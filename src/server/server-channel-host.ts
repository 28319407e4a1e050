import type { LoggerService } from '@nestjs/common';
import type { ServerTelemetry } from '../observability';
import { ErrorCode, Frame, OversizedFrame, ReplyMessage, errorCodeName } from '../protocol';
import type { FrameScheduler } from './frame-scheduler';
import type { FrameWork } from './inbound-frames';
import type { ReadSlots } from './read-slots';
import type { ServerChannel } from './server-channel';
import type { ServerRequest } from './server-request';

/** What a channel asks of the server that owns it. */
export interface ServerChannelHost {
  readonly maxMessageSize: number;
  readonly logger: LoggerService;
  /** The server's HELLO features. */
  readonly features: number;
  /** Payloads at least this large are compressed when that pays (0: never). */
  readonly compressionThreshold: number;
  /** Shares the event loop among the streams that received frames. */
  readonly scheduler: FrameScheduler;
  /** Turns at reading for the streams receiving large frames. */
  readonly readSlots: ReadSlots;
  /** Reply bytes a client may leave unread before its further requests wait. */
  readonly maxPendingReplyBytes: number;
  /** The server's telemetry: bytes, and the spans of what the stream's requests run. */
  readonly telemetry: ServerTelemetry;
  onRequest(channel: ServerChannel, frame: Frame): FrameWork;
  onEvent(channel: ServerChannel, frame: Frame): FrameWork;
  /** A frame refused from its header (too large, or out of receive memory); its payload is skipped. */
  onOversized(channel: ServerChannel, frame: OversizedFrame): void;
  /** A DATA frame of `request`'s request stream: inflated if need be, then handed to its upload. */
  onUploadValue(channel: ServerChannel, request: ServerRequest, frame: Frame): FrameWork;
  /** A REQUEST (answered LIMIT_EXCEEDED), EVENT or CANCEL (dropped) that the receive memory could not hold while it waited. */
  onOutOfMemory(channel: ServerChannel, frame: Frame): void;
  writeReply(channel: ServerChannel, request: ServerRequest, message: ReplyMessage, serialize: boolean): void;
  requestStarted(channel: ServerChannel): void;
  requestEnded(channel: ServerChannel): void;
  onChannelClosed(channel: ServerChannel): void;
}

/** The error value sent to a client when the transport itself fails a request. */
export function transportErrorValue(code: ErrorCode, message: string) {
  return { status: 'error', code: errorCodeName(code), message };
}
