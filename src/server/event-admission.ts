import { Counts } from './counts';
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
  private readonly byConnection = new Counts<EventSource>();
  private readonly byPeer = new Counts<string>();
  private readonly waiters = new Map<EventSource, Array<() => void>>();
  private total = 0;

  constructor(private readonly limits: EventLimits) {}

  /** Handlers of events running now on every connection. */
  get running(): number {
    return this.total;
  }

  /** Starts `run` (an event's handler, settling when it has) if the limits leave room; false when they do not. */
  tryStart(source: EventSource, run: () => Promise<void>): boolean {
    if (
      this.byConnection.get(source) >= this.limits.maxConcurrentEvents ||
      this.byPeer.get(source.remoteEndpointId) >= this.limits.maxConcurrentEventsPerPeer
    ) {
      return false;
    }
    this.byConnection.add(source);
    this.byPeer.add(source.remoteEndpointId);
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
    const peerWasFull = this.byPeer.get(source.remoteEndpointId) >= this.limits.maxConcurrentEventsPerPeer;
    this.total--;
    this.byConnection.remove(source);
    this.byPeer.remove(source.remoteEndpointId);
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
