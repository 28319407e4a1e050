/**
 * The set-up the hostile-input specs share: a real IrohServer with a small message size
 * limit, a well-behaved ClientIroh that keeps calling it, and a raw peer that sends it what
 * no client should. Every test starts with no raw connection open on the server, so that
 * counts are exact.
 */
import iroh = require('@number0/iroh/index.js');
import { setFlagsFromString } from 'v8';
import { runInNewContext } from 'vm';
import { ClientIroh, IrohServer, IrohServerOptions } from '../../src';
import { Frame, FrameType } from '../../src/protocol';
import { RunningServer, call, callAll, eventually, irohClient, startIrohServer } from './harness';
import { MathModule, observed } from './math.app';
import { RawPeer } from './raw-peer';

/** The server's limit in these tests: small, so that oversized messages are cheap to send. */
export const MAX = 64 * 1024;

const gc: () => void = (() => {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return () => undefined;
  }
})();

/** The heap in use after a few collections. */
export async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise(r => setTimeout(r, 20));
    gc();
  }
  return process.memoryUsage().heapUsed;
}

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** Random bytes whose first header already has a version other than 1. */
export function randomGarbage(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[0] = (bytes[0] & 0x0f) | 0x50;
  return bytes;
}

/** The transport error value the server sends in an ERROR frame. */
export function errorValue(frame: Frame): { status: string; code: string; message: string } {
  expect(frame.type).toBe(FrameType.ERROR);
  return JSON.parse(frame.payload.toString('utf8'));
}

/**
 * Streams the server holds on connections from `peerId` (its internal connection registry:
 * the one place these tests read server internals).
 */
export function serverChannelsOf(server: IrohServer, peerId: string): number {
  return server.connections.filter(c => c.endpointId === peerId).reduce((n, c) => n + c.streams, 0);
}

export interface HostileServer {
  running: RunningServer;
  good: ClientIroh;
  raw: RawPeer;
  /** Heap in use once the server, the good client and the raw peer were up. */
  heapBefore: number;
  /** A new raw connection to the server, dropped after the test. */
  connect(): Promise<iroh.Connection>;
  /** Closes a raw connection (a no-op if it is closed already). */
  drop(connection: iroh.Connection): void;
  /** Connections the server has open to the raw peer. */
  rawConnectionsOnServer(): number;
  /** Streams of the raw peer's connections the server holds. */
  channelsOfRawConnections(): number;
  /** The well-behaved client still gets correct answers, unary and streamed. */
  goodClientWorks(): Promise<void>;
}

/**
 * Registers, in the calling `describe`, the hooks that start the server, the good client and
 * the raw peer, and close them all afterwards. The fields are set once `beforeAll` ran.
 */
export function hostileServer(options: IrohServerOptions = { maxMessageSize: MAX }): HostileServer {
  const fixture = {
    connect: () => fixture.raw.connect(fixture.running.ticket),
    drop: (connection: iroh.Connection) => fixture.raw.drop(connection),
    rawConnectionsOnServer: () => fixture.running.server.connectedPeers.filter(id => id === fixture.raw.id).length,
    channelsOfRawConnections: () => serverChannelsOf(fixture.running.server, fixture.raw.id),
    async goodClientWorks() {
      await expect(call(fixture.good, 'sum', [1, 2], 5000)).resolves.toBe(3);
      await expect(callAll(fixture.good, 'range', 20, 5000)).resolves.toEqual(Array.from({ length: 20 }, (_, i) => i));
    },
  } as HostileServer;

  beforeAll(async () => {
    fixture.running = await startIrohServer(MathModule, options);
    fixture.good = irohClient(fixture.running.ticket);
    await fixture.good.connect();
    await expect(call(fixture.good, 'sum', [1, 2])).resolves.toBe(3);
    fixture.raw = await RawPeer.bind();
    fixture.heapBefore = await heapAfterGc();
  });

  afterAll(async () => {
    fixture.raw?.dropAll();
    await fixture.good?.close();
    await fixture.running?.app.close();
    await fixture.raw?.close();
  });

  beforeEach(() => observed.reset());

  afterEach(async () => {
    fixture.raw.dropAll();
    await eventually(() => fixture.rawConnectionsOnServer() === 0, 5000, 'server to forget the raw connections');
  });

  return fixture;
}
