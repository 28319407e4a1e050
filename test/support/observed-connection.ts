/**
 * Raw iroh connections to a nestjs-iroh server, driven through the binding directly, and
 * what each saw of the server: its frames (replies, per-request errors, GOAWAYs) and how
 * the connection ended. Used by the attacker process (test/support/attacker.ts).
 */
import iroh = require('@number0/iroh/index.js');
import { FrameDecoder, FrameType, decodeGoAway, errorCodeName } from '../../src/protocol';

export const ALPN = [...Buffer.from('nestjs-iroh/1')];

/** An endpoint of its own (an identity of its own) on loopback, no relays. */
export async function rawEndpoint(): Promise<iroh.Endpoint> {
  const builder = iroh.Endpoint.builder();
  iroh.presetMinimal(builder);
  builder.relayMode(iroh.RelayMode.disabled());
  builder.bindAddr('127.0.0.1:0');
  return builder.bind();
}

/** What one connection saw; times in ms since the attacker started. */
export interface ConnectionView {
  index: number;
  connectedAt: number;
  /** How the server ended the connection, if it did before the attacker stopped watching. */
  closed: { at: number; code?: number; codeName?: string; reason: string } | null;
  goaways: Array<{ at: number; code: number; codeName: string; reason: string }>;
  /** Frames received, by type name. */
  frames: Record<string, number>;
  /** ERROR frames received, by their transport error code (or 'other' for handler errors). */
  errors: Record<string, number>;
  firstErrorAt?: number;
  /** Streams opened, and streams the server reset or stopped. */
  streams: number;
  streamsRefused: number;
  /** Writes that failed (the connection or stream was closed under them). */
  writeErrors: string[];
}

const since = (start: number) => Date.now() - start;

/** A connection and the record of what it received. */
export class ObservedConnection {
  readonly view: ConnectionView;
  /** Called with each RESPONSE/DATA/END/ERROR frame's request id. */
  onReply: ((id: number, type: FrameType) => void) | null = null;
  private watching = true;

  private constructor(
    readonly connection: iroh.Connection,
    index: number,
    private readonly start: number,
  ) {
    this.view = {
      index,
      connectedAt: since(start),
      closed: null,
      goaways: [],
      frames: {},
      errors: {},
      streams: 0,
      streamsRefused: 0,
      writeErrors: [],
    };
    const onClosed = (reason: string) => {
      if (!this.watching) return;
      // The binding reports e.g. "closed by peer: frame incomplete for more than 30000 ms (code 1)".
      const code = /\(code (\d+)\)$/.exec(reason) ?? /error_code: (\d+)/.exec(reason);
      const value = code ? Number(code[1]) : undefined;
      this.view.closed = {
        at: since(start),
        code: value,
        codeName: value === undefined ? undefined : errorCodeName(value),
        reason: reason.split('\n')[0].slice(0, 300),
      };
    };
    connection.closed().then(onClosed, err => onClosed(String(err)));
  }

  static async open(endpoint: iroh.Endpoint, ticket: string, index: number, start: number): Promise<ObservedConnection> {
    const addr = iroh.EndpointTicket.fromString(ticket).endpointAddr();
    return new ObservedConnection(await endpoint.connect(addr, ALPN), index, start);
  }

  get isClosed(): boolean {
    return this.view.closed !== null;
  }

  /**
   * Opens a stream. `ended` resolves once the server finished its side or reading failed;
   * with `read` false nothing is read from it (a client that never reads its replies).
   */
  async openStream(read = true): Promise<{ bi: iroh.BiStream; ended: Promise<void> }> {
    const bi = await this.connection.openBi();
    this.view.streams++;
    return { bi, ended: read ? this.readFrames(bi) : Promise.resolve() };
  }

  /** Writes `bytes`; false (and recorded) when the write failed. */
  async write(bi: iroh.BiStream, bytes: number[]): Promise<boolean> {
    try {
      await bi.send.writeAll(bytes);
      return true;
    } catch (err) {
      if (this.view.writeErrors.length < 5) this.view.writeErrors.push(String(err).split('\n')[0].slice(0, 200));
      return false;
    }
  }

  /** Resolves when the server has closed the connection, or after `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (!this.isClosed && Date.now() < end) await new Promise(r => setTimeout(r, 20));
    return this.isClosed;
  }

  /** Stops recording and closes the connection from our side. */
  close(): void {
    this.watching = false;
    try {
      this.connection.close(0n, []);
    } catch {
      // already closed
    }
  }

  private async readFrames(bi: iroh.BiStream): Promise<void> {
    const view = this.view;
    const decoder = new FrameDecoder(1 << 30, {
      onFrame: frame => {
        const name = FrameType[frame.type] ?? `type${frame.type}`;
        view.frames[name] = (view.frames[name] ?? 0) + 1;
        if (frame.type === FrameType.GOAWAY) {
          const goaway = decodeGoAway(Buffer.from(frame.payload));
          view.goaways.push({ at: since(this.start), code: goaway.code, codeName: errorCodeName(goaway.code), reason: goaway.reason });
        } else if (frame.type === FrameType.ERROR) {
          let code = 'other';
          try {
            code = JSON.parse(frame.payload.toString('utf8'))?.code ?? 'other';
          } catch {
            // not a transport error value
          }
          view.errors[code] = (view.errors[code] ?? 0) + 1;
          view.firstErrorAt ??= since(this.start);
        }
        if (frame.type !== FrameType.GOAWAY && frame.type !== FrameType.PONG) this.onReply?.(frame.id, frame.type);
      },
      onOversized: () => undefined,
      onError: () => undefined,
    });
    try {
      for (;;) {
        const bytes = await bi.recv.read(65536);
        if (bytes.length === 0) return;
        decoder.push(Buffer.from(bytes));
      }
    } catch (err) {
      // A stream the server reset (stream limit) fails alone; one of a closed connection too.
      if (/reset|stopped/i.test(String(err))) view.streamsRefused++;
    }
  }
}
