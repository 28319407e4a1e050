import { Logger } from '@nestjs/common';
import { ClientProxy, ReadPacket, WritePacket } from '@nestjs/microservices';
import { EventEmitter } from 'events';
import { Observable } from 'rxjs';
import iroh = require('../iroh/binding');
import {
  DEFAULT_CONNECT_TIMEOUT,
  IrohError,
  alpnBytes,
  bindEndpoint,
  bindingErrorMessage,
  closeConnection,
  closeEndpoint,
  connectWithTimeout,
  parsePeer,
  releaseNativeHandles,
} from '../iroh';
import { IrohEvents, IrohEventsMap, IrohStatus } from '../interfaces/iroh-events.interface';
import { ClientIrohOptions } from '../interfaces/iroh-options.interface';
import { resolveProtocolOptions } from '../interfaces/protocol-options';
import {
  EncodedPayload,
  ErrorCode,
  Frame,
  FrameFlag,
  FrameType,
  ReplyMessage,
  decodeFrameValue,
  decodeReplyMessage,
  encodeEnvelope,
  encodeRequestMessage,
  messageSize,
  messageTooLargeMessage,
} from '../protocol';
import { ClientChannel, ClientChannelHost, KeepAliveOptions } from './client-channel';
import { IrohClientError, IrohClientErrorCode, connectionLostError } from './client-errors';

/** What {@link ClientIroh.ping} measured. */
export interface IrohPingResult {
  /** Round-trip time of a PING/PONG, in milliseconds. */
  rttMs: number;
  /** `direct` when the connection goes straight to the peer's address, `relay` through a relay. */
  path: 'direct' | 'relay';
  /** The peer's address on the selected path (ip:port, or the relay URL). */
  remoteAddr: string | null;
}

interface ActiveConnection {
  connection: iroh.Connection;
  channel: ClientChannel;
}

/**
 * A Nest `ClientProxy` that talks to an {@link IrohServer} over iroh. One QUIC connection
 * (and one multiplexed stream) per client, shared by all requests and events.
 */
export class ClientIroh extends ClientProxy<IrohEvents, string> implements ClientChannelHost {
  protected readonly logger = new Logger(ClientIroh.name);
  readonly maxMessageSize: number;
  protected readonly compressionThreshold: number;
  private readonly alpn: number[];
  /** Milliseconds a request may wait for its reply (0: no limit). */
  protected readonly timeout: number;
  private readonly connectTimeout: number;
  private readonly customSerializer: boolean;
  private readonly customDeserializer: boolean;
  private readonly emitter = new EventEmitter();
  private endpoint: iroh.Endpoint | null = null;
  private active: ActiveConnection | null = null;
  private connectionPromise: Promise<ActiveConnection> | null = null;
  private everConnected = false;
  /** Counts close() calls, so that a connect still binding when one happens gives up. */
  private closeGeneration = 0;
  private readonly retry: { attempts: number; delay: number; maxDelay: number };
  private readonly keepAlive: KeepAliveOptions;

  constructor(private readonly options: ClientIrohOptions) {
    super();
    if (!options || typeof options.peer !== 'string') {
      throw new IrohError('ClientIroh needs options.peer: the server\'s endpoint ticket or endpoint id');
    }
    const protocol = resolveProtocolOptions(options);
    this.maxMessageSize = protocol.maxMessageSize;
    this.compressionThreshold = protocol.compressionThreshold;
    this.alpn = alpnBytes(options.alpn);
    this.timeout = nonNegative(options.timeout, 0, 'timeout');
    this.connectTimeout = nonNegative(options.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 'connectTimeout');
    this.retry = {
      attempts: nonNegative(options.retryAttempts, 2, 'retryAttempts'),
      delay: nonNegative(options.retryDelay, 200, 'retryDelay'),
      maxDelay: nonNegative(options.maxRetryDelay, 5000, 'maxRetryDelay'),
    };
    this.keepAlive = {
      interval: nonNegative(options.keepAliveInterval, 2000, 'keepAliveInterval'),
      timeout: nonNegative(options.keepAliveTimeout, 6000, 'keepAliveTimeout'),
    };
    this.customSerializer = options.serializer !== undefined;
    this.customDeserializer = options.deserializer !== undefined;
    this.initializeSerializer(options);
    this.initializeDeserializer(options);
    this.emitter.on(IrohEventsMap.ERROR, () => undefined);
  }

  /** The endpoint id of this client (available once connected). */
  get endpointId(): string {
    return this.unwrap<iroh.Endpoint>().id().toString();
  }

  /**
   * Connects (once); later calls share the connection until it is lost or closed, and the
   * next call after a loss connects again. A failed attempt is retried `retryAttempts`
   * times with exponential backoff and jitter.
   */
  async connect(): Promise<void> {
    if (this.active && !this.active.channel.isClosed) return;
    if (!this.connectionPromise) {
      this._status$.next(this.everConnected ? IrohStatus.RECONNECTING : IrohStatus.CONNECTING);
      const attempt = this.connectWithRetries();
      this.connectionPromise = attempt;
      attempt.catch(err => {
        if (this.connectionPromise !== attempt) return;
        this.connectionPromise = null;
        this._status$.next(IrohStatus.DISCONNECTED);
        this.emitter.emit(IrohEventsMap.ERROR, err);
      });
    }
    await this.connectionPromise;
  }

  /** The stream to the server, connecting first when needed (for clients built on this one). */
  protected async connectedChannel(): Promise<ClientChannel> {
    await this.connect();
    const channel = this.active?.channel;
    if (!channel || channel.isClosed) throw new IrohClientError(IrohClientErrorCode.CONNECTION_LOST, 'Not connected');
    return channel;
  }

  /**
   * Measures the round trip to the server with a PING frame (no handler involved) and
   * tells which path the connection uses: `direct` (UDP to the peer's address) or `relay`.
   * Connects first when needed.
   */
  async ping(options: { timeout?: number } = {}): Promise<IrohPingResult> {
    await this.connect();
    const active = this.active;
    if (!active) throw new IrohClientError(IrohClientErrorCode.CONNECTION_LOST, 'Not connected');
    const rttMs = await active.channel.ping(options.timeout ?? 5000);
    let selected: iroh.PathSnapshot | undefined;
    try {
      selected = active.connection.paths().find(p => p.isSelected);
    } catch {
      // Closed meanwhile: the round trip was still measured.
    }
    return {
      rttMs,
      path: selected?.isRelay ? 'relay' : 'direct',
      remoteAddr: selected?.remoteAddr ?? null,
    };
  }

  /** Closes the connection; in-flight requests fail. A later `send()` connects again. */
  async close(): Promise<void> {
    this.closeGeneration++;
    this.connectionPromise = null;
    await this.closeActiveConnection();
    // In functions of their own, so that no local here references the endpoint while its
    // port is released.
    const sockets = await this.closeEndpoint();
    if (sockets) {
      // The sockets and native memory of a closed endpoint go only when it is collected.
      // A fixed port is waited for (the caller may bind it again); otherwise the release
      // runs in the background so close() stays fast.
      const release = releaseNativeHandles(sockets);
      if (hasFixedPort(this.options.bindAddr)) await release;
      else void release;
    }
    this._status$.next(IrohStatus.DISCONNECTED);
    this.emitter.emit(IrohEventsMap.CLOSE);
  }

  private async closeActiveConnection(): Promise<void> {
    const active = this.active;
    this.active = null;
    if (!active) return;
    active.channel.close(new IrohClientError(IrohClientErrorCode.CLIENT_CLOSED, 'Client closed'));
    // Events already handed over (emit() completed) must reach the server, as over TCP.
    await active.channel.delivered(1000);
    closeConnection(active.connection, ErrorCode.NO_ERROR, 'client closed');
  }

  private closeEndpoint(): Promise<string[] | null> {
    return closeEndpoint(
      () => {
        const endpoint = this.endpoint;
        this.endpoint = null;
        return endpoint;
      },
      message => this.logger.warn(message),
    );
  }

  /** The iroh `Endpoint` this client dials from. */
  unwrap<T = iroh.Endpoint>(): T {
    if (!this.endpoint) {
      throw new Error('Not initialized. Please call the "connect" method first.');
    }
    return this.endpoint as T;
  }

  on<EventKey extends keyof IrohEvents = keyof IrohEvents, EventCallback extends IrohEvents[EventKey] = IrohEvents[EventKey]>(
    event: EventKey,
    callback: EventCallback,
  ): void {
    this.emitter.on(event, callback as (...args: any[]) => void);
  }

  /**
   * As `ClientProxy#send`, with a shortcut while connected: Nest's version first awaits
   * `connect()` through a chain of rxjs operators, which costs a few microseconds per
   * request on a busy client. The result is the same lazy Observable either way.
   */
  override send<TResult = any, TInput = any>(pattern: any, data: TInput): Observable<TResult> {
    if (pattern === null || pattern === undefined || data === null || data === undefined) {
      return super.send(pattern, data);
    }
    return new Observable<TResult>(observer => {
      if (!this.active || this.active.channel.isClosed) return super.send<TResult, TInput>(pattern, data).subscribe(observer);
      return this.publish(this.packetOf(pattern, data), this.createObserver(observer));
    });
  }

  /** The packet Nest builds: with Nest 12, through `createPacket`, so the dispatch hook runs. */
  private packetOf(pattern: unknown, data: unknown): ReadPacket {
    const create = (this as any).createPacket as ((pattern: unknown, data: unknown) => ReadPacket) | undefined;
    return create ? create.call(this, pattern, data) : { pattern, data };
  }

  protected publish(packet: ReadPacket & { metadata?: unknown }, callback: (packet: WritePacket) => void): () => void {
    const channel = this.active?.channel;
    if (!channel) {
      callback({ err: new IrohClientError(IrohClientErrorCode.CONNECTION_LOST, 'Not connected'), isDisposed: true });
      return () => undefined;
    }
    let payload: EncodedPayload;
    try {
      payload = this.encodePacket(packet);
    } catch (err) {
      callback({ err, isDisposed: true });
      return () => undefined;
    }
    return channel.request(payload, callback as (message: ReplyMessage) => void, this.timeout);
  }

  protected async dispatchEvent<T = any>(packet: ReadPacket & { metadata?: unknown }): Promise<T> {
    const channel = this.active?.channel;
    if (!channel) throw new IrohClientError(IrohClientErrorCode.CONNECTION_LOST, 'Not connected');
    await channel.event(this.encodePacket(packet));
    return undefined as T;
  }

  decodeReply(frame: Frame): ReplyMessage | Promise<ReplyMessage> {
    if (!(frame.flags & FrameFlag.ENVELOPE) && !this.customDeserializer) {
      return decodeReplyMessage(frame, this.maxMessageSize);
    }
    const raw = frame.flags & FrameFlag.ENVELOPE ? decodeFrameValue(frame, this.maxMessageSize) : decodeReplyMessage(frame, this.maxMessageSize);
    const deserialized = this.deserializer.deserialize(raw) as ReplyMessage | Promise<ReplyMessage>;
    // The frame type, not the payload, says whether the request is over.
    const withEnd = (message: ReplyMessage): ReplyMessage => ({
      ...message,
      isDisposed: message.isDisposed || frame.type !== FrameType.DATA,
    });
    return typeof (deserialized as Promise<ReplyMessage>)?.then === 'function'
      ? (deserialized as Promise<ReplyMessage>).then(withEnd)
      : withEnd(deserialized as ReplyMessage);
  }

  onChannelClosed(channel: ClientChannel, error: IrohClientError): void {
    if (this.active?.channel !== channel) return;
    const { connection } = this.active;
    this.active = null;
    this.connectionPromise = null;
    closeConnection(connection, ErrorCode.NO_ERROR, 'stream closed');
    this._status$.next(IrohStatus.DISCONNECTED);
    this.emitter.emit(IrohEventsMap.DISCONNECT, error.message);
  }

  private encodePacket(packet: ReadPacket & { metadata?: unknown }): EncodedPayload {
    const pattern = this.normalizePattern(packet.pattern);
    let payload: EncodedPayload;
    try {
      payload = this.customSerializer
        ? encodeEnvelope(this.serializer.serialize({ ...packet, pattern }), this.compressionThreshold)
        : encodeRequestMessage(pattern, packet.data, packet.metadata, this.compressionThreshold);
    } catch (err) {
      throw new IrohClientError(
        IrohClientErrorCode.SERIALIZATION_FAILED,
        `Message could not be serialized: ${(err as Error).message}`,
      );
    }
    const size = messageSize(payload);
    if (size > this.maxMessageSize) {
      throw new IrohClientError(IrohClientErrorCode.MESSAGE_TOO_LARGE, messageTooLargeMessage(size, this.maxMessageSize));
    }
    return payload;
  }

  private async connectWithRetries(): Promise<ActiveConnection> {
    // Configuration errors (peer, key, bind address) are not worth retrying.
    const addr = parsePeer(this.options.peer);
    if (!this.endpoint) {
      const generation = this.closeGeneration;
      const bound = await bindEndpoint(this.options);
      if (generation !== this.closeGeneration) {
        // close() ran while binding: this endpoint belongs to nobody.
        await bound.close().catch(() => undefined);
        throw new IrohClientError(IrohClientErrorCode.CLIENT_CLOSED, 'Client closed while connecting');
      }
      this.endpoint = bound;
    }
    const endpoint = this.endpoint;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.openConnection(endpoint, addr);
      } catch (err) {
        const refused = err instanceof IrohClientError && err.code === IrohClientErrorCode.UNAUTHORIZED;
        if (refused || attempt >= this.retry.attempts || this.endpoint !== endpoint) throw err;
        const backoff = Math.min(this.retry.maxDelay, this.retry.delay * 2 ** attempt);
        const delay = backoff / 2 + Math.random() * (backoff / 2);
        this.logger.debug?.(`Connecting failed (${(err as Error).message}); retrying in ${Math.round(delay)} ms`);
        await new Promise(resolve => setTimeout(resolve, delay));
        if (this.endpoint !== endpoint) throw err;
      }
    }
  }

  private async openConnection(endpoint: iroh.Endpoint, addr: iroh.EndpointAddr): Promise<ActiveConnection> {
    let connection: iroh.Connection;
    try {
      connection = await connectWithTimeout(endpoint, addr, this.alpn, this.connectTimeout);
    } catch (err) {
      throw new IrohClientError(IrohClientErrorCode.CONNECT_FAILED, (err as Error).message);
    }
    let bi: iroh.BiStream;
    try {
      bi = await connection.openBi();
    } catch (err) {
      closeConnection(connection, ErrorCode.NO_ERROR, 'stream open failed');
      throw connectionLostError(`cannot open a stream to the server: ${bindingErrorMessage(err)}`);
    }
    if (this.endpoint !== endpoint) {
      // close() ran meanwhile.
      closeConnection(connection, ErrorCode.NO_ERROR, 'client closed');
      throw new IrohClientError(IrohClientErrorCode.CLIENT_CLOSED, 'Client closed while connecting');
    }
    const keepAlive = { ...this.keepAlive, peerActivity: () => datagramsReceived(connection) };
    const active: ActiveConnection = { connection, channel: new ClientChannel(bi, this, keepAlive) };
    this.active = active;
    this.everConnected = true;
    connection.closed().then(
      reason => this.onConnectionClosed(active, reason),
      err => this.onConnectionClosed(active, bindingErrorMessage(err)),
    );
    this._status$.next(IrohStatus.CONNECTED);
    this.emitter.emit(IrohEventsMap.CONNECT);
    return active;
  }

  private onConnectionClosed(active: ActiveConnection, reason: string): void {
    active.channel.close(connectionLostError(reason));
  }
}

/** UDP datagrams received on a connection: it grows with every ACK and frame from the peer. */
function datagramsReceived(connection: iroh.Connection): number {
  try {
    return connection.stats().udpRxDatagrams;
  } catch {
    return -1;
  }
}

function hasFixedPort(bindAddr: string | undefined): boolean {
  return bindAddr !== undefined && !/:0$/.test(bindAddr);
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${name} must be a number of milliseconds, 0 or more (got ${value})`);
  }
  return value;
}
