import type { IncomingAddr, IoIncoming } from '../iroh';
import { TokenBuckets } from './token-buckets';

/**
 * The source an incoming connection is counted against: its IP address (without the port:
 * a host opening connection after connection uses a new port each time), or for a connection
 * through a relay, the endpoint id the relay names (the relay's own address is shared by all
 * its clients). Null when the binding gives neither.
 */
export function sourceOf(addr: IncomingAddr): string | null {
  if (addr.kind === 'ip' && addr.addr) {
    const bracketed = /^\[([^\]]+)\]:\d+$/.exec(addr.addr);
    if (bracketed) return bracketed[1];
    const colon = addr.addr.lastIndexOf(':');
    return colon > 0 ? addr.addr.slice(0, colon) : addr.addr;
  }
  if (addr.kind === 'relay' && addr.endpointId) return `relay:${addr.endpointId}`;
  return null;
}

/**
 * New connections per second from one source, with bursts of twice that, judged before the
 * handshake (`Incoming.remoteAddr()`), so that refusing costs a fraction of what a handshake
 * does. The address of a first QUIC packet is not validated: it can be spoofed (see
 * docs/security.md for what that means for this limit).
 */
export class ConnectionRateLimit {
  private readonly buckets: TokenBuckets;

  constructor(perSecond: number) {
    this.buckets = new TokenBuckets(perSecond, 2 * perSecond);
  }

  /** The source of `incoming`, and whether it is within its rate (a source the binding does not name always is). */
  async check(incoming: IoIncoming): Promise<{ source: string | null; allowed: boolean }> {
    let source: string | null;
    try {
      source = sourceOf(await incoming.remoteAddr());
    } catch {
      source = null;
    }
    return { source, allowed: source === null || this.buckets.take(source, 1) };
  }
}
