import type {
  ConnectionStats,
  EndpointConfig,
  IncomingAddr,
  IoBiStream,
  IoConnection,
  IoEndpoint,
  IoIncoming,
  IoRecvStream,
  IoSendStream,
  PathSnapshot,
  PeerAddress,
} from './io';
import { IoThreadLink, ioThreadForEndpoint } from './io-thread-link';
import { BoundInfo, ConnectionInfo, ConnectionSnapshot, Op } from './io-thread-protocol';
import { IrohError } from './errors';
import { socketsFreeWithin } from './release';

/**
 * The binding in an I/O thread of its own (the `ioThread` option), behind the
 * {@link IoEndpoint} interfaces: each object here stands for one in the thread (io-worker.ts)
 * and forwards what is asked of it. Bytes cross as transferred ArrayBuffers; the conversion
 * to and from the binding's byte arrays happens in the thread.
 */

/** Binds an endpoint in the I/O thread (started if none is running). */
export async function bindWorker(config: EndpointConfig): Promise<WorkerEndpoint> {
  const link = ioThreadForEndpoint();
  try {
    return new WorkerEndpoint(link, await link.call<BoundInfo>(Op.BIND, 0, config));
  } catch (err) {
    link.endpointClosed();
    throw err;
  }
}

export class WorkerEndpoint implements IoEndpoint {
  readonly thread = 'worker' as const;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly link: IoThreadLink,
    private readonly bound: BoundInfo,
  ) {}

  id(): string {
    return this.bound.id;
  }

  ticket(): string {
    if (this.closing) throw new IrohError('the iroh endpoint is closed');
    return this.link.callSync<string>(Op.TICKET, this.bound.handle);
  }

  boundSockets(): string[] {
    return [...this.bound.sockets];
  }

  async acceptNext(): Promise<IoIncoming | null> {
    const handle = await this.link.call<number | null>(Op.ACCEPT_NEXT, this.bound.handle);
    return handle === null ? null : new WorkerIncoming(this.link, handle);
  }

  async connect(peer: PeerAddress, alpn: Uint8Array): Promise<IoConnection> {
    const target: PeerAddress = { id: peer.id, relayUrl: peer.relayUrl, directAddresses: [...peer.directAddresses] };
    const bytes = transferableCopy([alpn], alpn.length);
    return new WorkerConnection(this.link, await this.link.call<ConnectionInfo>(Op.CONNECT, this.bound.handle, target, bytes, bytes));
  }

  /**
   * Closes the endpoint. The I/O thread then forgets everything of it and collects until its
   * sockets are free ({@link releasePort} waits for that); the calling thread spends nothing.
   */
  close(): Promise<void> {
    this.closing ??= this.link.call<void>(Op.CLOSE_ENDPOINT, this.bound.handle).finally(() => this.link.endpointClosed());
    return this.closing;
  }

  async releasePort(sockets: readonly string[], deadlineMs?: number): Promise<boolean> {
    await this.close().catch(() => undefined);
    // A thread that has ended since freed every socket it had.
    return this.link.call<boolean>(Op.RELEASE, this.bound.handle, deadlineMs).catch(() => socketsFreeWithin(sockets, deadlineMs));
  }

  /** The endpoint lives in the I/O thread: users get this object (id, ticket, bound sockets). */
  unwrap(): this {
    return this;
  }
}

class WorkerIncoming implements IoIncoming {
  constructor(
    private readonly link: IoThreadLink,
    private readonly handle: number,
  ) {}

  remoteAddr(): Promise<IncomingAddr> {
    return this.link.call<IncomingAddr>(Op.REMOTE_ADDR, this.handle);
  }

  async accept(): Promise<IoConnection> {
    return new WorkerConnection(this.link, await this.link.call<ConnectionInfo>(Op.ACCEPT, this.handle));
  }

  refuse(): Promise<void> {
    return this.link.call<void>(Op.REFUSE, this.handle);
  }

  remoteAddrValidated(): Promise<boolean> {
    return this.link.call<boolean>(Op.ADDRESS_VALIDATED, this.handle);
  }

  retry(): Promise<void> {
    return this.link.call<void>(Op.RETRY, this.handle);
  }
}

class WorkerConnection implements IoConnection {
  private readonly handle: number;
  private readonly id: string;
  private snapshot: ConnectionSnapshot;
  private refreshing = false;
  private isClosed = false;
  private readonly closedReason: Promise<string>;

  constructor(
    private readonly link: IoThreadLink,
    info: ConnectionInfo,
  ) {
    this.handle = info.handle;
    this.id = info.remoteId;
    this.snapshot = info.snapshot;
    this.closedReason = new Promise(resolve =>
      link.onConnectionClosed(this.handle, reason => {
        this.isClosed = true;
        resolve(reason);
      }),
    );
  }

  remoteId(): string {
    return this.id;
  }

  async openBi(): Promise<IoBiStream> {
    return workerBiStream(this.link, await this.link.call<number>(Op.OPEN_BI, this.handle));
  }

  async acceptBi(): Promise<IoBiStream> {
    return workerBiStream(this.link, await this.link.call<number>(Op.ACCEPT_BI, this.handle));
  }

  closed(): Promise<string> {
    return this.closedReason;
  }

  close(code: number, reason: string): void {
    this.link.send(Op.CLOSE_CONNECTION, this.handle, code, reason);
  }

  setMaxConcurrentBiStreams(count: number): void {
    this.link.send(Op.SET_MAX_BI, this.handle, count);
  }

  stats(): ConnectionStats {
    this.refresh();
    return this.snapshot.stats;
  }

  paths(): PathSnapshot[] {
    this.refresh();
    return this.snapshot.paths;
  }

  rtt(): number | null {
    this.refresh();
    return this.snapshot.rtt;
  }

  async freshStats(): Promise<ConnectionStats> {
    this.snapshot = await this.link.call<ConnectionSnapshot>(Op.SNAPSHOT, this.handle);
    return this.snapshot.stats;
  }

  /** Asks the thread for fresh counters (one request at a time); until they come, the last ones serve. */
  private refresh(): void {
    if (this.refreshing || this.isClosed) return;
    this.refreshing = true;
    this.link.call<ConnectionSnapshot>(Op.SNAPSHOT, this.handle).then(
      snapshot => {
        this.snapshot = snapshot;
        this.refreshing = false;
      },
      () => {
        this.refreshing = false;
      },
    );
  }
}

function workerBiStream(link: IoThreadLink, handle: number): IoBiStream {
  return { send: new WorkerSendStream(link, handle), recv: new WorkerRecvStream(link, handle) };
}

/**
 * Bytes a stream may have handed to its I/O thread and not yet seen written: a write resolves
 * at once while they are fewer, so that the thread converts the next write while the one
 * before is under way. Beyond it, a write resolves as the writes before it complete, so a
 * peer that does not read still holds the writer back.
 */
const WRITE_WINDOW_BYTES = 256 * 1024;

class WorkerSendStream implements IoSendStream {
  private unwritten = 0;
  private failure: Error | null = null;
  private waiting: { resolve: () => void; reject: (err: Error) => void } | null = null;

  constructor(
    private readonly link: IoThreadLink,
    private readonly handle: number,
  ) {}

  write(parts: readonly Uint8Array[], totalLength: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const bytes = transferableCopy(parts, totalLength);
    this.unwritten += totalLength;
    // Beyond the window this write waits for acknowledgements: the thread sends them at once.
    const waits = this.unwritten > WRITE_WINDOW_BYTES;
    this.link.call<void>(Op.WRITE, this.handle, bytes, waits, bytes).then(
      () => this.written(totalLength, null),
      (err: Error) => this.written(totalLength, err),
    );
    if (!waits) return Promise.resolve();
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  private written(bytes: number, failure: Error | null): void {
    this.unwritten -= bytes;
    this.failure ??= failure;
    const waiting = this.waiting;
    if (!waiting) return;
    if (this.failure) waiting.reject(this.failure);
    else if (this.unwritten <= WRITE_WINDOW_BYTES) waiting.resolve();
    else return;
    this.waiting = null;
  }

  finish(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return this.link.call<void>(Op.FINISH, this.handle);
  }

  stopped(): Promise<number | null> {
    return this.link.call<number | null>(Op.STOPPED, this.handle);
  }

  reset(code: number): Promise<void> {
    return this.link.call<void>(Op.RESET, this.handle, code);
  }
}

class WorkerRecvStream implements IoRecvStream {
  constructor(
    private readonly link: IoThreadLink,
    private readonly handle: number,
  ) {}

  async read(maxBytes: number): Promise<Buffer> {
    return Buffer.from(await this.link.call<ArrayBuffer>(Op.READ, this.handle, maxBytes));
  }

  stop(code: number): Promise<void> {
    return this.link.call<void>(Op.STOP, this.handle, code);
  }
}

/** `parts` copied into one ArrayBuffer of its own, to be transferred. */
function transferableCopy(parts: readonly Uint8Array[], totalLength: number): ArrayBuffer {
  const out = new Uint8Array(totalLength);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out.buffer;
}
