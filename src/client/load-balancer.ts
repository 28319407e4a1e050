import { IrohStatus } from '../interfaces/iroh-events.interface';
import type { ClientTelemetry, PeerPathObservation } from '../observability';
import { Frame, ReplyMessage } from '../protocol';
import { IrohClientError, IrohClientErrorCode } from './client-errors';
import { ClientRequest, RequestRouter } from './client-request';
import { Connector } from './connector';
import { FRESH_ATTEMPT_MS } from './attempt-schedule';
import { AttemptFailure, PeerConnection, PeerHost, PeerSettings, PeerState } from './peer-connection';
import { Picker } from './picker';

/** What the balancer reports to the client that owns it. */
export interface BalancerEvents {
  status(status: IrohStatus): void;
  /** The first peer became ready (the client is connected). */
  connect(): void;
  /** No peer is ready any more. */
  disconnect(reason: string): void;
  peerConnect(endpointId: string): void;
  peerDisconnect(endpointId: string, reason: string): void;
}

export interface ReplyDecoding {
  readonly maxMessageSize: number;
  decodeReply(frame: Frame): ReplyMessage | Promise<ReplyMessage>;
}

/** Something waiting for a ready peer: a request, connect(), or a ping. */
interface Waiter {
  /** When it started waiting: attempts that failed before it do not fail it. */
  queuedAt: number;
  accepts: (peer: PeerConnection) => boolean;
  /** A peer it accepts is ready: true once served. */
  serve: (peer: PeerConnection) => boolean;
  fail: (error: Error) => void;
  request?: ClientRequest;
}

const ANY_PEER = (): boolean => true;

/**
 * The client's peers and the requests on their way to them, as a gRPC channel with its load
 * balancer: each request goes to the ready peer the picker chooses; with none ready it waits
 * while its peers connect, and fails fast once each of them has failed an attempt since it
 * began waiting (or at its deadline). A server that refused a request without running it
 * (GOING_AWAY) passes it on to another peer.
 */
export class LoadBalancer implements PeerHost, RequestRouter {
  readonly peers: PeerConnection[];
  private readonly picker = new Picker();
  private readonly waiters = new Set<Waiter>();
  private readonly requestWaiters = new Map<ClientRequest, Waiter>();
  private readonly announcedReady = new Set<PeerConnection>();
  private status: IrohStatus | null = null;
  private everConnected = false;
  private closing = false;

  constructor(
    targets: readonly string[],
    connector: Connector,
    settings: PeerSettings,
    private readonly decoding: ReplyDecoding,
    private readonly events: BalancerEvents,
    private readonly startTelemetry: () => ClientTelemetry,
  ) {
    this.peers = targets.map(target => new PeerConnection(target, connector, settings, this));
  }

  get maxMessageSize(): number {
    return this.decoding.maxMessageSize;
  }

  get telemetry(): ClientTelemetry {
    return this.startTelemetry();
  }

  /** The path and round-trip time of each ready peer (read when metrics are collected). */
  *observePaths(): Iterable<PeerPathObservation> {
    for (const peer of this.peers) {
      const observed = peer.observePath();
      if (observed) yield observed;
    }
  }

  decodeReply(frame: Frame): ReplyMessage | Promise<ReplyMessage> {
    return this.decoding.decodeReply(frame);
  }

  /** Sends a request to the ready peer the picker chooses, or queues it while peers connect. */
  route(request: ClientRequest): void {
    request.router = this;
    if (this.closing) {
      request.fail(new IrohClientError(IrohClientErrorCode.CLIENT_CLOSED, 'Client closed'));
      return;
    }
    const accepts = request.refusedBy.size === 0 ? ANY_PEER : (peer: PeerConnection) => !request.refusedBy.has(peer);
    const peer = this.picker.pick(this.peers, accepts);
    if (peer?.write(request)) return;
    const waiter: Waiter = {
      queuedAt: 0,
      accepts,
      serve: ready => ready.write(request),
      fail: error => request.fail(error),
      request,
    };
    this.requestWaiters.set(request, waiter);
    this.enqueue(waiter);
  }

  reroute(request: ClientRequest): boolean {
    if (this.closing || !this.peers.some(peer => !request.refusedBy.has(peer))) return false;
    this.route(request);
    return true;
  }

  dequeue(request: ClientRequest): void {
    const waiter = this.requestWaiters.get(request);
    if (waiter) this.remove(waiter);
  }

  /**
   * A ready peer that `accepts`, connecting when needed. Fails when each such peer failed an
   * attempt since the call, or after `timeoutMs` (TIMEOUT).
   */
  whenReady(accepts: (peer: PeerConnection) => boolean = ANY_PEER, timeoutMs = Infinity): Promise<PeerConnection> {
    const ready = this.picker.pick(this.peers, accepts);
    if (ready) return Promise.resolve(ready);
    if (this.closing) return Promise.reject(new IrohClientError(IrohClientErrorCode.CLIENT_CLOSED, 'Client closed'));
    return new Promise<PeerConnection>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const waiter: Waiter = {
        queuedAt: 0,
        accepts,
        serve: peer => {
          if (timer) clearTimeout(timer);
          resolve(peer);
          return true;
        },
        fail: error => {
          if (timer) clearTimeout(timer);
          reject(error);
        },
      };
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          this.remove(waiter);
          reject(new IrohClientError(IrohClientErrorCode.TIMEOUT, `No connection within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.enqueue(waiter);
    });
  }

  /** A ready peer now (for events), or null. */
  pickReady(): PeerConnection | null {
    return this.picker.pick(this.peers);
  }

  /**
   * Closes every peer's connections: what is queued or in flight fails with CLIENT_CLOSED.
   * The peers may connect again afterwards.
   */
  async close(): Promise<void> {
    this.closing = true;
    try {
      const closed = new IrohClientError(IrohClientErrorCode.CLIENT_CLOSED, 'Client closed');
      for (const waiter of [...this.waiters]) {
        this.remove(waiter);
        waiter.fail(closed);
      }
      await Promise.all(this.peers.map(peer => peer.reset()));
      this.announcedReady.clear();
      this.status = IrohStatus.DISCONNECTED;
    } finally {
      this.closing = false;
    }
  }

  onPeerChanged(peer: PeerConnection, reason: string | null): void {
    if (this.closing) return;
    if (peer.isReady && !this.announcedReady.has(peer)) {
      this.announcedReady.add(peer);
      this.events.peerConnect(peer.endpointId);
    } else if (!peer.isReady && this.announcedReady.has(peer)) {
      this.announcedReady.delete(peer);
      this.events.peerDisconnect(peer.endpointId, reason ?? 'disconnected');
    }
    this.updateStatus(reason);
    if (peer.isReady) this.serveWaiters();
  }

  onAttemptFailed(peer: PeerConnection): void {
    if (this.closing) return;
    for (const waiter of [...this.waiters]) {
      if (waiter.accepts(peer)) this.failFast(waiter);
    }
  }

  private enqueue(waiter: Waiter): void {
    waiter.queuedAt = Date.now();
    this.waiters.add(waiter);
    for (const peer of this.peers) {
      if (this.waiters.has(waiter) && waiter.accepts(peer)) peer.requestConnection();
    }
    if (this.waiters.has(waiter)) this.failFast(waiter);
  }

  private remove(waiter: Waiter): void {
    this.waiters.delete(waiter);
    if (waiter.request) this.requestWaiters.delete(waiter.request);
  }

  private serveWaiters(): void {
    for (const waiter of [...this.waiters]) {
      const peer = this.picker.pick(this.peers, waiter.accepts);
      if (!peer) continue;
      this.remove(waiter);
      if (!waiter.serve(peer)) {
        this.waiters.add(waiter);
        if (waiter.request) this.requestWaiters.set(waiter.request, waiter);
      }
    }
  }

  /**
   * Fails a waiter once every peer it may use has failed an attempt made for it — one that
   * failed after the waiter began waiting and began no earlier than FRESH_ATTEMPT_MS before
   * (gRPC's fail-fast): it does not wait behind the background retries, and a failure from
   * before it began (the peer may be back since) does not count.
   */
  private failFast(waiter: Waiter): void {
    const candidates = this.peers.filter(peer => waiter.accepts(peer));
    if (candidates.some(peer => peer.isReady)) return;
    const since = waiter.queuedAt - FRESH_ATTEMPT_MS;
    const failures = candidates.map(peer => peer.lastFailure);
    if (!failures.every(failure => failure !== null && failure.startedAt >= since && failure.endedAt >= waiter.queuedAt)) return;
    this.remove(waiter);
    waiter.fail(combinedFailure(candidates, failures as AttemptFailure[]));
  }

  private updateStatus(reason: string | null): void {
    let next: IrohStatus;
    if (this.peers.some(peer => peer.isReady)) next = IrohStatus.CONNECTED;
    else if (this.peers.some(peer => peer.isConnecting || peer.state === PeerState.DRAINING)) {
      next = this.everConnected ? IrohStatus.RECONNECTING : IrohStatus.CONNECTING;
    } else next = IrohStatus.DISCONNECTED;
    if (next === this.status) return;
    if (this.status === IrohStatus.CONNECTED) {
      this.setStatus(IrohStatus.DISCONNECTED);
      this.events.disconnect(reason ?? 'disconnected');
    }
    this.setStatus(next);
    if (next === IrohStatus.CONNECTED) {
      this.everConnected = true;
      this.events.connect();
    }
  }

  private setStatus(status: IrohStatus): void {
    if (status === this.status) return;
    this.status = status;
    this.events.status(status);
  }
}

/** The error a waiter fails with when no peer could be reached: one peer's as it is, several summed up. */
function combinedFailure(peers: PeerConnection[], failures: AttemptFailure[]): Error {
  if (failures.length === 0) return new IrohClientError(IrohClientErrorCode.CONNECT_FAILED, 'No peer to send to');
  const latest = failures.reduce((a, b) => (b.startedAt > a.startedAt ? b : a));
  if (failures.length === 1 || !(latest.error instanceof IrohClientError)) return latest.error;
  const each = peers.map((peer, i) => `${peer.endpointId.slice(0, 10)}…: ${failures[i].error.message}`).join('; ');
  return new IrohClientError(latest.error.code, `No peer could be reached (${each})`);
}
