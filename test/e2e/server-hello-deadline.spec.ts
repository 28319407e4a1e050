import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { Observable, finalize, interval } from 'rxjs';
import { IrohContext } from '../../src';
import {
  ErrorCode,
  Feature,
  FrameType,
  HELLO_ID,
  HELLO_REVISION,
  decodeGoAway,
  decodeHello,
  encodeFrame,
  encodeHello,
  encodeRequestMessage,
  withDeadline,
} from '../../src/protocol';
import { RunningServer, startIrohServer } from '../support/harness';
import { RawPeer, request, send, watchFrames } from '../support/raw-peer';

const seen: { deadlines: Array<number | undefined>; finalized: string[] } = { deadlines: [], finalized: [] };

@Controller()
class DeadlineController {
  @MessagePattern('deadline')
  deadline(@Payload() _data: unknown, @Ctx() ctx: IrohContext): number | null {
    seen.deadlines.push(ctx.getDeadline());
    return ctx.getDeadline() ?? null;
  }

  @MessagePattern('forever')
  forever(@Payload() tag: string): Observable<number> {
    return interval(20).pipe(finalize(() => seen.finalized.push(tag)));
  }

  @MessagePattern('slow')
  async slow(@Payload() ms: number): Promise<string> {
    await new Promise(r => setTimeout(r, ms));
    return 'done';
  }
}

@Module({ controllers: [DeadlineController] })
class DeadlineModule {}

/** A REQUEST that carries the caller's remaining time. */
function requestWithin(id: number, pattern: string, data: unknown, timeoutMs: number): Buffer {
  const payload = withDeadline(encodeRequestMessage(pattern, data, undefined, 0), timeoutMs);
  return encodeFrame(FrameType.REQUEST, id, payload.bytes, payload.flags);
}

const hello = (features: number) => encodeFrame(FrameType.PING, HELLO_ID, encodeHello(features));

describe('the server side of HELLO, deadlines and draining', () => {
  let running: RunningServer;
  let raw: RawPeer;

  beforeEach(async () => {
    seen.deadlines = [];
    seen.finalized = [];
    running = await startIrohServer(DeadlineModule, { drainTimeout: 3000 });
    raw = await RawPeer.bind();
  });

  afterEach(async () => {
    await raw.close();
    await running.app.close();
  });

  async function stream() {
    const connection = await raw.connect(running.ticket);
    const bi = await connection.openBi();
    return { bi, frames: watchFrames(bi) };
  }

  it('answers a HELLO with its own: deadlines, draining, brotli, pattern tables and reply metadata', async () => {
    const { bi, frames } = await stream();
    await send(bi, hello(Feature.DEADLINE));
    const pong = await frames.next(f => f.type === FrameType.PONG);
    expect(pong.id).toBe(HELLO_ID);
    expect(decodeHello(pong.payload)).toEqual({
      revision: HELLO_REVISION,
      features: Feature.DEADLINE | Feature.DRAIN | Feature.BROTLI | Feature.PATTERN_TABLE | Feature.REPLY_METADATA,
    });
  });

  it('shows the caller its deadline on its own clock, and undefined without one', async () => {
    const { bi, frames } = await stream();
    await send(bi, hello(Feature.DEADLINE));
    const before = Date.now();
    await send(bi, requestWithin(1, 'deadline', null, 5000), request(2, 'deadline', null));
    const withOne = await frames.next(f => f.id === 1);
    const without = await frames.next(f => f.id === 2);
    expect(withOne.type).toBe(FrameType.RESPONSE);
    const deadline = JSON.parse(withOne.payload.toString());
    expect(deadline).toBeGreaterThanOrEqual(before + 5000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 5000);
    expect(JSON.parse(without.payload.toString())).toBeNull();
    expect(seen.deadlines[1]).toBeUndefined();
  });

  it('cancels a handler still running at its deadline and sends nothing more for it', async () => {
    const { bi, frames } = await stream();
    await send(bi, hello(Feature.DEADLINE), requestWithin(1, 'forever', 'at-deadline', 300));
    await frames.next(f => f.id === 1 && f.type === FrameType.DATA);
    const started = Date.now();
    while (!seen.finalized.includes('at-deadline') && Date.now() - started < 3000) await new Promise(r => setTimeout(r, 10));
    expect(seen.finalized).toEqual(['at-deadline']);
    // Frames written before the cancel may still be on the wire; after that, nothing more.
    await new Promise(r => setTimeout(r, 100));
    const dataCount = frames.frames.filter(f => f.id === 1).length;
    await new Promise(r => setTimeout(r, 200));
    expect(frames.frames.filter(f => f.id === 1)).toHaveLength(dataCount);
    expect(frames.frames.some(f => f.id === 1 && f.type !== FrameType.DATA)).toBe(false);
    expect(running.server.inflightRequests).toBe(0);
  });

  it('drains a client that announced DRAIN: GOAWAY first, the request in flight finishes, a late one is refused', async () => {
    const { bi, frames } = await stream();
    await send(bi, hello(Feature.DRAIN), request(1, 'slow', 400));
    await new Promise(r => setTimeout(r, 100));
    const closing = running.app.close();
    const goaway = await frames.next(f => f.type === FrameType.GOAWAY, 2000);
    expect(decodeGoAway(goaway.payload)).toEqual({ code: ErrorCode.GOING_AWAY, reason: 'server shutting down' });
    // GOAWAY came while request 1 was still running.
    expect(frames.frames.some(f => f.id === 1)).toBe(false);
    await send(bi, request(2, 'slow', 1));
    const late = await frames.next(f => f.id === 2);
    expect(late.type).toBe(FrameType.ERROR);
    expect(JSON.parse(late.payload.toString())).toMatchObject({ code: 'GOING_AWAY' });
    const done = await frames.next(f => f.id === 1, 2000);
    expect(done.type).toBe(FrameType.RESPONSE);
    expect(JSON.parse(done.payload.toString())).toBe('done');
    await closing;
  });

  it('drains a client without HELLO as before: GOAWAY only once requests are done', async () => {
    const { bi, frames } = await stream();
    await send(bi, request(1, 'slow', 300));
    await new Promise(r => setTimeout(r, 100));
    const closing = running.app.close();
    const done = await frames.next(f => f.id === 1, 2000);
    expect(done.type).toBe(FrameType.RESPONSE);
    const goaway = await frames.next(f => f.type === FrameType.GOAWAY, 2000);
    expect(frames.frames.indexOf(goaway)).toBeGreaterThan(frames.frames.indexOf(done));
    await closing;
  });

  it('refuses a malformed HELLO as a protocol error', async () => {
    const { bi, frames } = await stream();
    await send(bi, encodeFrame(FrameType.PING, HELLO_ID, Buffer.from([0x81])));
    const goaway = await frames.next(f => f.type === FrameType.GOAWAY);
    expect(decodeGoAway(goaway.payload)).toEqual({ code: ErrorCode.PROTOCOL_ERROR, reason: 'malformed HELLO' });
  });
});
