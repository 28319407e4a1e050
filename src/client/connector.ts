import { Logger } from '@nestjs/common';
import {
  ClosedEndpoint,
  IoConnection,
  IoEndpoint,
  IrohEndpointOptions,
  PeerAddress,
  bindEndpoint,
  bindingErrorMessage,
  closeConnection,
  closeEndpoint,
  connectWithTimeout,
  releasesPortOnClose,
} from '../iroh';
import type { ConnectionPath } from '../observability';
import { ErrorCode } from '../protocol';
import { ClientChannel, ClientChannelHost } from './client-channel';
import { IrohClientError, IrohClientErrorCode, connectionLostError } from './client-errors';
import { KeepAliveOptions } from './keep-alive';

/** How long a failed stream open waits to learn whether the connection has ended, and why. */
const CLOSE_REASON_WAIT_MS = 100;

/** A connection to a peer that carries requests: the QUIC connection and its stream. */
export interface Transport {
  connection: IoConnection;
  channel: ClientChannel;
  /**
   * The path the connection used when last looked at (at connect, at a ping, at a metrics
   * collection): what spans report, so that a request makes no binding call for it.
   */
  path?: ConnectionPath;
}

export interface AttemptSettings {
  /** Milliseconds for the whole attempt: handshake, stream and HELLO. */
  connectTimeout: number;
  keepAlive: KeepAliveOptions;
  /** Payloads the stream compresses when that pays: at least this many bytes (0: none). */
  compressionThreshold: number;
}

/**
 * The client's one iroh endpoint and the dialling done from it. The endpoint is bound on
 * first use, once however many attempts wait for it, and every peer is dialled from it.
 */
export class Connector {
  private endpoint: IoEndpoint | null = null;
  private binding: Promise<IoEndpoint> | null = null;
  /** Counts close() calls, so that a bind still running when one happens gives up. */
  private generation = 0;

  constructor(
    private readonly options: IrohEndpointOptions,
    private readonly alpn: Buffer,
    private readonly logger: Logger,
  ) {}

  /** The bound endpoint, or null before the first attempt and after close(). */
  get bound(): IoEndpoint | null {
    return this.endpoint;
  }

  /** The endpoint, bound on first use. Configuration errors (key, bind address) are thrown as they are. */
  bind(): Promise<IoEndpoint> {
    if (this.endpoint) return Promise.resolve(this.endpoint);
    if (!this.binding) {
      const generation = this.generation;
      const binding = bindEndpoint(this.options).then(
        async bound => {
          if (generation !== this.generation) {
            // close() ran while binding: this endpoint belongs to nobody.
            await bound.close().catch(() => undefined);
            throw closedWhileConnecting();
          }
          this.endpoint = bound;
          this.binding = null;
          return bound;
        },
        err => {
          if (this.binding === binding) this.binding = null;
          throw err;
        },
      );
      this.binding = binding;
    }
    return this.binding;
  }

  /** One dialling attempt: a QUIC connection to `addr` within `timeoutMs`, or CONNECT_FAILED. */
  async dial(addr: PeerAddress, timeoutMs: number): Promise<IoConnection> {
    const endpoint = await this.bind();
    let connection: IoConnection;
    try {
      connection = await connectWithTimeout(endpoint, addr, this.alpn, timeoutMs);
    } catch (err) {
      throw new IrohClientError(IrohClientErrorCode.CONNECT_FAILED, (err as Error).message);
    }
    if (this.endpoint !== endpoint) {
      closeConnection(connection, 0, 'client closed');
      throw closedWhileConnecting();
    }
    return connection;
  }

  /**
   * One attempt to reach a peer: a QUIC connection, its stream, and the server's HELLO, all
   * within `connectTimeout` (counted once the endpoint is bound). Fails with UNAUTHORIZED
   * when the server refused this client, CONNECT_FAILED otherwise; configuration errors
   * (key, bind address) are thrown as they are.
   */
  async attempt(addr: PeerAddress, host: ClientChannelHost, settings: AttemptSettings): Promise<Transport> {
    await this.bind();
    const deadline = Date.now() + settings.connectTimeout;
    const connection = await this.dial(addr, settings.connectTimeout);
    let channel: ClientChannel | null = null;
    try {
      const bi = await connection.openBi();
      const keepAlive = { ...settings.keepAlive, peerActivity: () => datagramsReceived(connection) };
      const opened = new ClientChannel(bi, host, keepAlive, { compressionThreshold: settings.compressionThreshold });
      channel = opened;
      connection.closed().then(
        reason => opened.close(connectionLostError(reason)),
        err => opened.close(connectionLostError(bindingErrorMessage(err))),
      );
      await opened.hello(deadline - Date.now());
      return { connection, channel: opened, path: selectedPath(connection)?.path };
    } catch (err) {
      if (channel) {
        closeTransport({ connection, channel }, 'connect attempt failed');
        throw attemptError(err);
      }
      // A server that refuses this client closes the connection right after the handshake:
      // opening the stream may then fail, and the connection's end says why.
      const reason = await closeReason(connection);
      closeConnection(connection, ErrorCode.NO_ERROR, 'stream open failed');
      throw attemptError(reason === null ? err : connectionLostError(reason));
    }
  }

  /**
   * Closes the endpoint; attempts still running fail. The sockets and native memory of a
   * closed endpoint go only when it is collected. With `releasePortOnClose` (by default for a
   * fixed port, which the caller may bind again) close() waits until the port is free (on
   * this thread, by forcing collections); otherwise they go at the process's next full
   * collection, as for the server: a forced one holds the event loop for 10 ms in a small heap
   * and over 100 ms in a large one, and ran into the next client's set-up. With `ioThread` the
   * collections run in the I/O thread after every close, costing this thread nothing.
   */
  async close(): Promise<void> {
    this.generation++;
    this.binding = null;
    // In functions of their own, so that no local here references the endpoint while its
    // port is released.
    const closed = await this.closeEndpoint();
    if (!closed) return;
    if (releasesPortOnClose(this.options)) await closed.releasePort();
  }

  private closeEndpoint(): Promise<ClosedEndpoint | null> {
    return closeEndpoint(
      () => {
        const endpoint = this.endpoint;
        this.endpoint = null;
        return endpoint;
      },
      message => this.logger.warn(message),
    );
  }
}

/** Closes a transport that is no longer wanted: what is pending on it fails with CLIENT_CLOSED. */
export function closeTransport(transport: Transport, reason: string): void {
  transport.channel.close(new IrohClientError(IrohClientErrorCode.CLIENT_CLOSED, reason));
  closeConnection(transport.connection, ErrorCode.NO_ERROR, reason);
}

/** UNAUTHORIZED and CONNECT_FAILED as they are; other failures of an attempt (a stream lost during HELLO) as CONNECT_FAILED. */
function attemptError(err: unknown): unknown {
  if (!(err instanceof IrohClientError)) return err;
  if (err.code === IrohClientErrorCode.UNAUTHORIZED || err.code === IrohClientErrorCode.CONNECT_FAILED) return err;
  return new IrohClientError(IrohClientErrorCode.CONNECT_FAILED, err.message);
}

/** The path a connection sends on now and its round-trip time; undefined when it cannot be read (closed). */
export function selectedPath(connection: IoConnection): { path: ConnectionPath; rttMs: number; remoteAddr: string | null } | undefined {
  try {
    const selected = connection.paths().find(p => p.isSelected);
    if (!selected) return undefined;
    return { path: selected.isRelay ? 'relay' : 'direct', rttMs: selected.rttMs, remoteAddr: selected.remoteAddr ?? null };
  } catch {
    return undefined;
  }
}

/** Why the connection ended, when it has (or does within a moment); null while it is open. */
async function closeReason(connection: IoConnection): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const open = new Promise<null>(resolve => {
    timer = setTimeout(() => resolve(null), CLOSE_REASON_WAIT_MS);
  });
  const ended = connection.closed().catch((err: unknown) => bindingErrorMessage(err));
  try {
    return await Promise.race([ended, open]);
  } finally {
    clearTimeout(timer);
  }
}

/** UDP datagrams received on a connection: it grows with every ACK and frame from the peer. */
function datagramsReceived(connection: IoConnection): number {
  try {
    return connection.stats().udpRxDatagrams;
  } catch {
    return -1;
  }
}

function closedWhileConnecting(): IrohClientError {
  return new IrohClientError(IrohClientErrorCode.CLIENT_CLOSED, 'Client closed while connecting');
}
