import { createSocket } from 'dgram';
import { setFlagsFromString } from 'v8';
import { runInNewContext } from 'vm';

let collect: (() => void) | null | undefined;

function gcFunction(): (() => void) | null {
  if (collect === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as () => void;
    } catch {
      collect = null;
    }
  }
  return collect;
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

/**
 * The binding frees an endpoint's UDP sockets only when its JS objects are
 * garbage-collected, not on `close()`. After a close, once nothing references the endpoint
 * or its connections, forced collections free the ports at once, so a service can bind the
 * same port again (a restart in the same process). Collects until `sockets` (the endpoint's
 * bound addresses) can be bound again, or until `deadlineMs` has passed.
 */
export async function releaseNativeHandles(sockets: readonly string[], deadlineMs = 2000): Promise<boolean> {
  const gc = gcFunction();
  if (!gc) return false;
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    // Pending binding promises (reads, accepts) settle between rounds and drop their references.
    // Unref'd: releasing a port in the background must not keep the process alive.
    await new Promise(resolve => setTimeout(resolve, 5).unref());
    gc();
    await new Promise(resolve => setImmediate(resolve));
    const free = await Promise.all(sockets.map(isFree));
    if (free.every(Boolean)) return true;
    if (Date.now() > deadline) return false;
  }
}
