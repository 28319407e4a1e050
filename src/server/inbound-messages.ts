import type { LoggerService } from '@nestjs/common';
import {
  DecodedRequest,
  ErrorCode,
  Frame,
  FrameType,
  OversizedFrame,
  ProtocolError,
  frameTypeName,
  messageTooLargeMessage,
} from '../protocol';
import type { Admission } from './admission';
import type { EventAdmission } from './event-admission';
import type { FrameWork } from './inbound-frames';
import { DecodeFailure, InboundDecoder, isDecodeFailure } from './inbound-decoder';
import type { RequestDispatcher } from './nest-dispatcher';
import type { ServerChannel } from './server-channel';
import type { ServerRequest } from './server-request';
import { ThrottledWarning } from './throttled-warning';

/** What taking in requests and events needs from the server. */
export interface InboundMessagesHost {
  readonly logger: LoggerService;
  readonly dispatcher: RequestDispatcher;
  /** True once the server is shutting down: events are dropped. */
  readonly closing: boolean;
}

/**
 * Takes in the REQUEST, EVENT and request-stream DATA frames a stream received: admits them
 * (request and event limits), decodes them within the memory and inflate budgets, and hands
 * them to the dispatcher, or answers why not. Warnings a peer can cause at will are written
 * at most once per 10 s.
 */
export class InboundMessages {
  private readonly malformed: ThrottledWarning;
  private readonly droppedEvents: ThrottledWarning;

  constructor(
    private readonly host: InboundMessagesHost,
    private readonly admission: Admission,
    private readonly events: EventAdmission,
    private readonly decoder: InboundDecoder,
  ) {
    this.malformed = new ThrottledWarning(host.logger, 'malformed or refused messages');
    this.droppedEvents = new ThrottledWarning(host.logger, 'events dropped');
  }

  onRequest(channel: ServerChannel, frame: Frame): FrameWork {
    if (channel.isInvalidRequestId(frame.id)) {
      channel.onProtocolError(new ProtocolError(ErrorCode.PROTOCOL_ERROR, `request id ${frame.id} is invalid or in use`));
      return;
    }
    const refusal = this.admission.check(channel);
    if (refusal) {
      channel.refuseRequest(frame.id, refusal.code, refusal.message);
      return;
    }
    return this.decoder.decodeMessage(channel, frame, result => {
      if (channel.isClosed) return;
      if (isDecodeFailure(result)) return this.refuse(channel, frame, result);
      const request = channel.beginRequest(frame.id, result.timeoutMs);
      this.host.dispatcher.dispatchRequest(request, result, channel);
    });
  }

  /**
   * An event starts at once if the event limits leave room; otherwise the stream waits for
   * room (its later frames wait behind it, and it reads nothing more meanwhile).
   */
  onEvent(channel: ServerChannel, frame: Frame): FrameWork {
    if (this.host.closing) {
      this.droppedEvents.warn(`Dropped an event from ${channel.remoteEndpointId}: server is shutting down`);
      return;
    }
    if (this.events.tryStart(channel.peer, () => this.runEvent(channel, frame))) return;
    // An event received is handled even if its stream closed meanwhile (as over TCP).
    return this.events.whenRoom(channel.peer).then(() => this.onEvent(channel, frame));
  }

  /**
   * A frame that could not wait for lack of receive memory: a request is refused, an event or
   * a CANCEL dropped (the request it meant to cancel runs to its end; its client has stopped
   * waiting for it).
   */
  onOutOfMemory(channel: ServerChannel, frame: Frame): void {
    const message = 'the server is out of receive memory (maxReceiveMemory)';
    if (frame.type === FrameType.EVENT) {
      this.droppedEvents.warn(`Dropped an event from ${channel.remoteEndpointId}: ${message}`);
    } else if (frame.type === FrameType.CANCEL) {
      this.malformed.warn(`Dropped a CANCEL from ${channel.remoteEndpointId}: ${message}`);
    } else if (!channel.isInvalidRequestId(frame.id)) {
      this.malformed.warn(`Refused a request from ${channel.remoteEndpointId}: ${message}`);
      channel.refuseRequest(frame.id, ErrorCode.LIMIT_EXCEEDED, `Request refused: ${message}`);
    }
  }

  onUploadValue(channel: ServerChannel, request: ServerRequest, frame: Frame): FrameWork {
    return this.decoder.inflateUpload(channel, frame, result => {
      const upload = request.upload;
      if (!upload || channel.isClosed) return;
      if (!isDecodeFailure(result)) return upload.onValue(result);
      this.malformed.warn(`Refused a request stream message from ${channel.remoteEndpointId}: ${result.message}`);
      if (result.bad) channel.recordBadMessage();
      request.fail(result.code, result.message);
    });
  }

  /**
   * A frame refused from its header: larger than `maxMessageSize` (MESSAGE_TOO_LARGE), or
   * more than the receive memory can hold (LIMIT_EXCEEDED). A request is answered, a request
   * stream failed, anything else dropped; each counts as a bad message.
   */
  onOversized(channel: ServerChannel, frame: OversizedFrame, maxMessageSize: number): void {
    channel.recordBadMessage();
    if (channel.isClosed) return;
    const { code, message } = frame.outOfBudget
      ? {
          code: ErrorCode.LIMIT_EXCEEDED,
          message: `Message of ${frame.length} bytes refused: the server is out of receive memory (maxReceiveMemory)`,
        }
      : { code: ErrorCode.MESSAGE_TOO_LARGE, message: messageTooLargeMessage(frame.length, maxMessageSize) };
    const request = frame.type === FrameType.DATA ? channel.request(frame.id) : undefined;
    if (request?.upload) {
      this.malformed.warn(`Refused a request stream from ${channel.remoteEndpointId}: ${message}`);
      request.fail(code, message);
    } else if (frame.type === FrameType.REQUEST && !channel.isInvalidRequestId(frame.id)) {
      this.malformed.warn(`Refused a request from ${channel.remoteEndpointId}: ${message}`);
      channel.refuseRequest(frame.id, code, message);
    } else {
      this.malformed.warn(`Dropped a ${frameTypeName(frame.type)} frame from ${channel.remoteEndpointId}: ${message}`);
    }
  }

  /** An event's handler, once admission lets it run: decoded (inflated if need be), then dispatched. */
  private runEvent(channel: ServerChannel, frame: Frame): Promise<void> {
    return new Promise<DecodedRequest | null>(resolve => {
      const pending = this.decoder.decodeMessage(channel, frame, result => {
        if (!isDecodeFailure(result)) return resolve(result);
        this.refuse(channel, frame, result);
        resolve(null);
      });
      // A payload inflated for a stream that closed meanwhile never comes back.
      if (pending)
        pending.then(
          () => resolve(null),
          () => resolve(null),
        );
    }).then(decoded => (decoded ? this.host.dispatcher.dispatchEvent(decoded, channel) : undefined));
  }

  /** Answers a message that could not be decoded (REQUEST) or drops it (EVENT), and counts it if it was bad. */
  private refuse(channel: ServerChannel, frame: Frame, failure: DecodeFailure): void {
    const isEvent = frame.type === FrameType.EVENT;
    const message = failure.bad ? `Malformed ${isEvent ? 'event' : 'request'}: ${failure.message}` : failure.message;
    this.malformed.warn(`${isEvent ? 'Dropped an event' : 'Refused a request'} from ${channel.remoteEndpointId}: ${message}`);
    if (!isEvent) channel.refuseRequest(frame.id, failure.code, message);
    if (failure.bad) channel.recordBadMessage();
  }
}
