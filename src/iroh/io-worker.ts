import { MessagePort, parentPort, workerData } from 'worker_threads';
import { toBindingBytes } from './bytes';
import { DirectBiStream, DirectConnection, DirectEndpoint, DirectIncoming, bindDirect } from './direct-io';
import type { PeerAddress } from './io';
import {
  Answer,
  ConnectionInfo,
  ConnectionSnapshot,
  ENDPOINT_HANDLE,
  IoThreadStart,
  Op,
  Operation,
  SYNC_BYTES,
  SYNC_HEADER_BYTES,
  Status,
  SyncState,
  errorRecord,
} from './io-thread-protocol';

/**
 * The I/O thread: one endpoint on the binding (direct-io.ts), driven by the operations the
 * calling thread sends (io-thread-protocol.ts). Bytes are converted here; what it hands back
 * are transferred ArrayBuffers. Started by worker-io.ts, ended by it once the endpoint closed.
 */

/** A stream and how far each half is done: it is forgotten once both are (or its connection closed). */
interface StreamEntry {
  bi: DirectBiStream;
  connection: number;
  /**
   * The next read, started as soon as the calling thread was handed the one before: while it
   * works on those bytes, the next ones are read and converted here.
   */
  ahead: Promise<Buffer> | null;
  /** Operations on the sending half run one after the other (a `stopped()` racing a write deadlocks the binding). */
  sendTail: Promise<unknown>;
  /** The error of a write or finish that failed: later ones fail with it. */
  sendFailure: Error | null;
  recvDone: boolean;
  sendDone: boolean;
}

const enum SendStep {
  DATA,
  QUERY,
}

class IoThread {
  private endpoint: DirectEndpoint | null = null;
  private nextHandle = 1;
  private readonly incoming = new Map<number, DirectIncoming>();
  private readonly connections = new Map<number, { connection: DirectConnection; streams: Set<number> }>();
  private readonly streams = new Map<number, StreamEntry>();
  private outbox: Answer[] = [];
  private transfers: ArrayBuffer[] = [];
  private scheduled = false;
  private readonly syncWords: Int32Array;
  private readonly syncBytes: Uint8Array;

  constructor(
    private readonly port: MessagePort,
    private readonly start: IoThreadStart,
  ) {
    this.syncWords = new Int32Array(start.sync, 0, 2);
    this.syncBytes = new Uint8Array(start.sync, SYNC_HEADER_BYTES, SYNC_BYTES);
  }

  /** Binds the endpoint; answers call 0 with its id and sockets. */
  async bind(): Promise<void> {
    try {
      const endpoint = await bindDirect(this.start.config);
      this.endpoint = endpoint;
      this.answer(0, Status.OK, { id: endpoint.id(), sockets: endpoint.boundSockets() });
    } catch (err) {
      this.answer(0, Status.ERROR, errorRecord(err));
      this.end();
    }
  }

  /**
   * Lets the thread end once the binding has nothing under way: its pending calls keep it
   * alive until they settle (ended earlier, the binding would answer into a thread that is
   * gone and take the process down).
   */
  private end(): void {
    this.connections.clear();
    this.streams.clear();
    this.incoming.clear();
    this.port.unref();
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
    if (result instanceof Promise) {
      result.then(
        value => this.answer(callId, Status.OK, value),
        err => this.answer(callId, Status.ERROR, errorRecord(err)),
      );
    } else {
      this.answer(callId, Status.OK, result);
    }
  }

  private perform(op: Op, handle: number, a: unknown, b: unknown): unknown {
    switch (op) {
      case Op.ACCEPT_NEXT:
        return this.requireEndpoint(handle)
          .acceptNext()
          .then(incoming => (incoming ? this.keep(this.incoming, incoming) : null));
      case Op.CONNECT:
        return this.requireEndpoint(handle)
          .connect(a as PeerAddress, new Uint8Array(b as ArrayBuffer))
          .then(connection => this.connectionInfo(connection));
      case Op.CLOSE_ENDPOINT: {
        const closing = this.requireEndpoint(handle).close();
        closing.finally(() => this.end()).catch(() => undefined);
        return closing;
      }
      case Op.TICKET:
        return this.requireEndpoint(handle).ticket();
      case Op.REMOTE_ADDR:
        return this.require(this.incoming, handle).remoteAddr();
      case Op.ACCEPT:
      case Op.REFUSE: {
        const incoming = this.require(this.incoming, handle);
        this.incoming.delete(handle);
        return op === Op.REFUSE ? incoming.refuse() : incoming.accept().then(connection => this.connectionInfo(connection));
      }
      case Op.OPEN_BI:
        return this.requireConnection(handle)
          .openBi()
          .then(bi => this.keepStream(handle, bi));
      case Op.ACCEPT_BI:
        return this.requireConnection(handle)
          .acceptBi()
          .then(bi => this.keepStream(handle, bi));
      case Op.CLOSE_CONNECTION:
        this.connections.get(handle)?.connection.close(a as number, b as string);
        return undefined;
      case Op.SET_MAX_BI:
        this.connections.get(handle)?.connection.setMaxConcurrentBiStreams(a as number);
        return undefined;
      case Op.SNAPSHOT:
        return snapshotOf(this.requireConnection(handle));
      case Op.WRITE: {
        const bytes = new Uint8Array(a as ArrayBuffer);
        // Converted now, while the writes before it may still be under way; written in order.
        const converted = toBindingBytes([bytes], bytes.length);
        return this.onSend(handle, SendStep.DATA, entry => entry.bi.send.writeConverted(converted));
      }
      case Op.FINISH:
        return this.onSend(handle, SendStep.DATA, entry => entry.bi.send.finish());
      case Op.STOPPED:
        return this.onSend(handle, SendStep.QUERY, entry => entry.bi.send.stopped());
      case Op.RESET: {
        const entry = this.requireStream(handle);
        this.sendDone(handle, entry);
        return entry.bi.send.reset(a as number);
      }
      case Op.READ:
        return this.read(handle, a as number);
      case Op.STOP: {
        const entry = this.requireStream(handle);
        entry.recvDone = true;
        this.forgetIfDone(handle, entry);
        return entry.bi.recv.stop(a as number);
      }
      default:
        throw new Error(`unknown I/O thread operation ${String(op)}`);
    }
  }

  // ---------------------------------------------------------------- streams

  private keepStream(connection: number, bi: DirectBiStream): number {
    const handle = this.nextHandle++;
    this.streams.set(handle, {
      bi,
      connection,
      ahead: null,
      sendTail: Promise.resolve(),
      sendFailure: null,
      recvDone: false,
      sendDone: false,
    });
    this.connections.get(connection)?.streams.add(handle);
    return handle;
  }

  /**
   * Runs `step` on the sending half once the steps before it are done. A `DATA` step (write,
   * finish) is refused with the error of an earlier one that failed, and its failure leaves
   * nothing more to send; the half is done once a `QUERY` (stopped) settled.
   */
  private onSend(handle: number, kind: SendStep, step: (entry: StreamEntry) => Promise<unknown>): Promise<unknown> {
    const entry = this.requireStream(handle);
    const result = entry.sendTail.then(() => {
      if (kind === SendStep.DATA && entry.sendFailure) throw entry.sendFailure;
      return step(entry);
    });
    entry.sendTail = result.catch(() => undefined);
    result.then(
      () => kind === SendStep.QUERY && this.sendDone(handle, entry),
      (err: Error) => {
        if (kind === SendStep.DATA) entry.sendFailure ??= err;
        this.sendDone(handle, entry);
      },
    );
    return result;
  }

  private async read(handle: number, maxBytes: number): Promise<ArrayBuffer> {
    const entry = this.requireStream(handle);
    const reading = entry.ahead ?? entry.bi.recv.read(maxBytes);
    entry.ahead = null;
    try {
      const bytes = await reading;
      if (bytes.length === 0) {
        entry.recvDone = true;
        this.forgetIfDone(handle, entry);
      } else if (!entry.recvDone) {
        entry.ahead = entry.bi.recv.read(maxBytes);
        // Its failure is the next read's.
        entry.ahead.catch(() => undefined);
      }
      return this.transferable(bytes);
    } catch (err) {
      entry.recvDone = true;
      this.forgetIfDone(handle, entry);
      throw err;
    }
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

  private sendDone(handle: number, entry: StreamEntry): void {
    entry.sendDone = true;
    this.forgetIfDone(handle, entry);
  }

  private forgetIfDone(handle: number, entry: StreamEntry): void {
    if (!entry.recvDone || !entry.sendDone) return;
    this.streams.delete(handle);
    this.connections.get(entry.connection)?.streams.delete(handle);
  }

  // ---------------------------------------------------------------- connections

  private connectionInfo(connection: DirectConnection): ConnectionInfo {
    const handle = this.nextHandle++;
    const streams = new Set<number>();
    this.connections.set(handle, { connection, streams });
    // The calling thread learns of the end unasked; the connection and its streams are forgotten.
    const ended = (reason: string) => {
      this.connections.delete(handle);
      for (const stream of streams) this.streams.delete(stream);
      this.answer(handle, Status.EVENT, reason);
    };
    connection.closed().then(ended, err => ended(errorRecord(err).message));
    return { handle, remoteId: connection.remoteId(), snapshot: snapshotOf(connection) };
  }

  // ---------------------------------------------------------------- handles

  private keep<T>(map: Map<number, T>, value: T): number {
    const handle = this.nextHandle++;
    map.set(handle, value);
    return handle;
  }

  private require<T>(map: Map<number, T>, handle: number): T {
    const value = map.get(handle);
    if (value === undefined) throw new Error('closed');
    return value;
  }

  private requireEndpoint(handle: number): DirectEndpoint {
    if (handle !== ENDPOINT_HANDLE || !this.endpoint) throw new Error('the iroh endpoint is closed');
    return this.endpoint;
  }

  private requireConnection(handle: number): DirectConnection {
    const entry = this.connections.get(handle);
    if (!entry) throw new Error('connection closed');
    return entry.connection;
  }

  private requireStream(handle: number): StreamEntry {
    const entry = this.streams.get(handle);
    if (!entry) throw new Error('stream closed');
    return entry;
  }

  // ---------------------------------------------------------------- answers

  private answer(callId: number, status: Status, value: unknown): void {
    this.outbox.push([callId, status, value]);
    if (this.scheduled) return;
    this.scheduled = true;
    // Answers that arrive in one turn of the event loop go back together.
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
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
  const port = parentPort;
  const thread = new IoThread(port, workerData as IoThreadStart);
  port.on('message', (batch: Operation[]) => thread.onBatch(batch));
  void thread.bind();
}
