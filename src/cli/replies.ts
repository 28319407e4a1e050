import { Observable, Subscription, TimeoutError, timeout } from 'rxjs';
import { CliError, ExitCode } from './errors';

/**
 * Passes each reply value to `onValue` until the reply completes. Rejects with the error
 * reply, a transport failure, `timeoutMs` (0: none) without a value, or `signal` aborting.
 */
export function forEachReply(
  reply$: Observable<unknown>,
  onValue: (value: unknown) => void,
  options: { timeoutMs: number; signal: AbortSignal },
): Promise<void> {
  const source$ = options.timeoutMs > 0 ? reply$.pipe(timeout({ each: options.timeoutMs })) : reply$;
  return settle(options.signal, (resolve, reject) =>
    source$.subscribe({
      next: onValue,
      complete: resolve,
      error: err => reject(replyFailure(err, options.timeoutMs)),
    }),
  );
}

/**
 * Resolves on the first reply of any kind: a value, completion, or an error reply (the
 * server answered). Rejects on a transport failure, timeout or abort.
 */
export function firstReply(reply$: Observable<unknown>, options: { timeoutMs: number; signal: AbortSignal }): Promise<void> {
  const source$ = options.timeoutMs > 0 ? reply$.pipe(timeout({ first: options.timeoutMs })) : reply$;
  return settle(options.signal, (resolve, reject) =>
    source$.subscribe({
      next: () => resolve(),
      complete: resolve,
      error: err => (isTransportFailure(err) ? reject(replyFailure(err, options.timeoutMs)) : resolve()),
    }),
  );
}

/** The server's error replies are plain values; an Error means the request never got its answer. */
function isTransportFailure(err: unknown): boolean {
  return err instanceof Error;
}

function replyFailure(err: unknown, timeoutMs: number): CliError {
  if (err instanceof TimeoutError) return new CliError(`no reply within ${timeoutMs} ms`);
  if (isTransportFailure(err)) return new CliError((err as Error).message);
  return new CliError(`error reply: ${JSON.stringify(err) ?? String(err)}`);
}

/** Runs a subscription as a promise; aborting unsubscribes (cancelling the request) and rejects. */
function settle(signal: AbortSignal, start: (resolve: () => void, reject: (err: CliError) => void) => Subscription): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new CliError('interrupted', ExitCode.INTERRUPTED));
    let subscription: Subscription | undefined = undefined;
    let done = false;
    const finish = (err?: CliError) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      subscription?.unsubscribe();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => finish(new CliError('interrupted', ExitCode.INTERRUPTED));
    signal.addEventListener('abort', onAbort, { once: true });
    subscription = start(
      () => finish(),
      err => finish(err),
    );
    if (done) subscription.unsubscribe();
  });
}
