import { Observable } from 'rxjs';
import { ClientIroh } from 'nestjs-iroh';

/** The result of pinging an iroh peer (a type, not an interface: terminus takes it as health data). */
export type IrohPing = {
  /** Milliseconds from sending the ping to its reply. */
  rttMs: number;
  /** How the connection reaches the peer now: straight over UDP, or through a relay server. */
  path: 'direct' | 'relay' | 'unknown';
  /** The peer's address on that path (`ip:port`, or the relay's URL). */
  remoteAddr: string | null;
};

export interface IrohPingOptions {
  /** Pattern of the request sent as the ping (default `health.check`). Any reply counts. */
  pattern?: string;
  /** Aborts the ping (its request is cancelled). */
  signal?: AbortSignal;
}

/**
 * Pings the server behind `client` with one request and times the reply. Any reply counts,
 * an error reply included (a server without the pattern answers "no matching handler"):
 * it proves the peer is reachable and serving.
 */
export async function pingIrohPeer(client: ClientIroh, options: IrohPingOptions = {}): Promise<IrohPing> {
  await client.connect();
  const started = performance.now();
  await firstReply(client.send(options.pattern ?? 'health.check', {}), options.signal);
  const rttMs = Math.round((performance.now() - started) * 100) / 100;
  return { rttMs, ...currentPath(client) };
}

/** Resolves on the first value, completion or error reply; rejects on a transport failure or abort. */
function firstReply(reply$: Observable<unknown>, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const subscription = reply$.subscribe({
      next: () => done(),
      complete: () => done(),
      // The server's error replies are plain values; an Error means the transport failed.
      error: err => done(err instanceof Error ? err : undefined),
    });
    const onAbort = () => done(signal?.reason ?? new Error('ping aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    function done(err?: unknown): void {
      signal?.removeEventListener('abort', onAbort);
      subscription?.unsubscribe();
      if (err) reject(err);
      else resolve();
    }
  });
}

/** The subset of the binding's `PathSnapshot` read here. */
interface PathSnapshot {
  isSelected: boolean;
  isRelay: boolean;
  remoteAddr: string;
}

/**
 * The path the client's connection uses now, from iroh's view of the connection.
 * ClientIroh has no public accessor for its connection yet, so this reads the field that
 * holds it; when that is not found the path is reported as `unknown`.
 */
function currentPath(client: ClientIroh): Pick<IrohPing, 'path' | 'remoteAddr'> {
  const connection = (client as unknown as { active?: { connection?: { paths(): PathSnapshot[] } } }).active?.connection;
  const selected = connection?.paths().find(path => path.isSelected);
  if (!selected) return { path: 'unknown', remoteAddr: null };
  return { path: selected.isRelay ? 'relay' : 'direct', remoteAddr: selected.remoteAddr };
}
