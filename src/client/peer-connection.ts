import { PeerAddress, closeConnection, parsePeer } from '../iroh';
import type { ClientTelemetry, PeerPathObservation } from '../observability';
import { ErrorCode, Frame, ReplyMessage } from '../protocol';
import { AttemptSchedule, RetrySettings } from './attempt-schedule';
import { ClientChannel, ClientChannelHost } from './client-channel';
import { IrohClientError, IrohClientErrorCode } from './client-errors';
import { ClientRequest } from './client-request';
import { AttemptSettings, Connector, Transport, closeTransport, selectedPath } from './connector';

/** A peer's state, as a gRPC subchannel's. */
export enum PeerState {
  /** Not connected and not trying (never asked, or its background attempts ran out). */
  IDLE = 'idle',
  /** Attempts in progress, none failed yet. */
  CONNECTING = 'connecting',
  /** A connection that takes requests. */
  READY = 'ready',
  /** An attempt failed since the peer was last ready; attempts may go on in the background. */
  TRANSIENT_FAILURE = 'transient-failure',
  /** The server is shutting down: replies in flight still come, nothing new goes to it. */
  DRAINING = 'draining',
}

/** What {@link ClientIroh.ping} measured. */
export interface IrohPingResult {
  /** Round-trip time of a PING/PONG, in milliseconds. */
  rttMs: number;
  /** `direct` when the connection goes straight to the peer's address, `relay` through a relay. */
  path: 'direct' | 'relay';
  /** The peer's address on the selected path (ip:port, or the relay URL). */
  remoteAddr: string | null;
  /** The endpoint id of the peer that answered. */
  endpointId: string;
}

export interface PeerSettings extends AttemptSettings, RetrySettings {}

export interface AttemptFailure {
  /** When the failed attempt began (ms since epoch). */
  startedAt: number;
  /** When it failed. */
  endedAt: number;
  error: Error;
}

export interface PeerHost {
  readonly maxMessageSize: number;
  decodeReply(frame: Frame): ReplyMessage | Promise<ReplyMessage>;
  /** The peer's state or its connecting activity changed; `reason` says why it left READY. */
  onPeerChanged(peer: PeerConnection, reason: string | null): void;
  onAttemptFailed(peer: PeerConnection, failure: AttemptFailure): void;
  /** The client's telemetry, started by the first connection if nothing started it before. */
  readonly telemetry: ClientTelemetry;
}

/**
 * One peer, as a gRPC subchannel: its connection and stream, the HELLO that makes it READY,
 * and the attempts that reconnect it (begun when its {@link AttemptSchedule} says).
 */
export class PeerConnection implements ClientChannelHost {
  /** The peer's endpoint id (the configured string when it could not be parsed). */
  readonly endpointId: string;
  private readonly addr: PeerAddress | null = null;
  private readonly configError: Error | null = null;
  private current: Transport | null = null;
  private readonly draining = new Set<Transport>();
  private attemptsInFlight = 0;
  private readonly schedule: AttemptSchedule;
  private failedSinceReady = false;
  /** The last failed attempt since the peer was ready. */
  lastFailure: AttemptFailure | null = null;
  /** Bumped by reset(): attempts of an earlier generation drop their result. */
  private generation = 0;
  /** A connection was lost since the peer was last ready: the next one is a reconnect. */
  private lostSinceReady = false;

  constructor(
    readonly target: string,
    private readonly connector: Connector,
    private readonly settings: PeerSettings,
    private readonly host: PeerHost,
  ) {
    try {
      const addr = parsePeer(target);
      this.addr = addr;
      this.endpointId = addr.id;
    } catch (err) {
      this.configError = err as Error;
      this.endpointId = String(target);
    }
    this.schedule = new AttemptSchedule(settings, {
      isReady: () => this.current !== null,
      attemptsInFlight: () => this.attemptsInFlight,
      attempt: background => void this.attempt(background),
    });
  }

  get maxMessageSize(): number {
    return this.host.maxMessageSize;
  }

  get telemetry(): ClientTelemetry {
    return this.host.telemetry;
  }

  get state(): PeerState {
    if (this.current) return PeerState.READY;
    if (this.draining.size > 0) return PeerState.DRAINING;
    if (this.failedSinceReady) return PeerState.TRANSIENT_FAILURE;
    return this.isConnecting ? PeerState.CONNECTING : PeerState.IDLE;
  }

  get isReady(): boolean {
    return this.current !== null;
  }

  /** Attempts are running or scheduled. */
  get isConnecting(): boolean {
    return this.attemptsInFlight > 0 || this.schedule.isPending;
  }

  /** Requests in flight on the ready connection (what the picker balances). */
  get pending(): number {
    return this.current?.channel.pendingCount ?? 0;
  }

  /** The ready connection and its stream, or null. */
  get transport(): Readonly<Transport> | null {
    return this.current;
  }

  /** Writes a request on the ready connection; false (nothing written) when there is none. */
  write(request: ClientRequest): boolean {
    const transport = this.current;
    if (!transport?.channel.isWritable) return false;
    request.peer = this;
    request.tracePeer(this, this.endpointId, transport.path);
    return transport.channel.write(request);
  }

  /** The ready connection's path and round-trip time, read from the binding (metrics collection). */
  observePath(): PeerPathObservation | null {
    const transport = this.current;
    if (!transport) return null;
    const selected = selectedPath(transport.connection);
    if (!selected) return null;
    transport.path = selected.path;
    return { endpointId: this.endpointId, path: selected.path, rttMs: selected.rttMs };
  }

  /** Connects unless ready (see {@link AttemptSchedule.requestAttempt}). */
  requestConnection(): void {
    if (this.current) return;
    this.schedule.requestAttempt();
  }

  /** Measures the round trip on the ready connection and tells which path it uses. */
  async ping(timeoutMs: number): Promise<IrohPingResult> {
    const transport = this.current;
    if (!transport) throw new IrohClientError(IrohClientErrorCode.CONNECTION_LOST, `Not connected to ${this.endpointId}`);
    const rttMs = await transport.channel.ping(timeoutMs);
    // Undefined when closed meanwhile: the round trip was still measured.
    const selected = selectedPath(transport.connection);
    if (selected) transport.path = selected.path;
    return { rttMs, path: selected?.path ?? 'direct', remoteAddr: selected?.remoteAddr ?? null, endpointId: this.endpointId };
  }

  /**
   * Closes the peer's connections (what is pending fails with CLIENT_CLOSED) after events
   * already handed over reached the server, and stops every attempt. It may connect again.
   */
  async reset(): Promise<void> {
    this.generation++;
    this.schedule.reset();
    this.attemptsInFlight = 0;
    this.failedSinceReady = false;
    this.lastFailure = null;
    const transports = [...(this.current ? [this.current] : []), ...this.draining];
    this.current = null;
    this.draining.clear();
    this.lostSinceReady = false;
    for (const { channel } of transports) channel.telemetry.connectionClosed(false);
    const closed = new IrohClientError(IrohClientErrorCode.CLIENT_CLOSED, 'Client closed');
    for (const { channel } of transports) channel.close(closed);
    // Events already handed over (emit() completed) must reach the server, as over TCP.
    await Promise.all(transports.map(({ channel }) => channel.delivered(1000)));
    for (const { connection } of transports) closeConnection(connection, ErrorCode.NO_ERROR, 'client closed');
  }

  decodeReply(frame: Frame): ReplyMessage | Promise<ReplyMessage> {
    return this.host.decodeReply(frame);
  }

  onChannelClosed(channel: ClientChannel, error: IrohClientError): void {
    if (this.current?.channel === channel) {
      const { connection } = this.current;
      this.current = null;
      this.lostSinceReady = true;
      channel.telemetry.connectionClosed(true);
      closeConnection(connection, ErrorCode.NO_ERROR, 'stream closed');
      this.schedule.reconnectInBackground();
      this.host.onPeerChanged(this, error.message);
      return;
    }
    this.dropDraining(channel, 'stream closed');
  }

  onChannelDraining(channel: ClientChannel, reason: string): void {
    const transport = this.current;
    if (transport?.channel !== channel) return;
    this.current = null;
    this.draining.add(transport);
    this.schedule.reconnectInBackground();
    this.host.onPeerChanged(this, `Server going away (${reason})`);
  }

  /**
   * The last request on a draining stream ended: our side of the stream is finished, which
   * tells the server nothing more comes on it (whatever crossed its GOAWAY arrived before),
   * and the connection is closed once that has been delivered.
   */
  onChannelDrained(channel: ClientChannel): void {
    const transport = [...this.draining].find(candidate => candidate.channel === channel);
    if (!transport) return;
    this.draining.delete(transport);
    channel.telemetry.connectionClosed(false);
    channel.close(new IrohClientError(IrohClientErrorCode.CONNECTION_LOST, 'Drained'));
    void channel.delivered(1000).then(() => closeConnection(transport.connection, ErrorCode.NO_ERROR, 'drained'));
    this.host.onPeerChanged(this, null);
  }

  private dropDraining(channel: ClientChannel, reason: string): void {
    for (const transport of this.draining) {
      if (transport.channel !== channel) continue;
      this.draining.delete(transport);
      channel.telemetry.connectionClosed(false);
      closeConnection(transport.connection, ErrorCode.NO_ERROR, reason);
      this.host.onPeerChanged(this, null);
    }
  }

  /** One attempt; `background` when the retry schedule made it (its failure starts no new schedule). */
  private async attempt(background: boolean): Promise<void> {
    const generation = this.generation;
    const startedAt = Date.now();
    this.schedule.attemptBegan(startedAt);
    this.attemptsInFlight++;
    this.host.onPeerChanged(this, null);
    let transport: Transport;
    try {
      if (!this.addr) throw this.configError ?? new Error(`peer ${this.target} could not be read`);
      transport = await this.connector.attempt(this.addr, this, this.settings);
    } catch (err) {
      if (generation !== this.generation) return;
      this.attemptsInFlight--;
      this.onAttemptFailed({ startedAt, endedAt: Date.now(), error: err as Error }, background);
      return;
    }
    if (generation !== this.generation || this.current) {
      // close() ran meanwhile, or another attempt won.
      closeTransport(transport, generation !== this.generation ? 'client closed' : 'superseded');
      if (generation === this.generation) {
        this.attemptsInFlight--;
        this.host.onPeerChanged(this, null);
      }
      return;
    }
    this.attemptsInFlight--;
    this.current = transport;
    transport.channel.telemetry.connectionOpened(this.lostSinceReady);
    this.lostSinceReady = false;
    this.failedSinceReady = false;
    this.lastFailure = null;
    this.schedule.connected();
    this.host.onPeerChanged(this, null);
  }

  private onAttemptFailed(failure: AttemptFailure, background: boolean): void {
    this.lastFailure = failure;
    this.failedSinceReady = true;
    if (this.isPermanent(failure)) this.schedule.stop();
    else if (!background) this.schedule.startRetries();
    this.host.onAttemptFailed(this, failure);
    this.host.onPeerChanged(this, null);
  }

  /** Failures that retrying cannot mend: configuration errors, and a server that refused us. */
  private isPermanent(failure: AttemptFailure | null): boolean {
    if (!failure) return false;
    const { error } = failure;
    return !(error instanceof IrohClientError) || error.code === IrohClientErrorCode.UNAUTHORIZED;
  }
}
