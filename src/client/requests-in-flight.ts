import { Frame, FrameType, IdTable, OversizedFrame, ReplyMessage, isFinalReply, messageTooLargeMessage } from '../protocol';
import type { ClientChannelHost } from './client-channel';
import { IrohClientError, IrohClientErrorCode, isGoingAwayRefusal, replyError } from './client-errors';
import { ClientRequest } from './client-request';

/** Request ids stay below 2^31 so their varints stay short; 0 is reserved for events. */
export const MAX_REQUEST_ID = 0x7fffffff;

/** What the requests in flight need of the channel they were written to. */
export interface RequestsWire {
  /** Writes END for request `id` (its request stream ends). */
  writeEnd(id: number): void;
  /** Writes CANCEL for request `id`. */
  writeCancel(id: number): void;
  /** The server refused a request because it is shutting down: nothing new goes to it. */
  startDraining(reason: string): void;
  /** The last request in flight ended. */
  emptied(): void;
}

/**
 * The requests written on one stream and not ended yet, by id: the ids they get, and the reply
 * frames routed to them (late replies to cancelled or timed-out requests are dropped).
 */
export class RequestsInFlight {
  private readonly pending = new IdTable<ClientRequest>();
  private nextId = 1;
  private readonly freeIds: number[] = [];

  constructor(
    private readonly host: Pick<ClientChannelHost, 'maxMessageSize' | 'decodeReply'>,
    private readonly wire: RequestsWire,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  has(id: number): boolean {
    return this.pending.has(id);
  }

  /** Adds a request about to be written; returns its id. */
  add(request: ClientRequest): number {
    const id = this.allocateId();
    this.pending.set(id, request);
    return id;
  }

  /** Forgets a request and sends CANCEL. Its id is not reused: the server may still send frames for it. */
  abandon(id: number): void {
    if (!this.forget(id)) return;
    this.wire.writeCancel(id);
  }

  /** Fails every request (they are forgotten first). */
  failAll(error: IrohClientError): void {
    const pending = this.pending.valuesNow();
    this.pending.clear();
    // Written requests may have run: they fail, and are never sent again.
    for (const request of pending) request.fail(error);
  }

  /** RESPONSE, DATA, END or ERROR for a request. */
  onReply(frame: Frame): void {
    const request = this.pending.get(frame.id);
    if (!request) return; // cancelled or timed out: late replies are dropped
    const final = isFinalReply(frame.type);
    if (final) {
      this.settle(frame.id, request);
      if (frame.type === FrameType.ERROR && isGoingAwayRefusal(frame)) {
        // The server is shutting down (one of protocol 1.0 says so only this way): send it
        // nothing more. The request never ran there, so another peer may take it.
        this.wire.startDraining('GOING_AWAY: the server refused a request, it is shutting down');
        if (request.retryElsewhere()) return;
      }
    }
    let message: ReplyMessage | Promise<ReplyMessage>;
    try {
      message = request.decodeReply(frame, this.host);
    } catch (err) {
      if (!final) this.abandon(frame.id);
      request.fail(replyError(err));
      return;
    }
    if (final) request.finish(message);
    else request.reply(message);
  }

  /** A reply larger than the client accepts: its request fails. */
  onOversized(frame: OversizedFrame): void {
    const request = this.pending.get(frame.id);
    if (!request) return;
    if (isFinalReply(frame.type)) this.settle(frame.id, request);
    else this.abandon(frame.id);
    request.fail(
      new IrohClientError(
        IrohClientErrorCode.MESSAGE_TOO_LARGE,
        `Reply refused: ${messageTooLargeMessage(frame.length, this.host.maxMessageSize)}`,
      ),
    );
  }

  /**
   * Ids stay small, so their varints stay one byte (every byte costs ~0.25 µs through the
   * binding): an id whose request ended with a final reply is reused first. Ids of cancelled
   * or timed-out requests are not, since the server may still send frames for them.
   */
  private allocateId(): number {
    const reused = this.freeIds.pop();
    if (reused !== undefined) return reused;
    let id = this.nextId;
    while (this.pending.has(id)) id = id >= MAX_REQUEST_ID ? 1 : id + 1;
    this.nextId = id >= MAX_REQUEST_ID ? 1 : id + 1;
    // After a wrap the counter may hand out ids that are also waiting for reuse.
    if (this.nextId === 1) this.freeIds.length = 0;
    return id;
  }

  /** Removes a request; the wire hears when none is left. */
  private forget(id: number): boolean {
    if (!this.pending.delete(id)) return false;
    if (this.pending.size === 0) this.wire.emptied();
    return true;
  }

  /**
   * The server ended the request: its request stream (if open) ends too, and its id is free
   * again. END goes first: forgetting the last request may close a draining channel.
   */
  private settle(id: number, request: ClientRequest): void {
    if (request.closeUpload()) this.wire.writeEnd(id);
    this.forget(id);
    this.freeIds.push(id);
  }
}
