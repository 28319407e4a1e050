import type { ReceiveBudget } from '../protocol';

/**
 * Frames up to this size are always granted their reservation (it still counts): an ordinary
 * message that happens to span two reads must not be refused because large uploads fill the
 * pool. What they can add is bounded by the streams (one partial frame each).
 */
export const SMALL_RESERVATION = 64 * 1024;

/**
 * A partly received frame younger than this is never judged stuck: its rate is not known yet,
 * and a server busy with other work reads slowly for a while without the sender being slow.
 */
const GRACE_MS = 5000;

/** The receive rate of a partly received frame is measured over the last two to four seconds. */
const RATE_WINDOW_MS = 2000;

/**
 * The memory a server may hold for messages it has received and not handed on yet — partly
 * received frames, inflated payloads, queued events — across all connections, as one pool.
 * Each connection draws from it through a {@link ConnectionBudget}.
 *
 * When a reservation does not fit, the pool first evicts connections whose partly received
 * frames are stuck: frames that, at the rate their bytes arrived over the last few seconds,
 * cannot complete before `incompleteFrameTimeout` (counted from their first byte) would cut
 * them anyway. Such a frame only holds memory; closing its connection early frees the memory
 * for peers whose messages are moving. The largest holder goes first. A frame that keeps
 * arriving fast enough to finish is never evicted: it completes and is handed on. When no
 * holder is stuck the reservation is refused (the message gets LIMIT_EXCEEDED).
 */
export class ReceivePool {
  private used = 0;
  private readonly holders = new Set<ConnectionBudget>();

  constructor(
    readonly capacity: number,
    private readonly incompleteFrameTimeout: number,
  ) {}

  /** Bytes reserved now. */
  get usedBytes(): number {
    return this.used;
  }

  /** The budget of a new connection; `evict` closes that connection (and releases its budget). */
  connectionBudget(evict: (reason: string) => void): ConnectionBudget {
    const budget = new ConnectionBudget(this, evict);
    this.holders.add(budget);
    return budget;
  }

  /**
   * @internal Takes `bytes` for `holder`, evicting stuck holders if that makes room; with
   * `overdraft`, takes them even when they do not fit.
   */
  take(holder: ConnectionBudget, bytes: number, overdraft: boolean): boolean {
    if (!overdraft && this.used + bytes > this.capacity) {
      this.evictStuck(holder, bytes);
      if (this.used + bytes > this.capacity) return false;
    }
    this.used += bytes;
    return true;
  }

  /** @internal */
  give(bytes: number): void {
    this.used -= bytes;
  }

  /** @internal */
  forget(holder: ConnectionBudget): void {
    this.holders.delete(holder);
  }

  private evictStuck(requester: ConnectionBudget, bytes: number): void {
    const now = Date.now();
    const stuck = [...this.holders]
      .filter(h => h !== requester && h.held > 0 && h.isStuck(now, this.incompleteFrameTimeout))
      .sort((a, b) => b.held - a.held);
    for (const holder of stuck) {
      if (this.used + bytes <= this.capacity) return;
      holder.evict(
        `receive memory exhausted (maxReceiveMemory ${this.capacity}): a partly received frame ` +
          `could not complete within incompleteFrameTimeout at the rate it arrived`,
      );
    }
  }
}

/**
 * What one connection holds of the pool: the reservations of its streams' partly received
 * frames, its inflated payloads and its queued events. A ReceiveBudget itself (inflation and
 * events reserve through it); each stream's decoder gets a {@link StreamBudget}.
 */
export class ConnectionBudget implements ReceiveBudget {
  private heldBytes = 0;
  private closed = false;
  private readonly streams = new Set<StreamBudget>();

  constructor(
    private readonly pool: ReceivePool,
    private readonly onEvict: (reason: string) => void,
  ) {}

  get held(): number {
    return this.heldBytes;
  }

  /**
   * Takes `bytes`; false when the pool cannot hold them even after evicting stuck holders.
   * With `overdraft` they are taken whatever the pool holds (small frames, control frames).
   */
  reserve(bytes: number, overdraft = false): boolean {
    if (this.closed) return false;
    if (bytes <= 0) return true;
    if (!this.pool.take(this, bytes, overdraft)) return false;
    this.heldBytes += bytes;
    return true;
  }

  release(bytes: number): void {
    const n = Math.min(bytes, this.heldBytes);
    if (n <= 0) return;
    this.heldBytes -= n;
    this.pool.give(n);
  }

  /** A budget for one stream's decoder. */
  forStream(): StreamBudget {
    const stream = new StreamBudget(this);
    this.streams.add(stream);
    return stream;
  }

  /** @internal */
  forgetStream(stream: StreamBudget): void {
    this.streams.delete(stream);
  }

  /** True when one of its streams has a partly received frame that cannot complete in time. */
  isStuck(now: number, timeoutMs: number): boolean {
    for (const stream of this.streams) if (stream.isStuck(now, timeoutMs)) return true;
    return false;
  }

  /** Closes the connection for the pool's sake; releases everything it holds. */
  evict(reason: string): void {
    this.onEvict(reason);
    this.close();
  }

  /** The connection is gone: gives everything back; later reservations are refused. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.streams) stream.close();
    this.release(this.heldBytes);
    this.pool.forget(this);
  }
}

/**
 * One stream's share of its connection's budget: the decoder's reservation for the frame it
 * is buffering, and how fast that frame's bytes arrive.
 */
export class StreamBudget implements ReceiveBudget {
  private frameLength = 0;
  private received = 0;
  private startedAt = 0;
  /** Two samples of (time, bytes received): the receive rate is measured between the older one and now. */
  private older = { at: 0, received: 0 };
  private newer = { at: 0, received: 0 };
  private closed = false;
  /** The server keeps the stream from reading for now (its turn has not come): it is not slow. */
  private heldBack = false;

  constructor(private readonly connection: ConnectionBudget) {}

  /** True while a frame larger than {@link SMALL_RESERVATION} is being received. */
  get receivingLarge(): boolean {
    return this.frameLength > SMALL_RESERVATION;
  }

  /**
   * The server stops (true) or lets (false) the stream read: while it does not, the frame's
   * rate says nothing about the sender, and it is measured afresh afterwards.
   */
  setHeldBack(heldBack: boolean): void {
    this.heldBack = heldBack;
    if (!heldBack) {
      const now = Date.now();
      this.older = { at: now, received: this.received };
      this.newer = { at: now, received: this.received };
    }
  }

  reserve(bytes: number): boolean {
    if (this.closed || !this.connection.reserve(bytes, bytes <= SMALL_RESERVATION)) return false;
    // The decoder reserves once per buffered frame: this is that frame's start.
    const now = Date.now();
    this.frameLength = bytes;
    this.received = 0;
    this.startedAt = now;
    this.older = { at: now, received: 0 };
    this.newer = { at: now, received: 0 };
    return true;
  }

  release(bytes: number): void {
    this.connection.release(Math.min(bytes, this.frameLength));
    this.frameLength = 0;
  }

  progress(received: number): void {
    this.received = received;
    this.sample(Date.now());
  }

  /**
   * True when the frame being received cannot complete before `timeoutMs` after its first
   * byte at the rate its bytes arrived recently (a frame that stopped, or trickles).
   */
  isStuck(now: number, timeoutMs: number): boolean {
    if (this.frameLength <= SMALL_RESERVATION || this.heldBack || now - this.startedAt < GRACE_MS) return false;
    this.sample(now);
    // Not measured long enough since the server last held the stream back.
    if (now - this.older.at < RATE_WINDOW_MS) return false;
    const elapsed = now - this.older.at;
    const rate = (this.received - this.older.received) / elapsed;
    const timeLeft = this.startedAt + timeoutMs - now;
    return rate * timeLeft < this.frameLength - this.received;
  }

  /** The stream is gone: gives back the frame's reservation. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release(this.frameLength);
    this.connection.forgetStream(this);
  }

  private sample(now: number): void {
    if (now - this.newer.at < RATE_WINDOW_MS) return;
    this.older = this.newer;
    this.newer = { at: now, received: this.received };
  }
}
