import type { ServerLimits } from './server-limits';

/** The connection events come from, as admission sees it. */
export interface EventSource {
  readonly remoteEndpointId: string;
}

type EventLimits = Pick<ServerLimits, 'maxConcurrentEvents' | 'maxConcurrentEventsPerPeer'>;

/**
 * Admission of events, as for requests: at most `maxConcurrentEvents` handlers run for one
 * connection and `maxConcurrentEventsPerPeer` for one endpoint id, each counted until its
 * handler's Promise or Observable settles. An event that finds no room is not refused: the
 * stream it came on waits for room (its later frames wait behind it, and it reads nothing
 * more meanwhile), so QUIC flow control holds the sender back.
 */
export class EventAdmission {
  private readonly byConnection = new Map<EventSource, number>();
  private readonly byPeer = new Map<string, number>();
  private readonly waiters = new Map<EventSource, Array<() => void>>();
  private total = 0;

  constructor(private readonly limits: EventLimits) {}

  /** Handlers of events running now on every connection. */
  get running(): number {
    return this.total;
  }

  /** Starts `run` (an event's handler, settling when it has) if the limits leave room; false when they do not. */
  tryStart(source: EventSource, run: () => Promise<void>): boolean {
    const connection = this.byConnection.get(source) ?? 0;
    const peer = this.byPeer.get(source.remoteEndpointId) ?? 0;
    if (connection >= this.limits.maxConcurrentEvents || peer >= this.limits.maxConcurrentEventsPerPeer) return false;
    this.byConnection.set(source, connection + 1);
    this.byPeer.set(source.remoteEndpointId, peer + 1);
    this.total++;
    let settled: Promise<void>;
    try {
      settled = run();
    } catch {
      settled = Promise.resolve();
    }
    settled.then(
      () => this.finished(source),
      () => this.finished(source),
    );
    return true;
  }

  /**
   * Resolves once an event handler of `source`'s connection, or of its peer, has finished:
   * there may be room again (try again).
   */
  whenRoom(source: EventSource): Promise<void> {
    return new Promise(resolve => {
      const list = this.waiters.get(source);
      if (list) list.push(resolve);
      else this.waiters.set(source, [resolve]);
    });
  }

  /** The connection is gone: whatever waited for room for it stops waiting. */
  forget(source: EventSource): void {
    this.wake(source);
  }

  private finished(source: EventSource): void {
    const peerWasFull = (this.byPeer.get(source.remoteEndpointId) ?? 0) >= this.limits.maxConcurrentEventsPerPeer;
    this.total--;
    decrement(this.byConnection, source);
    decrement(this.byPeer, source.remoteEndpointId);
    this.wake(source);
    // The peer's other connections may have waited for its per-peer room.
    if (peerWasFull) {
      for (const other of [...this.waiters.keys()]) {
        if (other.remoteEndpointId === source.remoteEndpointId) this.wake(other);
      }
    }
  }

  private wake(source: EventSource): void {
    const list = this.waiters.get(source);
    if (!list) return;
    this.waiters.delete(source);
    for (const resolve of list) resolve();
  }
}

function decrement<K>(counts: Map<K, number>, key: K): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left > 0) counts.set(key, left);
  else counts.delete(key);
}
