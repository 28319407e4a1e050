import { Logger } from '@nestjs/common';
import { ClientProxy, ReadPacket, WritePacket } from '@nestjs/microservices';
import { EventEmitter } from 'events';
import { Observable } from 'rxjs';
import type iroh = require('../iroh/binding');
import { IoConnection, IoEndpoint, IrohError } from '../iroh';
import { IrohEvents, IrohEventsMap, IrohStatus } from '../interfaces/iroh-events.interface';
import { ClientIrohOptions } from '../interfaces/iroh-options.interface';
import { CallType, ClientCallTelemetry } from '../observability';
import { EncodedPayload, Frame, ReplyMessage, compressionOf, inflatePayload, withoutCompression } from '../protocol';
import { IrohClientError, IrohClientErrorCode, replyError } from './client-errors';
import { ClientObservability } from './client-observability';
import { resolveClientOptions } from './client-options';
import { ClientRequest, ClientRequestOptions } from './client-request';
import { deserializeReply, serializePacket } from './client-serialization';
import { Connector } from './connector';
import { LoadBalancer, ReplyDecoding } from './load-balancer';
import { IrohPingResult, PeerConnection } from './peer-connection';
import { IrohSendOptions, deliverReplies } from './reply-delivery';

export { IrohPingResult } from './peer-connection';
export { IrohSendOptions } from './reply-delivery';

/** Compressed replies at least this large are inflated off the event loop (their output is some 256 KiB or more). */
const ASYNC_INFLATE_FROM = 64 * 1024;

/** One peer's answer to {@link ClientIroh.pingAll}. */
export interface IrohPeerPing {
  endpointId: string;
  /** The round trip, or null when the peer could not be reached. */
  result: IrohPingResult | null;
  error: Error | null;
}

/**
 * A Nest `ClientProxy` that talks to one or several {@link IrohServer}s over iroh. It keeps
 * one QUIC connection (and one multiplexed stream) per server, and sends each request to the
 * ready server with the fewest requests in flight (see {@link LoadBalancer}).
 */
export class ClientIroh extends ClientProxy<IrohEvents, string> implements ReplyDecoding {
  protected readonly logger = new Logger(ClientIroh.name);
  readonly maxMessageSize: number;
  /** Milliseconds a request may take from subscribe to its last reply (0: no limit). */
  protected readonly timeout: number;
  private readonly customSerializer: boolean;
  private readonly customDeserializer: boolean;
  private readonly emitter = new EventEmitter();
  private readonly connector: Connector;
  private readonly balancer: LoadBalancer;
  private readonly observability: ClientObservability;

  constructor(options: ClientIrohOptions) {
    super();
    const settings = resolveClientOptions(options);
    this.maxMessageSize = settings.maxMessageSize;
    this.timeout = settings.timeout;
    this.customSerializer = options.serializer !== undefined;
    this.customDeserializer = options.deserializer !== undefined;
    this.initializeSerializer(options);
    this.initializeDeserializer(options);
    this.connector = new Connector(options, settings.alpn, this.logger);
    const emit = (event: string, ...args: unknown[]) => this.emitter.emit(event, ...args);
    this.observability = new ClientObservability(() => this.balancer.observePaths());
    this.balancer = new LoadBalancer(
      settings.targets,
      this.connector,
      settings.peer,
      this,
      {
        status: status => this._status$.next(status),
        connect: () => emit(IrohEventsMap.CONNECT),
        disconnect: reason => emit(IrohEventsMap.DISCONNECT, reason),
        peerConnect: endpointId => emit(IrohEventsMap.PEER_CONNECT, endpointId),
        peerDisconnect: (endpointId, reason) => emit(IrohEventsMap.PEER_DISCONNECT, endpointId, reason),
      },
      () => this.observability.start(),
    );
    this.emitter.on(IrohEventsMap.ERROR, () => undefined);
  }

  /** The endpoint id of this client (available once connected). */
  get endpointId(): string {
    const endpoint = this.connector.bound;
    if (!endpoint) throw new Error('Not initialized. Please call the "connect" method first.');
    return endpoint.id();
  }

  /** The endpoint ids of the configured peers, in order. */
  get peerIds(): string[] {
    return this.balancer.peers.map(peer => peer.endpointId);
  }

  /**
   * Resolves once a peer is ready (connecting to every peer). Rejects when each peer failed
   * an attempt begun since the call. Requests do not need it: they connect on their own.
   */
  async connect(): Promise<void> {
    this.observability.start();
    try {
      await this.balancer.whenReady();
    } catch (err) {
      this.emitter.emit(IrohEventsMap.ERROR, err);
      throw err;
    }
  }

  /**
   * Measures the round trip to a server with a PING frame (no handler involved) and tells
   * which path the connection uses: `direct` (UDP to the peer's address) or `relay`.
   * `peer` (an endpoint id or a configured ticket) chooses the server; by default the one a
   * request would go to. Connects first when needed; `timeout` (default 5000 ms) counts the
   * connecting too.
   */
  async ping(options: { timeout?: number; peer?: string } = {}): Promise<IrohPingResult> {
    const timeout = options.timeout ?? 5000;
    const peer = options.peer === undefined ? null : this.requirePeer(options.peer);
    return this.pingPeer(peer, timeout);
  }

  /** Pings every configured peer (connecting where needed); a peer that cannot be reached reports its error. */
  pingAll(options: { timeout?: number } = {}): Promise<IrohPeerPing[]> {
    const timeout = options.timeout ?? 5000;
    return Promise.all(
      this.balancer.peers.map(peer =>
        this.pingPeer(peer, timeout).then(
          result => ({ endpointId: peer.endpointId, result, error: null }),
          (error: Error) => ({ endpointId: peer.endpointId, result: null, error }),
        ),
      ),
    );
  }

  private async pingPeer(peer: PeerConnection | null, timeout: number): Promise<IrohPingResult> {
    const deadline = Date.now() + timeout;
    const ready = await this.balancer.whenReady(peer ? candidate => candidate === peer : undefined, timeout);
    return ready.ping(Math.max(0, deadline - Date.now()));
  }

  private requirePeer(peer: string): PeerConnection {
    const found = this.balancer.peers.find(p => p.endpointId === peer || p.target === peer);
    if (!found) throw new IrohError(`${peer} is not one of this client's peers`);
    return found;
  }

  /** Closes every connection; requests in flight fail. A later request connects again. */
  async close(): Promise<void> {
    await this.balancer.close();
    await this.connector.close();
    this.observability.dispose();
    this._status$.next(IrohStatus.DISCONNECTED);
    this.emitter.emit(IrohEventsMap.CLOSE);
  }

  /**
   * The iroh `Endpoint` this client dials from. With `ioThread` the endpoint lives in the I/O
   * thread: this returns an `IoEndpoint` there (id(), ticket(), boundSockets()).
   */
  unwrap<T = iroh.Endpoint>(): T {
    const endpoint = this.connector.bound;
    if (!endpoint) throw new Error('Not initialized. Please call the "connect" method first.');
    return endpoint.unwrap() as T;
  }

  on<EventKey extends keyof IrohEvents = keyof IrohEvents, EventCallback extends IrohEvents[EventKey] = IrohEvents[EventKey]>(
    event: EventKey,
    callback: EventCallback,
  ): void {
    this.emitter.on(event, callback as (...args: any[]) => void);
  }

  /**
   * As `ClientProxy#send`, without its `connect()` first: the request connects on its own,
   * and its deadline (`timeout`) counts from here, connecting included. The result is the
   * same lazy Observable. `options` (not part of `ClientProxy`) may ask for the reply
   * metadata.
   */
  override send<TResult = any, TInput = any>(pattern: any, data: TInput, options?: IrohSendOptions): Observable<TResult> {
    if (pattern === null || pattern === undefined || data === null || data === undefined) {
      return super.send(pattern, data);
    }
    const onReplyMetadata = options?.onReplyMetadata;
    return new Observable<TResult>(observer =>
      this.publishRequest(this.packetOf(pattern, data), this.createObserver(observer), onReplyMetadata),
    );
  }

  /** The packet Nest builds: with Nest 12, through `createPacket`, so the dispatch hook runs. */
  private packetOf(pattern: unknown, data: unknown): ReadPacket {
    const create = (this as any).createPacket as ((pattern: unknown, data: unknown) => ReadPacket) | undefined;
    return create ? create.call(this, pattern, data) : { pattern, data };
  }

  protected publish(packet: ReadPacket & { metadata?: unknown }, callback: (packet: WritePacket) => void): () => void {
    return this.publishRequest(packet, callback, undefined);
  }

  private publishRequest(
    packet: ReadPacket & { metadata?: unknown },
    callback: (packet: WritePacket) => void,
    onReplyMetadata: IrohSendOptions['onReplyMetadata'],
  ): () => void {
    const pattern = this.normalizePattern(packet.pattern);
    // A CLIENT span from here (the subscription) to the last reply, child of the active span.
    const call = this.startTelemetry('request', pattern);
    let payload: EncodedPayload;
    try {
      payload = this.encodePacket(packet, pattern, call.inject(packet.metadata));
    } catch (err) {
      call.end(err);
      callback({ err, isDisposed: true });
      return () => undefined;
    }
    const deadline = this.timeout > 0 ? Date.now() + this.timeout : Infinity;
    const replies = deliverReplies(callback, call, onReplyMetadata);
    const request = this.startRequest({ payload, callback: replies, deadline, telemetry: call });
    return () => {
      request.cancel();
      call.cancel();
    };
  }

  /** The telemetry of a call starting now, as a child of the active span (for clients built on this one too). */
  protected startTelemetry(type: CallType, pattern: string): ClientCallTelemetry {
    return this.observability.startCall(type, pattern, this.balancer.peers);
  }

  /** Starts a request: to a ready peer, or queued while peers connect (for clients built on this one). */
  protected startRequest(options: ClientRequestOptions): ClientRequest {
    const request = new ClientRequest(options);
    this.balancer.route(request);
    return request;
  }

  protected async dispatchEvent<T = any>(packet: ReadPacket & { metadata?: unknown }): Promise<T> {
    const pattern = this.normalizePattern(packet.pattern);
    // A CLIENT span until the event is handed to the connection.
    const call = this.startTelemetry('event', pattern);
    try {
      const payload = this.encodePacket(packet, pattern, call.inject(packet.metadata));
      const peer = this.balancer.pickReady() ?? (await this.balancer.whenReady());
      const transport = peer.transport;
      if (!transport) throw new IrohClientError(IrohClientErrorCode.CONNECTION_LOST, 'Not connected');
      call.setPeer(peer.endpointId, transport.path);
      await transport.channel.event(payload);
    } catch (err) {
      call.end(err);
      throw err;
    }
    call.end();
    return undefined as T;
  }

  decodeReply(frame: Frame): ReplyMessage | Promise<ReplyMessage> {
    if (compressionOf(frame.flags) && frame.payload.length >= ASYNC_INFLATE_FROM) {
      // Inflated on zlib's thread pool, in slices, so the event loop is not held meanwhile.
      return new Promise<Buffer>(resolve =>
        resolve(inflatePayload(frame.payload, frame.flags, { maxSize: this.maxMessageSize, syncLimit: 1 })),
      ).then(
        bytes => this.decodeReply({ ...frame, flags: withoutCompression(frame.flags), payload: bytes }),
        err => {
          throw replyError(err);
        },
      );
    }
    return deserializeReply(frame, this.maxMessageSize, this.deserializer, this.customDeserializer);
  }

  /** `metadata`: the packet's, with the trace context when there is one to pass on. */
  private encodePacket(packet: ReadPacket & { metadata?: unknown }, pattern: string, metadata: unknown): EncodedPayload {
    return serializePacket(packet, pattern, metadata, this.customSerializer ? this.serializer : null, this.maxMessageSize);
  }

  /** The first ready peer's connection and stream (diagnostics; tests look at it). */
  protected get active(): { connection: IoConnection; channel: unknown } | null {
    return this.balancer.peers.find(peer => peer.isReady)?.transport ?? null;
  }

  /** The bound endpoint, or null (diagnostics; tests look at it). */
  protected get endpoint(): IoEndpoint | null {
    return this.connector.bound;
  }
}
