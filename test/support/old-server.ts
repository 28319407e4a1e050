/**
 * A server of protocol 1.0, for compatibility tests of newer clients: a raw iroh endpoint with
 * the nestjs-iroh ALPN that knows no HELLO (every PING gets an empty PONG), refuses flags 1.0
 * did not define as 1.0 did (UNKNOWN_FRAME, connection closed), and echoes each request's
 * data with the 1.0 encoding (DEFLATE from 1 KiB). It records every frame it received.
 */
import iroh = require('@number0/iroh/index.js');
import {
  ErrorCode,
  Frame,
  FrameDecoder,
  FrameType,
  decodeRequestMessage,
  encodeFrame,
  encodeGoAway,
  encodeReplyMessage,
} from '../../src/protocol';
import { ALPN } from './raw-peer';

/** The flags protocol 1.0 defined: COMPRESSED, BINARY, ENVELOPE, DEADLINE. */
const FLAGS_1_0 = 0x0f;

export class OldServer {
  /** Every frame received, in order (payloads copied). */
  readonly received: Frame[] = [];
  /** Why a connection was closed as a protocol error, if one was. */
  readonly refusals: string[] = [];
  private readonly connections = new Set<iroh.Connection>();
  private constructor(
    private readonly endpoint: iroh.Endpoint,
    readonly ticket: string,
  ) {}

  static async start(): Promise<OldServer> {
    const builder = iroh.Endpoint.builder();
    iroh.presetMinimal(builder);
    builder.alpns([ALPN]);
    builder.bindAddr('127.0.0.1:0');
    const endpoint = await builder.bind();
    const server = new OldServer(endpoint, iroh.EndpointTicket.fromAddr(endpoint.addr()).toString());
    void server.acceptLoop();
    return server;
  }

  async close(): Promise<void> {
    for (const connection of this.connections) {
      try {
        connection.close(0n, []);
      } catch {
        // already closed
      }
    }
    await this.endpoint.close();
  }

  private async acceptLoop(): Promise<void> {
    for (;;) {
      let connection: iroh.Connection;
      try {
        const incoming = await this.endpoint.acceptNext();
        if (!incoming) return;
        connection = await (await incoming.accept()).connect();
      } catch {
        return;
      }
      this.connections.add(connection);
      void this.serve(connection);
    }
  }

  private async serve(connection: iroh.Connection): Promise<void> {
    let bi: iroh.BiStream;
    try {
      bi = await connection.acceptBi();
    } catch {
      return;
    }
    const write = (frame: Buffer) => bi.send.writeAll([...frame]).catch(() => undefined);
    let failed = false;
    const decoder = new FrameDecoder(1 << 24, {
      onFrame: frame => {
        if (failed) return;
        this.received.push({ ...frame, payload: Buffer.from(frame.payload) });
        if (frame.flags & ~FLAGS_1_0) {
          failed = true;
          const reason = `unknown frame flags 0x${frame.flags.toString(16)}`;
          this.refusals.push(reason);
          void write(encodeFrame(FrameType.GOAWAY, 0, encodeGoAway(ErrorCode.UNKNOWN_FRAME, reason))).then(() =>
            connection.close(BigInt(ErrorCode.UNKNOWN_FRAME), [...Buffer.from(reason)]),
          );
          return;
        }
        if (frame.type === FrameType.PING) void write(encodeFrame(FrameType.PONG, frame.id));
        if (frame.type !== FrameType.REQUEST) return;
        const decoded = decodeRequestMessage(frame, 1 << 24);
        const data = decoded.envelope ? decoded.value : decoded.body.data;
        const reply = encodeReplyMessage({ response: data, isDisposed: true }, 1024);
        void write(encodeFrame(FrameType.RESPONSE, frame.id, reply.bytes, reply.flags));
      },
      onOversized: () => undefined,
      onError: () => undefined,
    });
    try {
      for (;;) {
        const bytes = await bi.recv.read(65536);
        if (bytes.length === 0) break;
        decoder.push(Buffer.from(bytes));
      }
      await bi.send.finish();
    } catch {
      // stream or connection closed
    }
  }
}
