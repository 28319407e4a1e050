import { ClientCallTelemetry, NOOP_CLIENT_CALL } from '../observability';
import { ReplyMessage, ReplyMetadata } from '../protocol';
import { ClientReply, ReplyCallback } from './client-request';

/** Per-call options of {@link ClientIroh.send}. */
export interface IrohSendOptions {
  /**
   * Receives the reply metadata the handler set (`IrohContext#setReplyMetadata()`), once,
   * just before the last value, the completion or the error reaches the subscriber. Not
   * called when the handler set none, or the server is of a version that does not carry it.
   */
  onReplyMetadata?: (metadata: Record<string, unknown>) => void;
}

/**
 * Where a request's replies go: to `callback` (Nest's observer), after the call's telemetry
 * has recorded each one and `onReplyMetadata` has received the handler's reply metadata (it
 * comes with the last reply). `callback` itself when there is nothing to do on the way.
 */
export function deliverReplies(
  callback: (message: ReplyMessage) => void,
  call: ClientCallTelemetry,
  onReplyMetadata: ((metadata: ReplyMetadata) => void) | undefined,
): ReplyCallback {
  if (call === NOOP_CLIENT_CALL && onReplyMetadata === undefined) return callback;
  return (reply: ClientReply) => {
    let message: ReplyMessage = reply;
    if (reply.replyMetadata !== undefined && onReplyMetadata !== undefined) {
      try {
        onReplyMetadata(reply.replyMetadata);
      } catch (err) {
        // The caller's own callback failed: its subscriber hears of it.
        message = { err, isDisposed: true };
      }
    }
    recordReply(call, message);
    callback(message);
  };
}

/**
 * Records a reply as Nest's observer reads it (`ClientProxy#createObserver`): an error ends
 * the call as failed; a value counts; the last reply ends it.
 */
export function recordReply(call: ClientCallTelemetry, message: ReplyMessage): void {
  if (message.err) {
    call.end(message.err);
    return;
  }
  if (message.response !== undefined) call.onValue();
  if (message.isDisposed) call.end();
}
