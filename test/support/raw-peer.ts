/**
 * A peer that writes raw frames to a server: a bare iroh endpoint on loopback, driven through
 * the binding directly with the nestjs-iroh ALPN, for input a ClientIroh never sends. It
 * keeps every connection it opens so that `close()` leaves nothing behind: a read or a
 * `closed()` still pending on an open connection holds the process (the binding keeps the
 * event loop alive for each pending call).
 */
import iroh = require('@number0/iroh/index.js');
import { Frame, FrameDecoder, FrameType, encodeFrame, encodeRequestBody } from '../../src/protocol';

/** The ALPN of wire protocol 1, spelled out: the tests check the wire, not the constant. */
export const ALPN = [...Buffer.from('nestjs-iroh/1')];

export class RawPeer {
  private readonly connections = new Set<iroh.Connection>();
  /** This peer's endpoint id, as the server sees it. */
  readonly id: string;

  private constructor(readonly endpoint: iroh.Endpoint) {
    this.id = endpoint.id().toString();
  }

  /** Binds a raw endpoint on loopback (no relays, no discovery). */
  static async bind(): Promise<RawPeer> {
    const builder = iroh.Endpoint.builder();
    iroh.presetMinimal(builder);
    builder.bindAddr('127.0.0.1:0');
    return new RawPeer(await builder.bind());
  }

  /** A new connection to the server of `ticket`, with the nestjs-iroh ALPN. */
  async connect(ticket: string): Promise<iroh.Connection> {
    const connection = await this.endpoint.connect(iroh.EndpointTicket.fromString(ticket).endpointAddr(), ALPN);
    this.connections.add(connection);
    return connection;
  }

  /** Closes `connection` with code 0 (a no-op if it is closed already). */
  drop(connection: iroh.Connection): void {
    this.connections.delete(connection);
    try {
      connection.close(0n, []);
    } catch {
      // already closed
    }
  }

  /** Closes every connection this peer opened. */
  dropAll(): void {
    for (const connection of [...this.connections]) this.drop(connection);
  }

  /** Closes every connection, then the endpoint. */
  async close(): Promise<void> {
    this.dropAll();
    await this.endpoint.close();
  }
}

/** Writes `parts`, back to back, in one write. */
export function send(bi: iroh.BiStream, ...parts: Buffer[]): Promise<void> {
  return bi.send.writeAll([...Buffer.concat(parts)]);
}

/** A REQUEST frame for `pattern` with `data` and no metadata. */
export function request(id: number, pattern: string, data: unknown, flags = 0): Buffer {
  const body = encodeRequestBody(pattern, data, undefined);
  return encodeFrame(FrameType.REQUEST, id, body.bytes, body.flags | flags);
}

/** An EVENT frame for `pattern` with `data`. */
export function event(pattern: string, data: unknown): Buffer {
  return encodeFrame(FrameType.EVENT, 0, encodeRequestBody(pattern, data, undefined).bytes);
}

/** Frames as [type name, id, payload text], for comparisons. */
export function summary(frames: Frame[]): Array<[string, number, string]> {
  return frames.map(f => [FrameType[f.type], f.id, f.payload.toString('utf8')]);
}

/** What a raw stream received: the frames, and how reading ended. */
export interface Received {
  frames: Frame[];
  /** 'finished': the server finished its side; 'closed': reading failed (stream or connection closed); 'timeout': neither in time; 'done': `until` was satisfied. */
  end: 'finished' | 'closed' | 'timeout' | 'done';
  error?: string;
  /** The application close code of the connection, when the server closed it. */
  closeCode?: number;
}

/** A decoder that collects what the server sends, failing on anything that is not protocol. */
function serverFrames(frames: Frame[], onError: (error: string) => void): FrameDecoder {
  return new FrameDecoder(1 << 30, {
    onFrame: f => frames.push({ ...f, payload: Buffer.from(f.payload) }),
    onOversized: f => onError(`server sent an oversized frame ${JSON.stringify(f)}`),
    onError: e => onError(`server sent bytes that are not protocol: ${e.message}`),
  });
}

/**
 * Reads frames from `bi` until the server finishes the stream, reading fails, `until`
 * holds, or `ms` pass. A read left pending (timeout, until) keeps the stream busy: drop
 * its connection afterwards.
 */
export async function readFrames(bi: iroh.BiStream, ms: number, until?: (frames: Frame[]) => boolean): Promise<Received> {
  const frames: Frame[] = [];
  let decodeError: string | undefined;
  const decoder = serverFrames(frames, error => (decodeError = error));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Received>(resolve => (timer = setTimeout(() => resolve({ frames, end: 'timeout' }), ms)));
  const loop = (async (): Promise<Received> => {
    try {
      for (;;) {
        if (until?.(frames)) return { frames, end: 'done' };
        const bytes = await bi.recv.read(65536);
        if (bytes.length === 0) return { frames, end: 'finished' };
        decoder.push(Buffer.from(bytes));
      }
    } catch (err) {
      const error = String(err).split('\n')[0];
      const code = /ApplicationClosed\(ApplicationClose \{ error_code: (\d+)/.exec(error);
      return { frames, end: 'closed', error, closeCode: code ? Number(code[1]) : undefined };
    }
  })();
  try {
    const result = await Promise.race([loop, timeout]);
    if (decodeError) throw new Error(decodeError);
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** The frames of a stream, read in the background as they arrive. */
export interface FrameWatch {
  frames: Frame[];
  /** The first frame matching `match`, waiting up to `ms` for it. */
  next(match: (frame: Frame) => boolean, ms?: number): Promise<Frame>;
}

/**
 * Reads `bi` in the background until the stream or its connection ends (drop the connection
 * to end it). Bytes that are not protocol fail the next `next()`.
 */
export function watchFrames(bi: iroh.BiStream): FrameWatch {
  const frames: Frame[] = [];
  let decodeError: string | undefined;
  const decoder = serverFrames(frames, error => (decodeError ??= error));
  let ended = false;
  void (async () => {
    try {
      for (;;) {
        const bytes = await bi.recv.read(65536);
        if (bytes.length === 0) break;
        decoder.push(Buffer.from(bytes));
      }
    } catch {
      // stream or connection closed
    }
    ended = true;
  })();
  return {
    frames,
    async next(match, ms = 5000) {
      const end = Date.now() + ms;
      for (;;) {
        if (decodeError) throw new Error(decodeError);
        const frame = frames.find(match);
        if (frame) return frame;
        if (ended || Date.now() > end) throw new Error(`no matching frame; got ${JSON.stringify(frames.map(f => FrameType[f.type]))}`);
        await new Promise(r => setTimeout(r, 5));
      }
    },
  };
}

/**
 * How a connection ended: the application close code and reason the server gave, or the
 * reason 'still open' after `ms`.
 */
export async function closedBy(connection: iroh.Connection, ms: number): Promise<{ code?: number; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  const reason = await Promise.race([
    connection.closed().catch(err => String(err)),
    new Promise<string>(resolve => (timer = setTimeout(() => resolve('still open'), ms))),
  ]);
  clearTimeout(timer);
  // The binding reports e.g. "closed by peer: unsupported protocol version 2 (code 2)".
  const code = /\(code (\d+)\)$/.exec(reason);
  return { code: code ? Number(code[1]) : undefined, reason };
}
