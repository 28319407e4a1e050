import type { DirectBiStream } from './direct-io';

/** Bytes a stream reads ahead of the calling thread's reads: what arrives meanwhile waits here, gathered. */
const READ_AHEAD_BYTES = 64 * 1024;

/** Writes queued while one is under way go out together, up to this many bytes per binding call. */
const MAX_GATHERED_WRITE = 64 * 1024;

interface Reader {
  maxBytes: number;
  resolve: (bytes: Buffer) => void;
  reject: (err: Error) => void;
}

type SendStep =
  | { kind: 'write'; bytes: Uint8Array; resolve: () => void; reject: (err: Error) => void }
  | { kind: 'finish' | 'stopped'; run: () => Promise<unknown>; resolve: (value: unknown) => void; reject: (err: Error) => void };

/**
 * One stream in the I/O thread. In the calling thread every message costs a hop between
 * threads, so this side gathers: its reads run ahead (up to {@link READ_AHEAD_BYTES}) and hand
 * over everything that arrived meanwhile at once, and writes queued while one is under way
 * go out as one binding call. Steps on the sending half run in order: the binding deadlocks
 * when `stopped()` races a write.
 */
export class WorkerStream {
  private recvDone = false;
  private sendDone = false;
  private forgotten = false;
  private readonly received: Buffer[] = [];
  private receivedBytes = 0;
  private reading = false;
  private readEnd: 'end' | Error | null = null;
  private reader: Reader | null = null;
  private readSize = 16 * 1024;
  private readonly steps: SendStep[] = [];
  private sending = false;
  private sendFailure: Error | null = null;

  constructor(
    readonly bi: DirectBiStream,
    readonly endpoint: number,
    readonly connection: number,
    /** Called once both halves are done. */
    private readonly onDone: () => void,
  ) {}

  // ---------------------------------------------------------------- receiving

  /** At most `maxBytes` of what arrived (waiting for some); empty at the end of the stream. */
  read(maxBytes: number): Promise<Buffer> {
    if (this.reader) return Promise.reject(new Error('a read is already under way'));
    this.readSize = maxBytes;
    const read = new Promise<Buffer>((resolve, reject) => (this.reader = { maxBytes, resolve, reject }));
    this.serve();
    this.pump();
    return read;
  }

  stop(code: number): Promise<void> {
    this.recvDone = true;
    this.checkDone();
    return this.bi.recv.stop(code);
  }

  private pump(): void {
    if (this.reading || this.readEnd !== null || this.recvDone || this.receivedBytes >= READ_AHEAD_BYTES) return;
    this.reading = true;
    this.bi.recv.read(this.readSize).then(
      bytes => {
        this.reading = false;
        if (bytes.length === 0) this.readEnd = 'end';
        else {
          this.received.push(bytes);
          this.receivedBytes += bytes.length;
        }
        this.serve();
        this.pump();
      },
      (err: Error) => {
        this.reading = false;
        this.readEnd = err;
        this.serve();
      },
    );
  }

  private serve(): void {
    const reader = this.reader;
    if (!reader) return;
    if (this.receivedBytes > 0) {
      this.reader = null;
      reader.resolve(this.take(reader.maxBytes));
    } else if (this.readEnd !== null) {
      this.reader = null;
      this.recvDone = true;
      this.checkDone();
      if (this.readEnd === 'end') reader.resolve(Buffer.alloc(0));
      else reader.reject(this.readEnd);
    }
  }

  /** Up to `maxBytes` of what was received, in one buffer. */
  private take(maxBytes: number): Buffer {
    const parts: Buffer[] = [];
    let total = 0;
    while (this.received.length > 0 && total < maxBytes) {
      const head = this.received[0];
      const room = maxBytes - total;
      if (head.length <= room) {
        parts.push(head);
        this.received.shift();
        total += head.length;
      } else {
        parts.push(head.subarray(0, room));
        this.received[0] = head.subarray(room);
        total += room;
      }
    }
    this.receivedBytes -= total;
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
  }

  // ---------------------------------------------------------------- sending

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.queue({ kind: 'write', bytes, resolve, reject }));
  }

  finish(): Promise<void> {
    return new Promise<unknown>((resolve, reject) =>
      this.queue({
        kind: 'finish',
        run: () => (this.sendFailure ? Promise.reject(this.sendFailure) : this.bi.send.finish()),
        resolve,
        reject,
      }),
    ).then(() => undefined);
  }

  /** Once what was queued before it is done: the half is done however it settles. */
  stopped(): Promise<number | null> {
    const stopped = new Promise<unknown>((resolve, reject) =>
      this.queue({ kind: 'stopped', run: () => this.bi.send.stopped(), resolve, reject }),
    );
    void stopped.then(
      () => this.sendEnded(),
      () => this.sendEnded(),
    );
    return stopped as Promise<number | null>;
  }

  reset(code: number): Promise<void> {
    this.sendEnded();
    return this.bi.send.reset(code);
  }

  private queue(step: SendStep): void {
    this.steps.push(step);
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    while (this.steps.length > 0) {
      const step = this.steps[0];
      if (step.kind === 'write') await this.writeGathered();
      else {
        this.steps.shift();
        await step.run().then(step.resolve, step.reject);
      }
    }
    this.sending = false;
  }

  /** The writes at the head of the queue, as one binding call (refused after a failed one). */
  private async writeGathered(): Promise<void> {
    const batch: Extract<SendStep, { kind: 'write' }>[] = [];
    let total = 0;
    while (this.steps.length > 0) {
      const step = this.steps[0];
      if (step.kind !== 'write' || (batch.length > 0 && total + step.bytes.length > MAX_GATHERED_WRITE)) break;
      this.steps.shift();
      batch.push(step);
      total += step.bytes.length;
    }
    try {
      if (this.sendFailure) throw this.sendFailure;
      await this.bi.send.write(
        batch.map(step => step.bytes),
        total,
      );
      for (const step of batch) step.resolve();
    } catch (err) {
      // Nothing more can be sent: later writes and the finish fail with this error.
      this.sendFailure ??= err as Error;
      for (const step of batch) step.reject(this.sendFailure);
      this.sendEnded();
    }
  }

  private sendEnded(): void {
    this.sendDone = true;
    this.checkDone();
  }

  private checkDone(): void {
    if (!this.recvDone || !this.sendDone || this.forgotten) return;
    this.forgotten = true;
    this.onDone();
  }
}
