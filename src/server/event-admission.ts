import type { ReceiveBudget } from '../protocol';
import type { ServerLimits } from './server-limits';

/** What the memory budget is charged for one queued event beyond its payload (objects, queue slot). */
export const QUEUED_EVENT_OVERHEAD = 256;

/** A received event waiting for a handler slot: `run` starts its handler and settles when it has. */
export interface QueuedEvent {
  /** Bytes reserved from the connection's budget while it waits. */
  readonly bytes: number;
  run(): Promise<void>;
}

/** The connection events come from, as admission sees it. */
export interface EventSource {
  readonly remoteEndpointId: string;
  /** What queued events reserve while they wait. */
  readonly budget: ReceiveBudget;
}

/** Why an event was not admitted. */
export type EventRefusal = 'queue full' | 'out of memory';

interface SourceState {
  readonly source: EventSource;
  running: number;
  queue: QueuedEvent[];
  /** Index of the next event to start in `queue` (a queue consumed from the front). */
  head: number;
  /** Waiting for the queue to empty (the source's streams stop reading meanwhile). */
  drained: Array<() => void>;
}

type EventLimits = Pick<ServerLimits, 'maxConcurrentEvents' | 'maxConcurrentEventsPerPeer' | 'maxQueuedEvents'>;

/**
 * Admission of events, as for requests: at most `maxConcurrentEvents` handlers run for one
 * connection and `maxConcurrentEventsPerPeer` for one endpoint id, each counted until its
 * handler's Promise or Observable settles. Events past those wait in their connection's queue,
 * in order; while a connection has events queued its streams read nothing more, so QUIC flow
 * control holds the sender back. The queue is bounded (`maxQueuedEvents`, and the memory
 * budget): an event that finds it full is dropped, like a message to a slow consumer in NATS.
 * Events are fire-and-forget, and closing the connection instead would fail the requests of
 * the same client that share it.
 */
export class EventAdmission {
  private readonly sources = new Map<EventSource, SourceState>();
  private readonly byPeer = new Map<string, { running: number; waiting: Set<SourceState> }>();

  constructor(private readonly limits: EventLimits) {}

  /** Handlers of events running now on every connection. */
  get running(): number {
    let n = 0;
    for (const state of this.sources.values()) n += state.running;
    return n;
  }

  /** Starts the event, or queues it; returns why it was dropped, or null. */
  submit(source: EventSource, event: QueuedEvent): EventRefusal | null {
    const state = this.stateOf(source);
    const peer = this.peerOf(source.remoteEndpointId);
    if (state.queue.length === state.head && this.hasRoom(state, peer.running)) {
      this.start(state, event);
      return null;
    }
    if (state.queue.length - state.head >= this.limits.maxQueuedEvents) return 'queue full';
    if (!source.budget.reserve(event.bytes)) return 'out of memory';
    state.queue.push(event);
    peer.waiting.add(state);
    return null;
  }

  /** A promise while `source` has events queued (its streams should not read), else null. */
  paused(source: EventSource): Promise<void> | null {
    const state = this.sources.get(source);
    if (!state || state.queue.length === state.head) return null;
    return new Promise(resolve => state.drained.push(resolve));
  }

  /** The connection is gone: its queued events are dropped (handlers already running finish). */
  forget(source: EventSource): void {
    const state = this.sources.get(source);
    if (!state) return;
    for (let i = state.head; i < state.queue.length; i++) source.budget.release(state.queue[i].bytes);
    state.queue = [];
    state.head = 0;
    this.peerOf(source.remoteEndpointId).waiting.delete(state);
    this.wake(state);
    if (state.running === 0) this.sources.delete(source);
    this.cleanPeer(source.remoteEndpointId);
  }

  private hasRoom(state: SourceState, peerRunning: number): boolean {
    return state.running < this.limits.maxConcurrentEvents && peerRunning < this.limits.maxConcurrentEventsPerPeer;
  }

  private start(state: SourceState, event: QueuedEvent): void {
    const peer = this.peerOf(state.source.remoteEndpointId);
    state.running++;
    peer.running++;
    let settled: Promise<void>;
    try {
      settled = event.run();
    } catch {
      settled = Promise.resolve();
    }
    settled.then(
      () => this.finished(state),
      () => this.finished(state),
    );
  }

  private finished(state: SourceState): void {
    const peerId = state.source.remoteEndpointId;
    const peer = this.peerOf(peerId);
    state.running--;
    peer.running--;
    // This connection first, then the peer's other connections waiting for a per-peer slot.
    this.startQueued(state, peer);
    for (const other of [...peer.waiting]) {
      if (other !== state) this.startQueued(other, peer);
    }
    if (state.running === 0 && state.queue.length === state.head) this.sources.delete(state.source);
    this.cleanPeer(peerId);
  }

  private startQueued(state: SourceState, peer: { running: number; waiting: Set<SourceState> }): void {
    while (state.head < state.queue.length && this.hasRoom(state, peer.running)) {
      const event = state.queue[state.head];
      state.queue[state.head++] = undefined as unknown as QueuedEvent;
      state.source.budget.release(event.bytes);
      this.start(state, event);
    }
    if (state.head === state.queue.length) {
      state.queue = [];
      state.head = 0;
      peer.waiting.delete(state);
      this.wake(state);
    } else if (state.head > 1024 && state.head * 2 > state.queue.length) {
      state.queue = state.queue.slice(state.head);
      state.head = 0;
    }
  }

  private wake(state: SourceState): void {
    const waiters = state.drained;
    state.drained = [];
    for (const resolve of waiters) resolve();
  }

  private stateOf(source: EventSource): SourceState {
    let state = this.sources.get(source);
    if (!state) {
      state = { source, running: 0, queue: [], head: 0, drained: [] };
      this.sources.set(source, state);
    }
    return state;
  }

  private peerOf(endpointId: string): { running: number; waiting: Set<SourceState> } {
    let peer = this.byPeer.get(endpointId);
    if (!peer) {
      peer = { running: 0, waiting: new Set() };
      this.byPeer.set(endpointId, peer);
    }
    return peer;
  }

  private cleanPeer(endpointId: string): void {
    const peer = this.byPeer.get(endpointId);
    if (peer && peer.running === 0 && peer.waiting.size === 0) this.byPeer.delete(endpointId);
  }
}
