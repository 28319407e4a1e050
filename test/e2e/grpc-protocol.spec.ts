/**
 * gRPC calls on the wire, driven through raw iroh connections: the layout docs/protocol.md
 * gives them ("gRPC calls" and "Request streams"), and how the server treats request-stream
 * frames that come late or where none belong.
 */
import { NestFactory } from '@nestjs/core';
import { INestMicroservice } from '@nestjs/common';
import { loadSync } from '@grpc/proto-loader';
import { status } from '@grpc/grpc-js';
import { IrohGrpcServer } from '../../src/grpc';
import { ErrorCode, FrameFlag, FrameType, decodeGoAway, encodeFrame, encodeRequestBody } from '../../src/protocol';
import { GrpcCallHeader } from '../../src/grpc/grpc-wire';
import { HERO_PROTO, HEROES, HeroesModule, MISSING_ID } from '../fixtures/grpc/heroes.controller';
import { LOOPBACK } from '../support/harness';
import { RawPeer, send, watchFrames } from '../support/raw-peer';

jest.setTimeout(30_000);

const heroProto = loadSync(HERO_PROTO) as any;
const FindOne = heroProto['hero.HeroesService'].FindOne;

function grpcRequest(id: number, method: string, data: unknown, header: GrpcCallHeader = {}): Buffer {
  const body = encodeRequestBody(`/hero.HeroesService/${method}`, data, header);
  return encodeFrame(FrameType.REQUEST, id, body.bytes, body.flags);
}

function streamData(id: number, message: unknown): Buffer {
  return encodeFrame(FrameType.DATA, id, Buffer.from(JSON.stringify(message)));
}

const streamEnd = (id: number) => encodeFrame(FrameType.END, id);

describe('gRPC calls on the wire', () => {
  let app: INestMicroservice;
  let server: IrohGrpcServer;
  let raw: RawPeer;

  beforeAll(async () => {
    server = new IrohGrpcServer({ ...LOOPBACK, package: 'hero', protoPath: HERO_PROTO });
    app = await NestFactory.createMicroservice(HeroesModule, { strategy: server, logger: false });
    await app.listen();
    raw = await RawPeer.bind();
  });

  afterAll(async () => {
    raw?.dropAll();
    await app?.close();
    await raw?.close();
  });

  /** A raw stream to the server, and a reader of the frames it sends back. */
  async function openStream() {
    const connection = await raw.connect(server.ticket);
    const bi = await connection.openBi();
    return { ...watchFrames(bi), send: (...parts: Buffer[]) => send(bi, ...parts) };
  }

  it('carries a request stream as client DATA frames ended by END', async () => {
    const stream = await openStream();
    await stream.send(
      grpcRequest(1, 'CountHeroes', undefined, { requestStream: true }),
      streamData(1, { id: 1 }),
      streamData(1, { id: 2 }),
      streamEnd(1),
    );
    const reply = await stream.next(f => f.id === 1);
    expect(reply.type).toBe(FrameType.RESPONSE);
    expect(JSON.parse(reply.payload.toString())).toEqual({ count: 2, ids: [1, 2] });
  });

  it('answers protobuf requests with protobuf replies, and JSON ones with JSON', async () => {
    const stream = await openStream();
    const request = FindOne.requestSerialize({ id: 3 });
    await stream.send(grpcRequest(1, 'FindOne', request, { protobuf: true }), grpcRequest(2, 'FindOne', { id: 3 }));
    const asProtobuf = await stream.next(f => f.id === 1);
    const asJson = await stream.next(f => f.id === 2);
    expect(asProtobuf.flags & FrameFlag.BINARY).toBe(FrameFlag.BINARY);
    expect(FindOne.responseDeserialize(asProtobuf.payload)).toEqual(HEROES[2]);
    expect(asJson.flags & FrameFlag.BINARY).toBe(0);
    expect(JSON.parse(asJson.payload.toString())).toEqual(HEROES[2]);
    expect(asProtobuf.payload.length).toBeLessThan(asJson.payload.length / 2);
  });

  it('ends a failed call with an ERROR carrying its gRPC status', async () => {
    const stream = await openStream();
    await stream.send(grpcRequest(1, 'FindOne', { id: MISSING_ID }));
    const reply = await stream.next(f => f.id === 1);
    expect(reply.type).toBe(FrameType.ERROR);
    expect(JSON.parse(reply.payload.toString())).toEqual({ code: status.NOT_FOUND, details: `Hero ${MISSING_ID} not found` });
  });

  it('drops request-stream frames that arrive after the server ended the call', async () => {
    const stream = await openStream();
    await stream.send(grpcRequest(1, 'FindEach', undefined, { requestStream: true }), streamData(1, { id: MISSING_ID }));
    const failed = await stream.next(f => f.id === 1);
    expect(failed.type).toBe(FrameType.ERROR);
    // The client had more on its way: those frames are not protocol errors.
    await stream.send(streamData(1, { id: 1 }), streamData(1, { id: 2 }), streamEnd(1), grpcRequest(2, 'FindOne', { id: 1 }));
    const next = await stream.next(f => f.id === 2);
    expect(next.type).toBe(FrameType.RESPONSE);
    expect(stream.frames.some(f => f.type === FrameType.GOAWAY)).toBe(false);
  });

  it.each([
    ['DATA', (id: number) => streamData(id, { id: 1 })],
    ['END', (id: number) => streamEnd(id)],
  ])('treats a client %s on a call without a request stream as a protocol error', async (_name, frame) => {
    const stream = await openStream();
    await stream.send(grpcRequest(1, 'Slow', { ms: 2000 }), frame(1));
    const goaway = await stream.next(f => f.type === FrameType.GOAWAY);
    expect(decodeGoAway(goaway.payload).code).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  it('refuses a request stream to a method that takes one message', async () => {
    const stream = await openStream();
    await stream.send(grpcRequest(1, 'FindOne', undefined, { requestStream: true }), streamData(1, { id: 1 }), streamEnd(1));
    const reply = await stream.next(f => f.id === 1);
    expect(reply.type).toBe(FrameType.ERROR);
    expect(JSON.parse(reply.payload.toString())).toMatchObject({ code: status.INTERNAL });
    expect(stream.frames.some(f => f.type === FrameType.GOAWAY)).toBe(false);
  });
});
