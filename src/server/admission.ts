import { ErrorCode } from '../protocol';
import { Counts } from './counts';
import type { ServerLimits } from './server-limits';

/** Why a request may not start. */
export interface Refusal {
  code: ErrorCode;
  message: string;
}

/** The part of a stream admission looks at. */
export interface AdmittedStream {
  readonly remoteEndpointId: string;
  /** Requests in flight on the stream, and handlers still running after their request ended. */
  readonly load: number;
}

/**
 * Decides whether a request may start — the server is not draining, and the concurrency
 * limits per connection and per peer leave room — and counts the requests in flight, so that
 * draining can wait for the last one to end without polling.
 */
export class Admission {
  private draining = false;
  private total = 0;
  private readonly byPeer = new Counts<string>();
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly limits: Pick<ServerLimits, 'maxConcurrentRequests' | 'maxConcurrentRequestsPerPeer'>) {}

  /** Requests in flight on every connection. */
  get inflight(): number {
    return this.total;
  }

  /** From now on requests are refused with GOING_AWAY. */
  startDraining(): void {
    this.draining = true;
  }

  /** Serves requests again (a server listening after a close). */
  reopen(): void {
    this.draining = false;
  }

  /** Null when a request on `stream` may start; else why not. */
  check(stream: AdmittedStream): Refusal | null {
    if (this.draining) return { code: ErrorCode.GOING_AWAY, message: 'Server is shutting down' };
    const { maxConcurrentRequests, maxConcurrentRequestsPerPeer } = this.limits;
    if (stream.load >= maxConcurrentRequests) {
      return {
        code: ErrorCode.LIMIT_EXCEEDED,
        message: `Too many requests in flight on this connection (maxConcurrentRequests ${maxConcurrentRequests})`,
      };
    }
    if (this.byPeer.get(stream.remoteEndpointId) >= maxConcurrentRequestsPerPeer) {
      return {
        code: ErrorCode.LIMIT_EXCEEDED,
        message: `Too many requests in flight from this peer (maxConcurrentRequestsPerPeer ${maxConcurrentRequestsPerPeer})`,
      };
    }
    return null;
  }

  started(peer: string): void {
    this.total++;
    this.byPeer.add(peer);
  }

  ended(peer: string): void {
    this.total--;
    this.byPeer.remove(peer);
    if (this.total === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Resolves once no request is in flight. */
  whenIdle(): Promise<void> {
    if (this.total === 0) return Promise.resolve();
    return new Promise(resolve => this.idleWaiters.push(resolve));
  }
}
