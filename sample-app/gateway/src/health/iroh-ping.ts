import { Observable } from 'rxjs';
import { ClientIroh } from 'nestjs-iroh';

/** The result of pinging an iroh peer (a type, not an interface: terminus takes it as health data). */
export type IrohPing = {
  /** Milliseconds from sending the ping to its reply. */
  rttMs: number;
  /** How the connection reaches the peer now: straight over UDP, or through a relay server. */
  path: 'direct' | 'relay';
  /** The peer's address on that path (`ip:port`, or the relay's URL). */
  remoteAddr: string | null;
};

export interface IrohPingOptions {
  /**
   * Pattern of a request sent as the ping, where any reply counts. Without it the ping is
   * the transport's own PING frame, answered without any handler.
   */
  pattern?: string;
  /** Milliseconds before the ping fails (default 5000). */
  timeout?: number;
  /** Aborts the ping (its request is cancelled). */
  signal?: AbortSignal;
}

/** Pings the server behind `client` and reports the round trip and the path. */
export async function pingIrohPeer(client: ClientIroh, options: IrohPingOptions = {}): Promise<IrohPing> {
  if (options.signal?.aborted) throw options.signal.reason;
  const timeout = options.timeout ?? 5000;
  if (options.pattern === undefined) return client.ping({ timeout });
  await client.connect();
  const started = performance.now();
  await firstReply(client.send(options.pattern, {}), options.signal);
  const rttMs = Math.round((performance.now() - started) * 100) / 100;
  const { path, remoteAddr } = await client.ping({ timeout });
  return { rttMs, path, remoteAddr };
}

/** Resolves on the first value, completion or error reply; rejects on a transport failure or abort. */
function firstReply(reply$: Observable<unknown>, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const subscription = reply$.subscribe({
      next: () => done(),
      complete: () => done(),
      // The server's error replies are plain values; an Error means the transport failed.
      error: err => done(err instanceof Error ? err : undefined),
    });
    const onAbort = () => done(abortReason(signal));
    signal?.addEventListener('abort', onAbort, { once: true });
    function done(err?: unknown): void {
      signal?.removeEventListener('abort', onAbort);
      subscription?.unsubscribe();
      if (err) reject(err instanceof Error ? err : new Error('ping failed'));
      else resolve();
    }
  });
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('ping aborted');
}
