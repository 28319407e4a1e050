import { ClientCallTelemetry, NOOP_CLIENT_CALL } from '../observability';
import type { ConnectionPath } from '../observability';
import {
  EncodedPayload,
  Feature,
  Frame,
  FrameFlag,
  ReplyMessage,
  ReplyMetadata,
  isPromise,
  messageSize,
  takeReplyMetadata,
  withDeadline,
} from '../protocol';
import { IrohClientError, IrohClientErrorCode } from './client-errors';

/** A reply as the client delivers it: Nest's reply message, with the handler's reply metadata on the last one. */
export interface ClientReply extends ReplyMessage {
  replyMetadata?: ReplyMetadata;
}

export type ReplyCallback = (message: ClientReply) => void;

/** Decodes one reply frame of a request (default: the channel host's decoder). */
export type ReplyDecoder = (frame: Frame) => ReplyMessage;

/** The channel a request was written to, as the request sees it. */
export interface RequestCarrier {
  /** Writes one request-stream message (DATA). */
  sendData(id: number, payload: EncodedPayload): void;
  /** Ends the request stream (END). */
  sendEnd(id: number): void;
  /** Forgets the request and tells the server (CANCEL); the channel delivers nothing more. */
  abandon(id: number): void;
}

/** Where requests go, and come back to when a server refused one without running it. */
export interface RequestRouter {
  /** Sends the request to a peer that has not refused it, or queues it; false when none may take it. */
  reroute(request: ClientRequest): boolean;
  /** Forgets a queued request (it timed out or was cancelled before being written). */
  dequeue(request: ClientRequest): void;
}

export enum RequestState {
  /** Waiting for a ready peer; never written to any connection. */
  QUEUED = 'queued',
  /** Written to a connection: the server may be running it. */
  WRITTEN = 'written',
  /** Ended: its last reply, error or cancellation happened. */
  FINISHED = 'finished',
}

export interface ClientRequestOptions {
  /**
   * The REQUEST payload, or a function that builds it from the milliseconds left before the
   * deadline (for payloads that carry the time left themselves), called when it is written.
   */
  payload: EncodedPayload | ((remainingMs: number) => EncodedPayload);
  /** Receives the replies; the last one has `isDisposed`. */
  callback: ReplyCallback;
  /** When the whole request must be over, in ms since epoch (Infinity: no deadline). */
  deadline: number;
  /** Decodes this request's reply frames instead of the channel host. */
  decode?: ReplyDecoder | null;
  /** Request-stream messages follow through `send()` and `end()`. */
  upload?: boolean;
  /** The call's telemetry, told which server the request is written to. */
  telemetry?: ClientCallTelemetry;
}

/** Request-stream bytes kept for a transparent retry; past it the request can no longer move. */
const RETRY_BUFFER_BYTES = 256 * 1024;

/** setTimeout's limit (about 24.8 days). */
const MAX_TIMER_MS = 0x7fffffff;

/**
 * One request on the client, from subscribe to its last reply: its deadline (which counts
 * connecting and queueing too), where it is (queued, written, finished), and whether it may
 * still go to another peer. Each way a request can end goes through `finish`, once.
 *
 * A request may move to another peer only while it is uncommitted: never written, or
 * refused by a draining server before running (gRPC's transparent retry). Its first real
 * reply commits it; so does a connection lost after writing it, since it may have run.
 */
export class ClientRequest {
  state = RequestState.QUEUED;
  /** Peers that refused it without running it (GOING_AWAY). */
  readonly refusedBy = new Set<unknown>();
  /** The peer it was last written to (set by the router). */
  peer: unknown = null;
  /** Set by the router that queued or wrote it. */
  router: RequestRouter | null = null;
  /** The call's telemetry (its owner records the replies; peers report where it went). */
  readonly telemetry: ClientCallTelemetry;
  /** The peer the telemetry was last told of. */
  private tracedPeer: unknown = null;
  readonly decode: ReplyDecoder | null;
  readonly deadline: number;
  private readonly timeoutMs: number;
  private readonly callback: ReplyCallback;
  /** Set once a reply needed an async deserializer: later replies are delivered after it. */
  private ordered: Promise<void> | undefined;
  private payload: ClientRequestOptions['payload'] | null;
  private carrier: RequestCarrier | null = null;
  private id = 0;
  private timer: NodeJS.Timeout | null = null;
  private committed = false;
  private readonly uploading: boolean;
  private callerEnded = false;
  /** The request stream is open on the connection it was written to. */
  private wireOpen = false;
  /** Request-stream messages so far, kept while the request may still be re-sent. */
  private uploadLog: EncodedPayload[] | null = [];
  private uploadLogBytes = 0;

  constructor(options: ClientRequestOptions) {
    this.payload = options.payload;
    this.callback = options.callback;
    this.deadline = options.deadline;
    this.decode = options.decode ?? null;
    this.uploading = options.upload === true;
    this.telemetry = options.telemetry ?? NOOP_CLIENT_CALL;
    const now = Date.now();
    this.timeoutMs = Math.max(0, Math.round(this.deadline - now));
    if (Number.isFinite(this.deadline)) {
      this.timer = setTimeout(() => this.expire(), Math.min(MAX_TIMER_MS, Math.max(0, this.deadline - now)));
    }
  }

  get isFinished(): boolean {
    return this.state === RequestState.FINISHED;
  }

  /** True while it may still go to another peer. */
  get isRetryable(): boolean {
    return !this.committed && this.state !== RequestState.FINISHED;
  }

  /**
   * The REQUEST payload for a server with the agreed `features`, with the time left as of
   * now; null when the deadline has already passed.
   */
  payloadFor(features: number): EncodedPayload | null {
    const remaining = this.deadline - Date.now();
    if (remaining <= 0 || this.payload === null) return null;
    const base = typeof this.payload === 'function' ? this.payload(remaining) : this.payload;
    return features & Feature.DEADLINE && Number.isFinite(remaining) ? withDeadline(base, remaining) : base;
  }

  /** Tells the telemetry which server the request is written to, once per server. */
  tracePeer(peer: unknown, endpointId: string, path: ConnectionPath | undefined): void {
    if (this.tracedPeer === peer) return;
    this.tracedPeer = peer;
    this.telemetry.setPeer(endpointId, path);
  }

  /**
   * One of its reply frames decoded, by its own decoder or else `host`'s; the frame that ends
   * it may carry the handler's reply metadata. Throws what the decoder throws.
   */
  decodeReply(frame: Frame, host: { decodeReply(frame: Frame): ReplyMessage | Promise<ReplyMessage> }): ClientReply | Promise<ClientReply> {
    if (!(frame.flags & FrameFlag.REPLY_METADATA)) return this.decode ? this.decode(frame) : host.decodeReply(frame);
    const taken = takeReplyMetadata(frame);
    const reply = this.decode ? this.decode(taken.frame) : host.decodeReply(taken.frame);
    const withMetadata = (message: ReplyMessage): ClientReply => ({ ...message, replyMetadata: taken.metadata });
    return isPromise(reply) ? reply.then(withMetadata) : withMetadata(reply);
  }

  /** Written to `carrier` as request `id`; request-stream messages given meanwhile follow it. */
  written(carrier: RequestCarrier, id: number): void {
    this.state = RequestState.WRITTEN;
    this.carrier = carrier;
    this.id = id;
    this.wireOpen = this.uploading;
    for (const message of this.uploadLog ?? []) carrier.sendData(id, message);
    if (this.uploading && this.callerEnded) {
      this.wireOpen = false;
      carrier.sendEnd(id);
    }
  }

  /** Sends one request-stream message; false once the request or its stream has ended. */
  send(payload: EncodedPayload): boolean {
    if (this.state === RequestState.FINISHED || !this.uploading || this.callerEnded) return false;
    if (this.uploadLog) {
      this.uploadLog.push(payload);
      this.uploadLogBytes += messageSize(payload);
      if (this.state === RequestState.WRITTEN && this.uploadLogBytes > RETRY_BUFFER_BYTES) this.commit();
    }
    if (this.state === RequestState.WRITTEN && this.wireOpen) this.carrier?.sendData(this.id, payload);
    return true;
  }

  /** Ends the request stream. */
  end(): void {
    if (this.state === RequestState.FINISHED || !this.uploading || this.callerEnded) return;
    this.callerEnded = true;
    if (this.state === RequestState.WRITTEN && this.wireOpen) {
      this.wireOpen = false;
      this.carrier?.sendEnd(this.id);
    }
  }

  /**
   * The server ended the request: true (once) when its request stream was still open on
   * the connection, so that the channel sends END and both sides are done with the id.
   */
  closeUpload(): boolean {
    const open = this.wireOpen;
    this.wireOpen = false;
    return open;
  }

  /** A reply that is not the last one. */
  reply(message: ReplyMessage | Promise<ReplyMessage>): void {
    if (this.state === RequestState.FINISHED) return;
    this.commit();
    this.deliver(message);
  }

  /** The last reply (or the error that ends the request). */
  finish(message: ReplyMessage | Promise<ReplyMessage>): void {
    if (this.state === RequestState.FINISHED) return;
    this.state = RequestState.FINISHED;
    this.stopTimer();
    this.carrier = null;
    this.commit();
    this.deliver(message);
  }

  fail(error: unknown): void {
    this.finish({ err: error, isDisposed: true });
  }

  /**
   * Hands a reply to the callback: at once while replies are decoded synchronously; once an
   * async deserializer returned a promise, each after the one before it, in arrival order.
   */
  private deliver(message: ReplyMessage | Promise<ReplyMessage>): void {
    if (this.ordered === undefined && !isPromise(message)) return this.callback(message);
    this.ordered = (this.ordered ?? Promise.resolve())
      .then(() => message)
      .then(
        reply => this.callback(reply),
        err => this.callback({ err, isDisposed: true }),
      );
  }

  /**
   * A server refused the request without running it (GOING_AWAY): true when it went to
   * another peer, false when it cannot (the caller then delivers the refusal).
   */
  retryElsewhere(): boolean {
    if (!this.isRetryable || !this.router) return false;
    this.refusedBy.add(this.peer);
    this.state = RequestState.QUEUED;
    this.carrier = null;
    this.wireOpen = false;
    return this.router.reroute(this);
  }

  /** Unsubscribed: the server stops it (CANCEL); nothing more is delivered. */
  cancel(): void {
    if (this.state === RequestState.FINISHED) return;
    const wasWritten = this.state === RequestState.WRITTEN;
    this.state = RequestState.FINISHED;
    this.stopTimer();
    this.commit();
    if (wasWritten) this.carrier?.abandon(this.id);
    else this.router?.dequeue(this);
    this.carrier = null;
  }

  private expire(): void {
    this.timer = null;
    if (this.state === RequestState.FINISHED) return;
    const queued = this.state === RequestState.QUEUED;
    if (queued) this.router?.dequeue(this);
    else this.carrier?.abandon(this.id);
    const waiting = queued ? ' (no server was ready in time)' : '';
    this.fail(new IrohClientError(IrohClientErrorCode.TIMEOUT, `No reply within ${this.timeoutMs} ms${waiting}`));
  }

  /** From now on the request stays where it is: what was kept for a retry goes. */
  private commit(): void {
    this.committed = true;
    this.uploadLog = null;
    this.payload = null;
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
