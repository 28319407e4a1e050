import { MessagePort, parentPort, workerData } from 'worker_threads';
import {
  DirectBiStream,
  DirectConnection,
  DirectEndpoint,
  DirectIncoming,
  bindDirect,
  trackBindingCalls,
  whenBindingIdle,
} from './direct-io';
import type { EndpointConfig, PeerAddress } from './io';
import {
  Answer,
  BoundInfo,
  ConnectionInfo,
  ConnectionSnapshot,
  IoThreadStart,
  Op,
  Operation,
  SYNC_BYTES,
  SYNC_HEADER_BYTES,
  SYNC_WORDS,
  EXIT_WORD,
  Status,
  SyncState,
  errorRecord,
} from './io-thread-protocol';
import { WorkerStream } from './io-worker-stream';
import { collectGarbage, releaseNativeHandles } from './release';

/**
 * The I/O thread: the endpoints of one calling thread on the binding (direct-io.ts), driven by
 * the operations it sends (io-thread-protocol.ts). Bytes are converted here; what goes back
 * are transferred ArrayBuffers. Started by io-thread-link.ts; it ends once told that no
 * endpoint is left and the binding has nothing under way.
 */

/** How long an acknowledgement of a write may wait for another answer to go with. */
const LAZY_ANSWER_MS = 5;

/** How long {@link Op.RELEASE} collects for, by default. */
const RELEASE_DEADLINE_MS = 2000;

/** When the one collection after an endpoint's close runs: the calls the close ended settle first. */
const COLLECT_AFTER_CLOSE_MS = 50;

class IoWorker {
  private nextHandle = 1;
  private readonly endpoints = new Map<number, DirectEndpoint>();
  private readonly incoming = new Map<number, { incoming: DirectIncoming; endpoint: number }>();
  private readonly connections = new Map<number, { connection: DirectConnection; endpoint: number; streams: Set<number> }>();
  private readonly streams = new Map<number, WorkerStream>();
  /** The sockets of closed endpoints, until their port is asked for ({@link Op.RELEASE}). */
  private readonly closedSockets = new Map<number, string[]>();
  private outbox: Answer[] = [];
  private transfers: ArrayBuffer[] = [];
  private scheduled = false;
  /** When only acknowledgements of writes wait in the outbox: the timer that sends them anyway. */
  private lazyFlush: NodeJS.Timeout | null = null;
  private readonly syncWords: Int32Array;
  private readonly syncBytes: Uint8Array;

  constructor(
    private readonly port: MessagePort,
    start: IoThreadStart,
  ) {
    this.syncWords = new Int32Array(start.sync, 0, SYNC_WORDS);
    this.syncBytes = new Uint8Array(start.sync, SYNC_HEADER_BYTES, SYNC_BYTES);
  }

  onBatch(batch: Operation[]): void {
    for (const operation of batch) this.run(operation);
  }

  private run([op, callId, handle, a, b]: Operation): void {
    let result: unknown;
    try {
      result = this.perform(op, handle, a, b);
    } catch (err) {
      result = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (op === Op.TICKET) {
      this.answerSync(result);
      return;
    }
    if (callId === 0) {
      if (result instanceof Promise) result.catch(() => undefined);
      return;
    }
    // A write the calling thread does not wait for is acknowledged with the next answer that
    // goes anyway (or a moment later): one wake-up of that thread fewer per write.
    const lazy = op === Op.WRITE && b !== true;
    if (result instanceof Promise) {
      result.then(
        value => this.answer(callId, Status.OK, value, lazy),
        err => this.answer(callId, Status.ERROR, errorRecord(err)),
      );
    } else {
      this.answer(callId, Status.OK, result);
    }
  }

  private perform(op: Op, handle: number, a: unknown, b: unknown): unknown {
    switch (op) {
      case Op.BIND:
        return this.bind(a as EndpointConfig);
      case Op.RELEASE:
        return this.release(handle, (a as number | undefined) ?? RELEASE_DEADLINE_MS);
      case Op.END:
        // Pending binding calls keep the thread alive until they settle: ended earlier, the
        // binding would answer into a thread that is gone and take the process down.
        this.port.unref();
        return undefined;
      case Op.EXIT:
        void this.exit();
        return undefined;
      case Op.ACCEPT_NEXT:
        return this.endpoint(handle)
          .acceptNext()
          .then(incoming => (incoming ? this.keepIncoming(handle, incoming) : null));
      case Op.CONNECT:
        return this.endpoint(handle)
          .connect(a as PeerAddress, new Uint8Array(b as ArrayBuffer))
          .then(connection => this.connectionInfo(handle, connection));
      case Op.CLOSE_ENDPOINT:
        return this.closeEndpoint(handle);
      case Op.TICKET:
        return this.endpoint(handle).ticket();
      case Op.REMOTE_ADDR:
        return this.incomingEntry(handle).incoming.remoteAddr();
      case Op.ADDRESS_VALIDATED:
        return this.incomingEntry(handle).incoming.remoteAddrValidated();
      case Op.ACCEPT:
      case Op.REFUSE:
      case Op.RETRY: {
        const { incoming, endpoint } = this.incomingEntry(handle);
        this.incoming.delete(handle);
        if (op === Op.REFUSE) return incoming.refuse();
        if (op === Op.RETRY) return incoming.retry();
        return incoming.accept().then(connection => this.connectionInfo(endpoint, connection));
      }
      case Op.OPEN_BI:
        return this.connection(handle)
          .openBi()
          .then(bi => this.keepStream(handle, bi));
      case Op.ACCEPT_BI:
        return this.connection(handle)
          .acceptBi()
          .then(bi => this.keepStream(handle, bi));
      case Op.CLOSE_CONNECTION:
        this.connections.get(handle)?.connection.close(a as number, b as string);
        return undefined;
      case Op.SET_MAX_BI:
        this.connections.get(handle)?.connection.setMaxConcurrentBiStreams(a as number);
        return undefined;
      case Op.SNAPSHOT:
        return snapshotOf(this.connection(handle));
      case Op.WRITE:
        return this.stream(handle).write(new Uint8Array(a as ArrayBuffer));
      case Op.FINISH:
        return this.stream(handle).finish();
      case Op.STOPPED:
        return this.stream(handle).stopped();
      case Op.RESET:
        return this.stream(handle).reset(a as number);
      case Op.READ:
        return this.stream(handle)
          .read(a as number)
          .then(bytes => this.transferable(bytes));
      case Op.STOP:
        return this.stream(handle).stop(a as number);
      default:
        throw new Error(`unknown I/O thread operation ${String(op)}`);
    }
  }

  // ---------------------------------------------------------------- endpoints

  private async bind(config: EndpointConfig): Promise<BoundInfo> {
    const endpoint = await bindDirect(config);
    const handle = this.nextHandle++;
    this.endpoints.set(handle, endpoint);
    return { handle, id: endpoint.id(), sockets: endpoint.boundSockets() };
  }

  /**
   * Closes an endpoint and forgets everything of it. The binding frees its sockets only once
   * its objects are collected, and this small heap may not ask for a full collection for a
   * long time: one is forced a moment later (once the calls the close ended have settled), in
   * this thread, costing the calling thread nothing. {@link Op.RELEASE} collects until the
   * sockets are free, for an endpoint whose port is wanted back.
   */
  private async closeEndpoint(handle: number): Promise<void> {
    const endpoint = this.endpoint(handle);
    this.endpoints.delete(handle);
    for (const [key, entry] of this.incoming) if (entry.endpoint === handle) this.incoming.delete(key);
    for (const [key, entry] of this.connections) if (entry.endpoint === handle) this.connections.delete(key);
    for (const [key, stream] of this.streams) if (stream.endpoint === handle) this.streams.delete(key);
    const sockets = endpoint.boundSockets();
    this.closedSockets.set(handle, sockets);
    try {
      await endpoint.close();
    } finally {
      setTimeout(collectGarbage, COLLECT_AFTER_CLOSE_MS);
    }
  }

  /** Collects until a closed endpoint's sockets are free (false after the deadline). */
  private release(handle: number, deadlineMs: number): Promise<boolean> {
    const sockets = this.closedSockets.get(handle);
    this.closedSockets.delete(handle);
    return sockets ? releaseNativeHandles(sockets, deadlineMs) : Promise.resolve(true);
  }

  /**
   * The process is exiting and will end this thread: closes every endpoint so that what the
   * binding has under way settles, then tells the calling thread (which waits, blocked) that
   * nothing is left that could answer into the ended thread.
   */
  private async exit(): Promise<void> {
    await Promise.allSettled([...this.endpoints.values()].map(endpoint => endpoint.close()));
    await whenBindingIdle();
    Atomics.store(this.syncWords, EXIT_WORD, 1);
    Atomics.notify(this.syncWords, EXIT_WORD);
  }

  // ---------------------------------------------------------------- connections and streams

  private keepIncoming(endpoint: number, incoming: DirectIncoming): number {
    const handle = this.nextHandle++;
    this.incoming.set(handle, { incoming, endpoint });
    return handle;
  }

  private connectionInfo(endpoint: number, connection: DirectConnection): ConnectionInfo {
    const handle = this.nextHandle++;
    const streams = new Set<number>();
    this.connections.set(handle, { connection, endpoint, streams });
    // The calling thread learns of the end unasked; the connection and its streams are forgotten.
    const ended = (reason: string) => {
      this.connections.delete(handle);
      for (const stream of streams) this.streams.delete(stream);
      this.answer(handle, Status.EVENT, reason);
    };
    connection.closed().then(ended, err => ended(errorRecord(err).message));
    return { handle, remoteId: connection.remoteId(), snapshot: snapshotOf(connection) };
  }

  private keepStream(connection: number, bi: DirectBiStream): number {
    const owner = this.connections.get(connection);
    const handle = this.nextHandle++;
    const forget = () => {
      this.streams.delete(handle);
      this.connections.get(connection)?.streams.delete(handle);
    };
    this.streams.set(handle, new WorkerStream(bi, owner?.endpoint ?? 0, connection, forget));
    owner?.streams.add(handle);
    return handle;
  }

  /** The bytes as an ArrayBuffer of their own (small buffers share Node's pool: copied out). */
  private transferable(bytes: Buffer): ArrayBuffer {
    let buffer = bytes.buffer as ArrayBuffer;
    if (bytes.byteOffset !== 0 || bytes.byteLength !== buffer.byteLength) {
      buffer = new ArrayBuffer(bytes.length);
      new Uint8Array(buffer).set(bytes);
    }
    this.transfers.push(buffer);
    return buffer;
  }

  // ---------------------------------------------------------------- handles

  private endpoint(handle: number): DirectEndpoint {
    const endpoint = this.endpoints.get(handle);
    if (!endpoint) throw new Error('the iroh endpoint is closed');
    return endpoint;
  }

  private incomingEntry(handle: number): { incoming: DirectIncoming; endpoint: number } {
    const entry = this.incoming.get(handle);
    if (!entry) throw new Error('the incoming connection was already accepted or refused');
    return entry;
  }

  private connection(handle: number): DirectConnection {
    const entry = this.connections.get(handle);
    if (!entry) throw new Error('connection closed');
    return entry.connection;
  }

  private stream(handle: number): WorkerStream {
    const entry = this.streams.get(handle);
    if (!entry) throw new Error('stream closed');
    return entry;
  }

  // ---------------------------------------------------------------- answers

  private answer(callId: number, status: Status, value: unknown, lazy = false): void {
    this.outbox.push([callId, status, value]);
    if (this.scheduled) return;
    if (lazy) {
      this.lazyFlush ??= setTimeout(this.flush, LAZY_ANSWER_MS);
      return;
    }
    this.scheduled = true;
    // Answers that arrive in one turn of the event loop go back together.
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.lazyFlush) clearTimeout(this.lazyFlush);
    this.lazyFlush = null;
    const batch = this.outbox;
    const transfers = this.transfers;
    this.outbox = [];
    this.transfers = [];
    this.port.postMessage(batch, transfers);
  };

  /** Answers a synchronous call through the shared memory. */
  private answerSync(result: unknown): void {
    const store = (state: SyncState, value: unknown) => {
      const encoded = Buffer.from(JSON.stringify(value), 'utf8');
      const length = Math.min(encoded.length, SYNC_BYTES);
      this.syncBytes.set(encoded.subarray(0, length));
      Atomics.store(this.syncWords, 1, length);
      Atomics.store(this.syncWords, 0, state);
      Atomics.notify(this.syncWords, 0);
    };
    if (result instanceof Promise) result.catch(err => store(SyncState.ERROR, errorRecord(err)));
    else store(SyncState.OK, result);
  }
}

function snapshotOf(connection: DirectConnection): ConnectionSnapshot {
  return { stats: connection.stats(), paths: connection.paths(), rtt: connection.rtt() };
}

if (parentPort) {
  trackBindingCalls();
  const port = parentPort;
  const worker = new IoWorker(port, workerData as IoThreadStart);
  port.on('message', (batch: Operation[]) => worker.onBatch(batch));
}
