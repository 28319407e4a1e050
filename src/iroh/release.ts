import { createSocket } from 'dgram';
import { setFlagsFromString } from 'v8';
import { runInNewContext } from 'vm';

/**
 * The binding frees an endpoint's UDP socket only when its JS objects are garbage-collected,
 * not on `close()` (the N-API `Endpoint` owns the socket until it is dropped, and the
 * binding offers no other way to drop it). A service restarting in the same process on the
 * same port would find the port taken. So, after a close, this module forces collections
 * until the port can be bound again.
 *
 * Forcing a collection needs `gc()`: the one Node exposes with `--expose-gc` when the
 * process was started with it, or else one obtained by turning that V8 flag on at run time
 * (a V8 flag set after start-up; it works on Node 20 to 24 but is not a documented API).
 * Endpoints opt out with `releasePortOnClose: false`; by default only endpoints bound to a
 * fixed port use it, since only they may want the same port back.
 */

let collect: (() => void) | null | undefined;

function gcFunction(): (() => void) | null {
  if (collect === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (typeof exposed === 'function') {
      collect = exposed;
    } else {
      try {
        setFlagsFromString('--expose-gc');
        collect = runInNewContext('gc') as () => void;
      } catch {
        collect = null;
      }
    }
  }
  return collect;
}

/** Forces one full collection when that is possible; false when it is not. */
export function collectGarbage(): boolean {
  const gc = gcFunction();
  gc?.();
  return gc !== null;
}

/** True for a `bindAddr` with a fixed port (not absent, not port 0). */
export function hasFixedPort(bindAddr: string | undefined): boolean {
  return bindAddr !== undefined && !/:0$/.test(bindAddr.trim());
}

/** Whether closing an endpoint with these options waits for its port to be free again. */
export function releasesPortOnClose(options: { bindAddr?: string; releasePortOnClose?: boolean }): boolean {
  return options.releasePortOnClose ?? hasFixedPort(options.bindAddr);
}

/** True when `address` (`host:port`, IPv6 in brackets) can be bound again. */
function isFree(address: string): Promise<boolean> {
  const match = /^\[?([^\]]+)\]?:(\d+)$/.exec(address);
  if (!match) return Promise.resolve(true);
  const [, host, port] = match;
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  return new Promise(resolve => {
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ address: host, port: Number(port), exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

/** Resolves true once every one of `sockets` can be bound, false after `deadlineMs`. */
export async function socketsFreeWithin(sockets: readonly string[], deadlineMs = 2000): Promise<boolean> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const free = await Promise.all(sockets.map(isFree));
    if (free.every(Boolean)) return true;
    if (Date.now() > deadline) return false;
    await new Promise(resolve => setTimeout(resolve, 5).unref());
  }
}

/**
 * Once nothing references a closed endpoint or its connections, collects until `sockets`
 * (the endpoint's bound addresses) can be bound again, or until `deadlineMs` has passed.
 * Resolves true when they are free.
 */
export async function releaseNativeHandles(sockets: readonly string[], deadlineMs = 2000): Promise<boolean> {
  const gc = gcFunction();
  if (!gc) return false;
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    // Pending binding promises (reads, accepts) settle between rounds and drop their references.
    // Unref'd: a release running in the background must not keep the process alive (a close()
    // that waits for it holds the process itself).
    await new Promise(resolve => setTimeout(resolve, 5).unref());
    gc();
    await new Promise(resolve => setImmediate(resolve));
    const free = await Promise.all(sockets.map(isFree));
    if (free.every(Boolean)) return true;
    if (Date.now() > deadline) return false;
  }
}
