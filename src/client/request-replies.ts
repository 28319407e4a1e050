import { ReplyMessage, ReplyMetadata } from '../protocol';
import type { ClientReply, ReplyCallback } from './client-request';

/**
 * A request's replies on their way to its callback, in the order they arrived: each at once
 * while they are decoded synchronously; once an async deserializer returned a promise, each
 * after the one before it.
 */
export class OrderedReplies {
  /** Set once a reply needed an async deserializer: later replies wait for it. */
  private ordered: Promise<void> | undefined;

  constructor(private readonly callback: ReplyCallback) {}

  deliver(message: ReplyMessage | Promise<ReplyMessage>): void {
    if (this.ordered === undefined && !isPromise(message)) {
      this.callback(message);
      return;
    }
    // An async deserializer: deliver this request's replies in arrival order.
    const decoded = message;
    this.ordered = (this.ordered ?? Promise.resolve())
      .then(() => decoded)
      .then(
        reply => this.callback(reply),
        err => this.callback({ err, isDisposed: true }),
      );
  }
}

/** `reply` (or what it resolves to) with `metadata` as its reply metadata. */
export function withReplyMetadata(
  reply: ReplyMessage | Promise<ReplyMessage>,
  metadata: ReplyMetadata | undefined,
): ClientReply | Promise<ClientReply> {
  if (metadata === undefined) return reply;
  return isPromise(reply) ? reply.then(message => ({ ...message, replyMetadata: metadata })) : { ...reply, replyMetadata: metadata };
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | null)?.then === 'function';
}
