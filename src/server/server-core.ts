import type { LoggerService } from '@nestjs/common';
import type { ConsumerSerializer } from '@nestjs/microservices';
import { EventEmitter } from 'events';
import {
  ClosedEndpoint,
  IoBiStream,
  IoEndpoint,
  IrohError,
  alpnBytes,
  bindEndpoint,
  closeConnection,
  closeEndpoint,
  releasesPortOnClose,
  settledWithin,
} from '../iroh';
import { IrohConnectionInfo, IrohEvents, IrohEventsMap, IrohStatus } from '../interfaces/iroh-events.interface';
import { IrohServerOptions } from '../interfaces/iroh-options.interface';
import { resolveProtocolOptions } from '../interfaces/protocol-options';
import { NOOP_SERVER_TELEMETRY, ServerTelemetry, createServerTelemetry } from '../observability';
import { ErrorCode, Feature, Frame, MAX_DEFINING_PAYLOAD, OversizedFrame, ReplyMessage } from '../protocol';
import { AcceptHost, acceptConnections } from './accept-loop';
import { Admission } from './admission';
import { ConnectionRegistry, PeerConnection } from './connection-registry';
import { EventAdmission } from './event-admission';
import { FrameScheduler } from './frame-scheduler';
import { InboundDecoder } from './inbound-decoder';
import type { FrameWork } from './inbound-frames';
import { InboundMessages } from './inbound-messages';
import type { RequestDispatcher } from './nest-dispatcher';
import { peerAuthorizer } from './peer-authorization';
import { ConnectionBudget, ReceivePool } from './receive-pool';
import { ReadSlots } from './read-slots';
import { ReplyWriter } from './reply-writer';
import { ServerChannel, ServerChannelHost } from './server-channel';
import { ServerLimits, resolveServerLimits } from './server-limits';
import type { ServerRequest } from './server-request';
import { startStallSweep } from './stall-sweep';

/** What the core needs from the Nest server it serves. */
export interface ServerCoreHost {
  readonly logger: LoggerService;
  readonly dispatcher: RequestDispatcher;
  /** The custom serializer, when the server has one. */
  readonly serializer: ConsumerSerializer | null;
  setStatus(status: IrohStatus): void;
}

/**
 * What this server announces in its HELLO. PATTERN_TABLE needs every frame that may define a
 * pattern to be read whole, so only a server that takes messages of that size announces it.
 */
function serverFeatures(maxMessageSize: number): number {
  const patterns = maxMessageSize >= MAX_DEFINING_PAYLOAD ? Feature.PATTERN_TABLE : 0;
  return Feature.DEADLINE | Feature.DRAIN | Feature.BROTLI | Feature.REPLY_METADATA | patterns;
}

/** How long a shutdown waits for a client to receive what was written to it. */
const DELIVERY_TIMEOUT = 2000;

/**
 * The transport behind an iroh server, whichever Nest server class fronts it: binds the
 * endpoint, accepts connections and streams, admits requests and hands them to the
 * dispatcher, writes replies, and shuts down in order (GOAWAY, drain, close, port release).
 */
export class ServerCore implements ServerChannelHost, AcceptHost {
  readonly maxMessageSize: number;
  readonly limits: ServerLimits;
  readonly registry = new ConnectionRegistry();
  readonly features: number;
  readonly compressionThreshold: number;
  readonly scheduler = new FrameScheduler();
  readonly readSlots = new ReadSlots();
  closing = false;
  /** Spans and metrics: taken when the server listens (a no-op until then), released when it has closed. */
  telemetry: ServerTelemetry = NOOP_SERVER_TELEMETRY;
  private readonly admission: Admission;
  private readonly events: EventAdmission;
  private readonly pool: ReceivePool;
  private readonly inbound: InboundMessages;
  private readonly replies: ReplyWriter;
  private readonly isAllowedPeer: (endpointId: string) => Promise<boolean>;
  private readonly alpn: Buffer;
  private readonly emitter = new EventEmitter();
  private endpoint: IoEndpoint | null = null;
  private stopSweep: (() => void) | null = null;
  private shutdown: Promise<void> | null = null;

  constructor(
    private readonly options: IrohServerOptions,
    private readonly host: ServerCoreHost,
  ) {
    const protocol = resolveProtocolOptions(options);
    this.maxMessageSize = protocol.maxMessageSize;
    this.limits = resolveServerLimits(options);
    this.alpn = alpnBytes(options.alpn);
    this.isAllowedPeer = peerAuthorizer(options.allowPeers, this.limits.allowPeersTimeout);
    this.admission = new Admission(this.limits);
    this.events = new EventAdmission(this.limits);
    this.pool = new ReceivePool(this.limits.maxReceiveMemory, this.limits.incompleteFrameTimeout);
    const decoder = new InboundDecoder({
      maxMessageSize: this.maxMessageSize,
      maxInflateRatePerPeer: this.limits.maxInflateRatePerPeer,
    });
    this.inbound = new InboundMessages(this, this.admission, this.events, decoder);
    this.features = serverFeatures(this.maxMessageSize);
    this.compressionThreshold = protocol.compressionThreshold;
    this.replies = new ReplyWriter({
      maxMessageSize: this.maxMessageSize,
      maxPendingReplyBytes: this.limits.maxPendingReplyBytes,
      serializer: host.serializer,
      logger: host.logger,
    });
    // An 'error' event without listeners would throw.
    this.emitter.on(IrohEventsMap.ERROR, () => undefined);
  }

  get logger(): LoggerService {
    return this.host.logger;
  }

  get dispatcher(): RequestDispatcher {
    return this.host.dispatcher;
  }

  get maxPendingReplyBytes(): number {
    return this.limits.maxPendingReplyBytes;
  }

  /** Bytes of the receive memory held now (partly received frames, inflated payloads, queued events). */
  get receiveMemoryUsed(): number {
    return this.pool.usedBytes;
  }

  /** Event handlers running now. */
  get runningEvents(): number {
    return this.events.running;
  }

  /** This server's endpoint id (hex public key). Available once listening. */
  get endpointId(): string {
    return this.requireEndpoint().id();
  }

  /** An endpoint ticket with this server's id, direct addresses and relay. Available once listening. */
  get ticket(): string {
    return this.requireEndpoint().ticket();
  }

  /** Endpoint ids of the peers connected now. */
  get connectedPeers(): string[] {
    return this.registry.endpointIds;
  }

  /** The connections served now. */
  get connections(): IrohConnectionInfo[] {
    return this.registry.info;
  }

  /** Requests in flight on all connections. */
  get inflightRequests(): number {
    return this.admission.inflight;
  }

  /** The binding's `Endpoint`; with `ioThread`, the endpoint in the I/O thread as an {@link IoEndpoint}. */
  unwrap<T = unknown>(): T {
    return this.requireEndpoint().unwrap() as T;
  }

  on(event: keyof IrohEvents, callback: (...args: any[]) => void): void {
    this.emitter.on(event, callback);
  }

  /** Binds the endpoint and starts accepting; throws when it cannot. */
  async listen(): Promise<void> {
    this.closing = false;
    this.shutdown = null;
    this.admission.reopen();
    this.host.setStatus(IrohStatus.CONNECTING);
    let endpoint: IoEndpoint;
    try {
      this.host.dispatcher.prepare?.();
      endpoint = await bindEndpoint(this.options, this.alpn);
    } catch (err) {
      this.host.setStatus(IrohStatus.DISCONNECTED);
      throw err;
    }
    if (this.closing) {
      // close() ran while binding: give the endpoint back at once.
      this.endpoint = endpoint;
      await this.closeEndpoint();
      this.host.setStatus(IrohStatus.DISCONNECTED);
      throw new IrohError('IrohServer was closed while it was starting to listen');
    }
    this.endpoint = endpoint;
    this.telemetry.dispose();
    this.telemetry = createServerTelemetry();
    this.stopSweep = startStallSweep(this.registry, this.limits, this.host.logger);
    this.host.setStatus(IrohStatus.CONNECTED);
    this.emitter.emit(IrohEventsMap.LISTENING);
    void acceptConnections(endpoint, this);
  }

  /**
   * Graceful shutdown: clients that understand it get GOAWAY first and send nothing new;
   * requests arriving meanwhile are refused with GOING_AWAY; requests in flight may finish
   * for up to `drainTimeout`; then every connection is closed with a reason and the UDP port
   * is released. Concurrent calls share one shutdown.
   */
  close(): Promise<void> {
    if (!this.shutdown) this.shutdown = this.shutDown();
    return this.shutdown;
  }

  private async shutDown(): Promise<void> {
    // The waits below use unref'd timers (they must not keep a process alive on their own),
    // so the shutdown holds the process until it has settled: `await app.close()` returns.
    const hold = setInterval(() => undefined, 60_000);
    // Every step that touches connections or the endpoint is a function of its own: a
    // suspended async function keeps its locals alive, and a connection or endpoint still
    // referenced here would keep the UDP port from being released below.
    try {
      this.closing = true;
      this.stopSweep?.();
      this.stopSweep = null;
      this.admission.startDraining();
      this.announceDrain();
      await this.drain();
      await this.closeConnections();
      const closed = await this.closeEndpoint();
      if (!closed) return;
      if (releasesPortOnClose(this.options) && !(await closed.releasePort())) {
        this.host.logger.warn?.(`The UDP port(s) ${closed.sockets.join(', ')} were not released yet; they will be when collected`);
      }
      this.host.setStatus(IrohStatus.DISCONNECTED);
      this.emitter.emit(IrohEventsMap.CLOSE);
    } finally {
      this.telemetry.dispose();
      this.telemetry = NOOP_SERVER_TELEMETRY;
      clearInterval(hold);
    }
  }

  /** GOAWAY to the clients that announced DRAIN: they send nothing new while requests finish. */
  private announceDrain(): void {
    for (const { channel } of this.registry.channels()) {
      if (channel.supports(Feature.DRAIN)) channel.announceGoAway('server shutting down');
    }
  }

  /**
   * Waits until no request is in flight and every client that drains (DRAIN) is done with its
   * streams — a request it sent before it saw our GOAWAY is still answered (refused) rather
   * than cut off with the connection — or until `drainTimeout` has passed.
   */
  private async drain(): Promise<void> {
    const clientsDone: Promise<void>[] = [];
    for (const { channel } of this.registry.channels()) {
      if (channel.supports(Feature.DRAIN)) clientsDone.push(channel.whenClientDone());
    }
    if (this.admission.inflight === 0 && clientsDone.length === 0) return;
    await settledWithin(Promise.all([this.admission.whenIdle(), ...clientsDone]), this.limits.drainTimeout);
    if (this.admission.inflight > 0) {
      this.host.logger.warn?.(`Closing with ${this.admission.inflight} request(s) still in flight after ${this.limits.drainTimeout} ms`);
    }
  }

  private async closeConnections(): Promise<void> {
    const peers = this.registry.takeAll();
    for (const peer of peers) {
      this.telemetry.connectionClosed(false);
      for (const channel of peer.channels) channel.goAway(ErrorCode.GOING_AWAY, 'server shutting down');
    }
    await Promise.all(
      peers.map(async peer => {
        // Replies finished during the drain must reach the client before the connection
        // closes; a client that does not read would keep this waiting: bounded.
        await Promise.all([...peer.channels].map(channel => channel.delivered(DELIVERY_TIMEOUT)));
        peer.channels.clear();
        closeConnection(peer.connection, ErrorCode.GOING_AWAY, 'server shutting down');
      }),
    );
  }

  private closeEndpoint(): Promise<ClosedEndpoint | null> {
    return closeEndpoint(
      () => {
        const endpoint = this.endpoint;
        this.endpoint = null;
        return endpoint;
      },
      message => this.host.logger.warn?.(message),
    );
  }

  private requireEndpoint(): IoEndpoint {
    if (!this.endpoint) {
      throw new IrohError('IrohServer is not listening: call app.listen() (or startAllMicroservices()) first');
    }
    return this.endpoint;
  }

  // ---------------------------------------------------------------- AcceptHost

  isAllowed(endpointId: string): Promise<boolean> {
    return this.isAllowedPeer(endpointId);
  }

  connectionBudget(evict: (reason: string) => void): ConnectionBudget {
    return this.pool.connectionBudget(evict);
  }

  openChannel(bi: IoBiStream, peer: PeerConnection): ServerChannel {
    return new ServerChannel(bi, peer, this).start();
  }

  peerConnected(peer: PeerConnection): void {
    this.telemetry.connectionOpened();
    this.emitter.emit(IrohEventsMap.PEER_CONNECT, peer.remoteEndpointId);
  }

  peerClosed(peer: PeerConnection, reason: string): void {
    // Whatever the peer sent and the server has not started on is dropped, its memory given back.
    this.events.forget(peer);
    peer.budget.close();
    if (!this.registry.remove(peer)) return;
    this.telemetry.connectionClosed(isLoss(reason));
    for (const channel of peer.channels) channel.close();
    peer.channels.clear();
    this.emitter.emit(IrohEventsMap.PEER_DISCONNECT, peer.remoteEndpointId, reason);
  }

  // ---------------------------------------------------------------- ServerChannelHost

  onRequest(channel: ServerChannel, frame: Frame): FrameWork {
    return this.inbound.onRequest(channel, frame);
  }

  onEvent(channel: ServerChannel, frame: Frame): FrameWork {
    return this.inbound.onEvent(channel, frame);
  }

  onOversized(channel: ServerChannel, frame: OversizedFrame): void {
    this.inbound.onOversized(channel, frame, this.maxMessageSize);
  }

  onUploadValue(channel: ServerChannel, request: ServerRequest, frame: Frame): FrameWork {
    return this.inbound.onUploadValue(channel, request, frame);
  }

  onOutOfMemory(channel: ServerChannel, frame: Frame): void {
    this.inbound.onOutOfMemory(channel, frame);
  }

  writeReply(channel: ServerChannel, request: ServerRequest, message: ReplyMessage, serialize: boolean): void {
    this.replies.write(channel, request, message, serialize);
  }

  requestStarted(channel: ServerChannel): void {
    this.admission.started(channel.remoteEndpointId);
  }

  requestEnded(channel: ServerChannel): void {
    this.admission.ended(channel.remoteEndpointId);
  }

  onChannelClosed(channel: ServerChannel): void {
    this.registry.forgetChannel(channel);
  }
}

/**
 * Whether a connection ended without an orderly close: the binding reports `closed` when this
 * side closed it and `closed by peer: …` when the client did; anything else (an idle timeout,
 * a reset) is a loss.
 */
function isLoss(reason: string): boolean {
  return reason !== 'closed' && !reason.startsWith('closed by peer');
}
