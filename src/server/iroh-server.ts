import { Logger, LoggerService } from '@nestjs/common';
import { CustomTransportStrategy, ReadPacket, Server, Transport } from '@nestjs/microservices';
import { EventEmitter } from 'events';
import { Observable, finalize } from 'rxjs';
import { IROH_TRANSPORT, NO_MESSAGE_HANDLER } from '../constants';
import { IrohContext } from '../context/iroh.context';
import iroh = require('../iroh/binding');
import {
  IrohError,
  alpnBytes,
  bindEndpoint,
  bindingErrorMessage,
  closeConnection,
  closeEndpoint,
  releaseNativeHandles,
  ticketOf,
} from '../iroh';
import { IrohEvents, IrohEventsMap, IrohStatus } from '../interfaces/iroh-events.interface';
import { IrohServerOptions } from '../interfaces/iroh-options.interface';
import { resolveProtocolOptions } from '../interfaces/protocol-options';
import {
  DecodedRequest,
  ErrorCode,
  Frame,
  FrameType,
  ProtocolError,
  ReplyMessage,
  decodeRequestMessage,
  encodeEnvelope,
  encodeReplyMessage,
  isFinalReply,
  messageSize,
  messageTooLargeMessage,
  replyFrameType,
} from '../protocol';
import { hasGrpcServiceOptions } from '../grpc/grpc-proto-options';
import { isGrpcMethodPath } from '../grpc/grpc-wire';
import { GrpcServerCalls } from '../grpc/server/grpc-server-calls';
import { originalPrototypeOf, presentAsNestGrpcServer } from '../grpc/server/nest-grpc-identity';
import { InflightRequest, ServerChannel, ServerChannelHost, transportErrorValue } from './server-channel';
import { ServerLimits, resolveServerLimits } from './server-limits';
import { peerAuthorizer } from './peer-authorization';


/** A request or event as handed to Nest. */
interface InboundPacket {
  pattern: any;
  data: unknown;
  metadata?: unknown;
  id?: number;
}

type MessageHandlerFn = ((data: unknown, ctx: IrohContext) => Promise<unknown>) & { isEventHandler?: boolean };

interface PeerConnection {
  connection: iroh.Connection;
  remoteEndpointId: string;
  channels: Set<ServerChannel>;
}

/** Nest 12 dispatches through `handleRequest`, which runs the processing hooks. */
const hasHandleRequest = typeof (Server.prototype as any).handleRequest === 'function';

/**
 * A Nest microservice transport over iroh. Use it as the `strategy` of
 * `NestFactory.createMicroservice` or `app.connectMicroservice`; after `listen()`,
 * `endpointId` and `ticket` tell clients how to reach it.
 */
export class IrohServer extends Server<IrohEvents, IrohStatus> implements CustomTransportStrategy, ServerChannelHost {
  /**
   * `IROH_TRANSPORT`; `Transport.GRPC` for a server that serves gRPC controllers, so that
   * Nest registers their handlers on it (it then serves handlers pinned to IROH_TRANSPORT no more).
   */
  override readonly transportId: symbol | Transport = IROH_TRANSPORT;
  override readonly logger: LoggerService = new Logger(IrohServer.name);
  readonly maxMessageSize: number;
  private readonly compressionThreshold: number;
  private readonly limits: ServerLimits;
  private readonly isAllowedPeer: (endpointId: string) => Promise<boolean>;
  /** Connections by remote endpoint id, for per-peer limits. */
  private readonly connectionsByPeer = new Map<string, Set<PeerConnection>>();
  private stallSweep: NodeJS.Timeout | null = null;
  /** Connections accepted and not yet registered (handshake, allowPeers). */
  private handshakes = 0;
  private readonly alpn: number[];
  private readonly customSerializer: boolean;
  private readonly customDeserializer: boolean;
  private readonly emitter = new EventEmitter();
  private readonly peers = new Set<PeerConnection>();
  private endpoint: iroh.Endpoint | null = null;
  private closing = false;
  private readonly grpcCalls: GrpcServerCalls;

  /** Also true for a server serving gRPC controllers, which Nest sees as a `ServerGrpc`. */
  static [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    const original = originalPrototypeOf(value);
    return original !== undefined && (original === this.prototype || this.prototype.isPrototypeOf(original));
  }

  constructor(private readonly options: IrohServerOptions = {}) {
    super();
    const protocol = resolveProtocolOptions(options);
    this.maxMessageSize = protocol.maxMessageSize;
    this.compressionThreshold = protocol.compressionThreshold;
    this.alpn = alpnBytes(options.alpn);
    this.limits = resolveServerLimits(options);
    this.isAllowedPeer = peerAuthorizer(options.allowPeers);
    this.customSerializer = options.serializer !== undefined;
    this.customDeserializer = options.deserializer !== undefined;
    this.initializeSerializer(options);
    this.initializeDeserializer(options);
    // An 'error' event without listeners would throw.
    this.emitter.on(IrohEventsMap.ERROR, () => undefined);
    const servesGrpc = options.grpc === true || hasGrpcServiceOptions(options);
    this.grpcCalls = new GrpcServerCalls(
      {
        server: this as unknown as Server,
        logger: this.logger,
        maxMessageSize: this.maxMessageSize,
        reply: (channel, id, request, message) => this.reply(channel as ServerChannel, id, request, message, false),
      },
      options,
      servesGrpc,
    );
    if (servesGrpc) {
      (this as { transportId: symbol | Transport }).transportId = Transport.GRPC;
      presentAsNestGrpcServer(this);
    }
  }

  /** This server's endpoint id (hex public key). Available once listening. */
  get endpointId(): string {
    return this.requireEndpoint().id().toString();
  }

  /** An endpoint ticket with this server's id, direct addresses and relay. Available once listening. */
  get ticket(): string {
    return ticketOf(this.requireEndpoint());
  }

  /** Endpoint ids of the peers connected now. */
  get connectedPeers(): string[] {
    return [...this.peers].map(p => p.remoteEndpointId);
  }

  async listen(callback: (err?: unknown, ...optionalParams: unknown[]) => void): Promise<void> {
    this.closing = false;
    this._status$.next(IrohStatus.CONNECTING);
    let endpoint: iroh.Endpoint;
    try {
      this.grpcCalls.prepare();
      endpoint = await bindEndpoint(this.options, this.alpn);
    } catch (err) {
      this._status$.next(IrohStatus.DISCONNECTED);
      return callback(err);
    }
    if (this.closing) {
      // close() ran while binding: give the endpoint back at once.
      this.endpoint = endpoint;
      await this.closeEndpoint();
      this._status$.next(IrohStatus.DISCONNECTED);
      return callback(new IrohError('IrohServer was closed while it was starting to listen'));
    }
    this.endpoint = endpoint;
    this.startStallSweep();
    this._status$.next(IrohStatus.CONNECTED);
    this.emitter.emit(IrohEventsMap.LISTENING);
    void this.acceptLoop(endpoint);
    callback();
  }

  /**
   * Graceful shutdown: new connections and requests are refused (late requests get a
   * GOING_AWAY error), requests in flight may finish for up to `drainTimeout`, then every
   * connection is closed with a reason and the UDP port is released.
   */
  async close(): Promise<void> {
    if (this.closing && !this.endpoint) return;
    this.closing = true;
    if (this.stallSweep) clearInterval(this.stallSweep);
    this.stallSweep = null;
    await this.drain();
    await this.closeConnections();
    // The endpoint is closed in a function of its own so that no local here still
    // references it while the port is released.
    const sockets = await this.closeEndpoint();
    if (sockets) {
      if (!(await releaseNativeHandles(sockets))) {
        this.logger.warn?.(`The UDP port(s) ${sockets.join(', ')} were not released yet; they will be when collected`);
      }
      this._status$.next(IrohStatus.DISCONNECTED);
      this.emitter.emit(IrohEventsMap.CLOSE);
    }
  }

  private async closeConnections(): Promise<void> {
    const peers = [...this.peers];
    this.peers.clear();
    this.connectionsByPeer.clear();
    for (const peer of peers) {
      for (const channel of peer.channels) channel.goAway(ErrorCode.GOING_AWAY, 'server shutting down');
    }
    await Promise.all(
      peers.map(async peer => {
        // Replies finished during the drain must reach the client before the connection
        // closes; a client that does not read would keep this waiting: two seconds at most.
        await Promise.all([...peer.channels].map(channel => channel.delivered(2000)));
        peer.channels.clear();
        closeConnection(peer.connection, ErrorCode.GOING_AWAY, 'server shutting down');
      }),
    );
  }

  private closeEndpoint(): Promise<string[] | null> {
    return closeEndpoint(
      () => {
        const endpoint = this.endpoint;
        this.endpoint = null;
        return endpoint;
      },
      message => this.logger.warn?.(message),
    );
  }

  /** Requests in flight on all connections. */
  get inflightRequests(): number {
    let count = 0;
    for (const peer of this.peers) for (const channel of peer.channels) count += channel.inflight.size;
    return count;
  }

  /** Waits until no request is in flight, or `drainTimeout` has passed. */
  private async drain(): Promise<void> {
    const deadline = Date.now() + this.limits.drainTimeout;
    while (this.inflightRequests > 0 && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    if (this.inflightRequests > 0) {
      this.logger.warn?.(`Closing with ${this.inflightRequests} request(s) still in flight after ${this.limits.drainTimeout} ms`);
    }
  }

  /** The iroh `Endpoint` this server listens on. */
  unwrap<T = iroh.Endpoint>(): T {
    return this.requireEndpoint() as T;
  }

  on<EventKey extends keyof IrohEvents = keyof IrohEvents, EventCallback extends IrohEvents[EventKey] = IrohEvents[EventKey]>(
    event: EventKey,
    callback: EventCallback,
  ): void {
    this.emitter.on(event as string, callback as (...args: any[]) => void);
  }

  private requireEndpoint(): iroh.Endpoint {
    if (!this.endpoint) {
      throw new IrohError('IrohServer is not listening: call app.listen() (or startAllMicroservices()) first');
    }
    return this.endpoint;
  }

  private async acceptLoop(endpoint: iroh.Endpoint): Promise<void> {
    for (;;) {
      let incoming: iroh.Incoming | null;
      try {
        incoming = await endpoint.acceptNext();
      } catch {
        return;
      }
      if (!incoming || this.closing) return;
      // Handshakes in progress count too, or a burst of connections would all get in.
      if (this.peers.size + this.handshakes >= this.limits.maxConnections) {
        this.logger.warn?.(`Refused a connection: ${this.limits.maxConnections} connections already (maxConnections)`);
        incoming.refuse().catch(() => undefined);
        continue;
      }
      this.handshakes++;
      let handshaking = true;
      const registered = () => {
        if (handshaking) this.handshakes--;
        handshaking = false;
      };
      void this.acceptConnection(incoming, registered).finally(registered);
    }
  }

  /** Accepts and serves one connection; `registered` is called once it counts as a peer. */
  private async acceptConnection(incoming: iroh.Incoming, registered: () => void): Promise<void> {
    let connection: iroh.Connection;
    try {
      connection = await (await incoming.accept()).connect();
    } catch (err) {
      this.logger.debug?.(`Incoming connection failed: ${bindingErrorMessage(err)}`);
      return;
    }
    if (this.closing) {
      closeConnection(connection, ErrorCode.GOING_AWAY, 'server shutting down');
      return;
    }
    const remoteEndpointId = connection.remoteId().toString();
    if (!(await this.authorize(remoteEndpointId))) {
      closeConnection(connection, ErrorCode.UNAUTHORIZED, 'peer not allowed');
      return;
    }
    try {
      connection.setMaxConcurrentBiStreams(BigInt(this.limits.maxStreamsPerConnection));
    } catch {
      // The connection is already closed; the stream loop below ends at once.
    }
    const peer: PeerConnection = { connection, remoteEndpointId, channels: new Set() };
    this.peers.add(peer);
    registered();
    let sameId = this.connectionsByPeer.get(remoteEndpointId);
    if (!sameId) this.connectionsByPeer.set(remoteEndpointId, (sameId = new Set()));
    sameId.add(peer);
    this.emitter.emit(IrohEventsMap.PEER_CONNECT, peer.remoteEndpointId);
    connection.closed().then(
      reason => this.onPeerClosed(peer, reason),
      err => this.onPeerClosed(peer, bindingErrorMessage(err)),
    );
    for (;;) {
      let bi: iroh.BiStream;
      try {
        bi = await connection.acceptBi();
      } catch {
        return;
      }
      if (peer.channels.size >= this.limits.maxStreamsPerConnection) {
        // QUIC's initial stream credit can exceed the limit set after the handshake.
        refuseStream(bi);
        continue;
      }
      const channel = new ServerChannel(bi, connection, peer.remoteEndpointId, this);
      peer.channels.add(channel);
      channel.start();
    }
  }

  private async authorize(endpointId: string): Promise<boolean> {
    try {
      if (await this.isAllowedPeer(endpointId)) return true;
      this.logger.warn?.(`Refused a connection from ${endpointId}: not in allowPeers`);
    } catch (err) {
      this.logger.error(`allowPeers failed for ${endpointId}, refusing: ${errorMessage(err)}`);
    }
    return false;
  }

  /**
   * Closes connections whose client stopped sending in the middle of a frame, and (with
   * `idleTimeout`) those that sent nothing at all for that long: clients ping every few
   * seconds, so silence means the client is gone, long before QUIC's own idle timeout.
   */
  private startStallSweep(): void {
    const { incompleteFrameTimeout, idleTimeout, writeStallTimeout } = this.limits;
    const every = Math.min(1000, incompleteFrameTimeout, writeStallTimeout, idleTimeout > 0 ? idleTimeout : Infinity);
    this.stallSweep = setInterval(() => {
      const now = Date.now();
      for (const peer of this.peers) {
        for (const channel of peer.channels) {
          if (channel.isStalled(now, incompleteFrameTimeout)) {
            channel.onProtocolError(
              new ProtocolError(ErrorCode.PROTOCOL_ERROR, `frame incomplete for more than ${incompleteFrameTimeout} ms`),
            );
          } else if (channel.isWriteStalled(now, writeStallTimeout)) {
            this.logger.warn?.(`Closing the connection of ${peer.remoteEndpointId}: replies unread for ${writeStallTimeout} ms`);
            channel.close();
            closeConnection(peer.connection, ErrorCode.LIMIT_EXCEEDED, `replies unread for more than ${writeStallTimeout} ms`);
          } else if (idleTimeout > 0 && channel.isIdle(now, idleTimeout)) {
            this.logger.warn?.(`Closing the connection of ${peer.remoteEndpointId}: nothing received for ${idleTimeout} ms`);
            channel.close();
            closeConnection(peer.connection, ErrorCode.NO_ERROR, `idle for more than ${idleTimeout} ms`);
          }
        }
      }
    }, every);
    this.stallSweep.unref();
  }

  /** Requests in flight from one peer over all its connections. */
  private inflightOfPeer(endpointId: string): number {
    let count = 0;
    for (const peer of this.connectionsByPeer.get(endpointId) ?? []) {
      for (const channel of peer.channels) count += channel.inflight.size;
    }
    return count;
  }

  private onPeerClosed(peer: PeerConnection, reason: string): void {
    const sameId = this.connectionsByPeer.get(peer.remoteEndpointId);
    sameId?.delete(peer);
    if (sameId?.size === 0) this.connectionsByPeer.delete(peer.remoteEndpointId);
    if (!this.peers.delete(peer)) return;
    for (const channel of peer.channels) channel.close();
    peer.channels.clear();
    this.emitter.emit(IrohEventsMap.PEER_DISCONNECT, peer.remoteEndpointId, reason);
  }

  onChannelClosed(channel: ServerChannel): void {
    for (const peer of this.peers) peer.channels.delete(channel);
  }

  onRequest(channel: ServerChannel, frame: Frame): void {
    if (this.closing) {
      channel.writeTransportError(frame.id, ErrorCode.GOING_AWAY, 'Server is shutting down');
      return;
    }
    if (channel.inflight.size + channel.cancelledStillRunning >= this.limits.maxConcurrentRequests) {
      channel.writeTransportError(
        frame.id,
        ErrorCode.LIMIT_EXCEEDED,
        `Too many requests in flight on this connection (maxConcurrentRequests ${this.limits.maxConcurrentRequests})`,
      );
      return;
    }
    if (this.inflightOfPeer(channel.remoteEndpointId) >= this.limits.maxConcurrentRequestsPerPeer) {
      channel.writeTransportError(
        frame.id,
        ErrorCode.LIMIT_EXCEEDED,
        `Too many requests in flight from this peer (maxConcurrentRequestsPerPeer ${this.limits.maxConcurrentRequestsPerPeer})`,
      );
      return;
    }
    const request = channel.beginRequest(frame.id);
    if (!request) return;
    const decoded = this.decodeRequest(channel, frame);
    if (!decoded) return;
    if (!decoded.envelope && isGrpcMethodPath(decoded.body.pattern) && !this.messageHandlers.has(decoded.body.pattern)) {
      try {
        this.grpcCalls.dispatch(channel, frame.id, decoded.body, request, { err: NO_MESSAGE_HANDLER, isDisposed: true });
      } catch (err) {
        this.logger.error(`gRPC call ${frame.id} from ${channel.remoteEndpointId} failed: ${errorMessage(err)}`);
        this.reply(channel, frame.id, request, { err: transportErrorValue(ErrorCode.INTERNAL_ERROR, errorMessage(err)) }, false);
      }
      return;
    }
    this.handleIncomingRequest(channel, frame, decoded, request).catch(err => {
      channel.handlerFinished(request);
      this.logger.error(`Request ${frame.id} from ${channel.remoteEndpointId} failed: ${errorMessage(err)}`);
      this.reply(channel, frame.id, request, { err: transportErrorValue(ErrorCode.INTERNAL_ERROR, errorMessage(err)) });
    });
  }

  onEvent(channel: ServerChannel, frame: Frame): void {
    if (this.closing) {
      this.logger.warn?.(`Dropped an event from ${channel.remoteEndpointId}: server is shutting down`);
      return;
    }
    this.handleIncomingEvent(channel, frame).catch(err =>
      this.logger.error(`Event from ${channel.remoteEndpointId} failed: ${errorMessage(err)}`),
    );
  }

  private async handleIncomingRequest(
    channel: ServerChannel,
    frame: Frame,
    decoded: DecodedRequest,
    request: InflightRequest,
  ): Promise<void> {
    const id = frame.id;
    const packet = await this.toPacket(decoded, id);
    const pattern = this.patternAsString(packet.pattern);
    if (this.exceedsPatternLength(pattern)) {
      this.failRequest(channel, id, request, ErrorCode.LIMIT_EXCEEDED, `Pattern longer than ${this.limits.maxPatternLength} bytes (maxPatternLength)`);
      return;
    }
    const context = new IrohContext([channel.remoteEndpointId, pattern, packet.metadata, id]);
    const handler = (this.messageHandlers.get(pattern) ?? this.getHandlerByPattern(pattern)) as MessageHandlerFn | null;
    if (!handler) {
      this.reply(channel, id, request, { err: NO_MESSAGE_HANDLER, isDisposed: true });
      return;
    }
    const respond = (message: ReplyMessage) => this.reply(channel, id, request, message);
    const produce = async (): Promise<Observable<unknown>> =>
      cancellable(
        this.transformToObservable(await handler(packet.data, context)),
        request,
        () => channel.handlerFinished(request),
        this.logger,
      );
    if (request.cancelled) return;
    request.running = true;
    if (hasHandleRequest) {
      await (this as any).handleRequest(context, produce, respond);
      return;
    }
    // Nest 11: the processing hooks around `send`, as its TCP transport runs them.
    // Nest 11 before 11.2 has no processing hooks at all.
    const startHook =
      (this as any).onProcessingStartHook ?? ((_transport: unknown, _context: unknown, done: () => Promise<void>) => done());
    await startHook.call(this, this.transportId as any, context, async () => {
      const response$ = await produce();
      this.send(
        response$.pipe(finalize(() => this.onProcessingEndHook?.(this.transportId as any, context))),
        respond as any,
      );
    });
  }

  private async handleIncomingEvent(channel: ServerChannel, frame: Frame): Promise<void> {
    const decoded = this.decodeRequest(channel, frame);
    if (!decoded) return;
    const packet = await this.toPacket(decoded, undefined);
    const pattern = this.patternAsString(packet.pattern);
    if (this.exceedsPatternLength(pattern)) {
      this.logger.warn?.(`Dropped an event from ${channel.remoteEndpointId}: pattern longer than ${this.limits.maxPatternLength} bytes`);
      return;
    }
    const context = new IrohContext([channel.remoteEndpointId, pattern, packet.metadata, 0]);
    await this.handleEvent(pattern, packet as ReadPacket, context);
  }

  /** Decodes a REQUEST or EVENT frame; on failure replies or logs, and returns null. */
  private decodeRequest(channel: ServerChannel, frame: Frame): DecodedRequest | null {
    try {
      return decodeRequestMessage(frame, this.maxMessageSize);
    } catch (err) {
      const code = err instanceof ProtocolError ? err.code : ErrorCode.MALFORMED_PAYLOAD;
      const message = `Malformed ${frame.type === FrameType.EVENT ? 'event' : 'request'}: ${errorMessage(err)}`;
      this.logger.warn?.(`${message} (from ${channel.remoteEndpointId})`);
      if (frame.type === FrameType.REQUEST) channel.writeTransportError(frame.id, code, message);
      channel.recordBadMessage();
      return null;
    }
  }

  /** A decoded REQUEST (with its `id`) or EVENT as a Nest packet, through the custom deserializer if any. */
  private async toPacket(decoded: DecodedRequest, id: number | undefined): Promise<InboundPacket> {
    if (!decoded.envelope && !this.customDeserializer) {
      const { pattern, data, metadata } = decoded.body;
      return { pattern, data, metadata, id };
    }
    const raw = decoded.envelope ? decoded.value : { ...decoded.body, id };
    const packet = await this.deserializer.deserialize(raw as any);
    return packet as InboundPacket;
  }

  /**
   * `Server#getPatternAsString` exists from Nest 11.2.4 on; earlier 11.x releases get the
   * same result here.
   */
  private patternAsString(pattern: unknown): string {
    const nest = (this as any).getPatternAsString as ((pattern: unknown) => string) | undefined;
    if (nest) return nest.call(this, pattern);
    if (typeof pattern === 'string') return pattern;
    try {
      return JSON.stringify(pattern);
    } catch {
      return 'Unserializable pattern';
    }
  }

  private exceedsPatternLength(pattern: string): boolean {
    const max = this.limits.maxPatternLength;
    return pattern.length > max || (pattern.length * 3 > max && Buffer.byteLength(pattern) > max);
  }

  /**
   * Writes one reply message of request `id` (values, errors and completion as Nest's `send`
   * produces them), through the custom serializer if any unless `serialize` is false.
   */
  private reply(
    channel: ServerChannel,
    id: number,
    request: InflightRequest,
    message: ReplyMessage,
    serialize = this.customSerializer,
  ): void {
    // By identity: once a request ended, the client may reuse its id for a new one.
    if (request.cancelled || channel.inflight.get(id) !== request) return;
    const type = replyFrameType(message);
    let payload;
    try {
      payload = serialize
        ? encodeEnvelope(this.serializer.serialize({ ...message, id: String(id) }), this.compressionThreshold)
        : encodeReplyMessage(message, this.compressionThreshold);
    } catch (err) {
      this.failRequest(channel, id, request, ErrorCode.INTERNAL_ERROR, `Reply could not be serialized: ${errorMessage(err)}`);
      return;
    }
    const size = messageSize(payload);
    if (size > this.maxMessageSize) {
      this.failRequest(channel, id, request, ErrorCode.MESSAGE_TOO_LARGE, `Reply: ${messageTooLargeMessage(size, this.maxMessageSize)}`);
      return;
    }
    if (type === FrameType.DATA && channel.pendingBytes + payload.bytes.length > this.limits.maxPendingReplyBytes) {
      this.failRequest(
        channel,
        id,
        request,
        ErrorCode.LIMIT_EXCEEDED,
        `Streamed reply dropped: the client does not read fast enough (maxPendingReplyBytes ${this.limits.maxPendingReplyBytes})`,
      );
      return;
    }
    channel.write(type, id, payload.bytes, payload.flags);
    if (isFinalReply(type)) channel.endRequest(id);
  }

  private failRequest(channel: ServerChannel, id: number, request: InflightRequest, code: ErrorCode, message: string): void {
    this.logger.error(`Request ${id} from ${channel.remoteEndpointId}: ${message}`);
    channel.writeTransportError(id, code, message);
    request.cancelled = true;
    try {
      request.cancel?.();
    } catch {
      // Logged by `cancellable`.
    }
  }
}

/** Wraps the handler's Observable so that a CANCEL frame unsubscribes it (its `finalize` runs). */
function cancellable<T>(
  source$: Observable<T>,
  request: InflightRequest,
  onFinished: () => void,
  logger: LoggerService,
): Observable<T> {
  return new Observable<T>(subscriber => {
    const subscription = source$.subscribe(subscriber);
    // A handler's teardown may throw (rxjs UnsubscriptionError): log it, never let it
    // escape into the stream's read loop or a connection callback.
    const unsubscribe = () => {
      try {
        subscription.unsubscribe();
      } catch (err) {
        logger.error(`A handler's teardown failed: ${errorMessage(err)}`);
      }
    };
    request.cancel = () => {
      unsubscribe();
      subscriber.complete();
    };
    if (request.cancelled) request.cancel();
    return () => {
      unsubscribe();
      onFinished();
    };
  });
}

/** Resets a stream the server will not serve (LIMIT_EXCEEDED on both halves). */
function refuseStream(bi: iroh.BiStream): void {
  const code = BigInt(ErrorCode.LIMIT_EXCEEDED);
  bi.recv.stop(code).catch(() => undefined);
  bi.send.reset(code).catch(() => undefined);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
