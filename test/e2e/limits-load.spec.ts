/**
 * The limits that keep one peer from taking the server's memory or everyone else's time, end
 * to end against a real server: events admitted like requests (the stream waits, nothing is
 * lost), the receive-memory budget, the bad-message budget of a connection over all its
 * streams, the connection rate per source address, and large compressed requests inflated
 * asynchronously without losing their order or their deadline.
 */
import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { Observable, timer } from 'rxjs';
import { deflateRawSync } from 'zlib';
import { ErrorCode, Frame, FrameFlag, FrameType, encodeFrame, encodeFrameHeader, encodeRequestBody } from '../../src/protocol';
import { call, eventually, irohClient, startIrohServer } from '../support/harness';
import { RawPeer, closedBy, event, readFrames, request, send, summary, watchFrames } from '../support/raw-peer';

jest.setTimeout(60_000);

const MiB = 1024 * 1024;

const seen = { running: 0, peak: 0, handled: 0, order: [] as number[] };

@Controller()
class LoadController {
  @EventPattern('slow')
  async slow(@Payload() n: number): Promise<void> {
    seen.running++;
    seen.peak = Math.max(seen.peak, seen.running);
    await new Promise(r => setTimeout(r, 30));
    seen.running--;
    seen.handled++;
    seen.order.push(n);
  }

  /** An event whose handler returns an Observable: it counts until the Observable completes. */
  @EventPattern('slow.stream')
  slowStream(@Payload() _n: number): Observable<number> {
    seen.running++;
    seen.peak = Math.max(seen.peak, seen.running);
    return new Observable<number>(subscriber => {
      const t = timer(30).subscribe(() => {
        seen.running--;
        seen.handled++;
        subscriber.complete();
      });
      return () => t.unsubscribe();
    });
  }

  @MessagePattern('echo')
  echo(@Payload() data: unknown): unknown {
    return data;
  }

  @MessagePattern('length')
  length(@Payload() data: string): number {
    return data.length;
  }
}

@Module({ controllers: [LoadController] })
class LoadModule {}

function errorOf(frame: Frame): { code: string; message: string } {
  return JSON.parse(frame.payload.toString('utf8'));
}

describe('limits under load', () => {
  let peer: RawPeer;

  beforeAll(async () => {
    peer = await RawPeer.bind();
  });
  afterAll(() => peer.close());
  beforeEach(() => {
    Object.assign(seen, { running: 0, peak: 0, handled: 0, order: [] });
  });
  afterEach(() => peer.dropAll());

  it('maxConcurrentEvents: events past it wait (the stream behind them too), none is lost, Observables count until they complete', async () => {
    const running = await startIrohServer(LoadModule, { maxConcurrentEvents: 3 });
    try {
      const connection = await peer.connect(running.ticket);
      const bi = await connection.openBi();
      const events = Array.from({ length: 30 }, (_, i) => (i % 2 ? event('slow', i) : event('slow.stream', i)));
      await send(bi, ...events, request(1, 'echo', 'after the events'));
      const received = await readFrames(bi, 10_000, frames => frames.length > 0);
      expect(summary(received.frames)).toEqual([['RESPONSE', 1, '"after the events"']]);
      // The request came after the events on the stream: it was answered once the last event started.
      expect(seen.handled).toBeGreaterThanOrEqual(30 - 3);
      await eventually(() => seen.handled === 30, 5000, 'every event handled');
      expect(seen.peak).toBeLessThanOrEqual(3);
    } finally {
      await running.app.close();
    }
  });

  it('maxReceiveMemory: a large message the memory cannot hold is refused from its header; the stream carries on', async () => {
    const running = await startIrohServer(LoadModule, { maxReceiveMemory: MiB });
    try {
      const holder = await peer.connect(running.ticket);
      const holding = await holder.openBi();
      // Holds 768 KiB of the budget with a request it sends only part of.
      await send(holding, encodeFrameHeader(FrameType.REQUEST, 0, 1, 768 * 1024), Buffer.alloc(1000));
      await eventually(() => running.server.receiveMemoryUsed >= 768 * 1024, 5000, 'the first reservation');

      const connection = await peer.connect(running.ticket);
      const bi = await connection.openBi();
      const body = encodeRequestBody('length', 'x'.repeat(512 * 1024), undefined).bytes;
      const watch = watchFrames(bi);
      await send(bi, encodeFrameHeader(FrameType.REQUEST, 0, 2, body.length), body.subarray(0, 1000));
      const refusal = await watch.next(f => f.id === 2);
      expect(FrameType[refusal.type]).toBe('ERROR');
      expect(errorOf(refusal)).toEqual({ status: 'error', code: 'LIMIT_EXCEEDED', message: expect.stringContaining('maxReceiveMemory') });
      // The rest of its payload is skipped; the next request on the stream is answered, and
      // small messages of other clients never need the budget.
      await send(bi, body.subarray(1000), request(3, 'length', 'small'));
      const answer = await watch.next(f => f.id === 3);
      expect(summary([answer])).toEqual([['RESPONSE', 3, '5']]);
      const client = irohClient(running.ticket);
      try {
        await expect(call(client, 'echo', 'still served')).resolves.toBe('still served');
      } finally {
        await client.close();
      }
      peer.drop(holder);
      await eventually(() => running.server.receiveMemoryUsed === 0, 5000, 'the budget given back');
    } finally {
      await running.app.close();
    }
  });

  it('the bad-message budget belongs to the connection: spread over fresh streams, it still runs out', async () => {
    const running = await startIrohServer(LoadModule);
    try {
      const connection = await peer.connect(running.ticket);
      const corrupt = encodeFrame(FrameType.REQUEST, 1, Buffer.from([1, 2, 3, 4, 5, 6]), FrameFlag.COMPRESSED);
      for (let s = 0; s < 3; s++) {
        const bi = await connection.openBi();
        const frames = Array.from({ length: 12 }, (_, i) => Buffer.from(corrupt.map((b, j) => (j === 2 ? i + 1 : b))));
        await send(bi, ...frames).catch(() => undefined);
        await bi.send.finish().catch(() => undefined);
      }
      const closed = await closedBy(connection, 10_000);
      expect(closed.code).toBe(ErrorCode.PROTOCOL_ERROR);
      expect(closed.reason).toContain('more than 32 malformed or oversized messages on this connection');
    } finally {
      await running.app.close();
    }
  });

  it('maxConnectionRatePerAddress: connections past the rate are refused before their handshake', async () => {
    const running = await startIrohServer(LoadModule, { maxConnectionRatePerAddress: 1 });
    try {
      const outcomes: string[] = [];
      for (let i = 0; i < 5; i++) {
        try {
          await peer.connect(running.ticket);
          outcomes.push('connected');
        } catch (err) {
          outcomes.push(/refused/.test(String(err)) ? 'refused' : String(err));
        }
      }
      // A burst of twice the rate gets in; the rest are refused.
      expect(outcomes.filter(o => o === 'connected').length).toBeLessThanOrEqual(2);
      expect(outcomes.filter(o => o === 'refused').length).toBeGreaterThanOrEqual(3);
      expect(outcomes.every(o => o === 'connected' || o === 'refused')).toBe(true);
    } finally {
      await running.app.close();
    }
  });

  it('inflates large compressed requests asynchronously, keeping the order of the stream and the deadline', async () => {
    const running = await startIrohServer(LoadModule);
    try {
      const connection = await peer.connect(running.ticket);
      const bi = await connection.openBi();
      const big = 'y'.repeat(4 * MiB);
      const compressed = deflateRawSync(encodeRequestBody('length', big, undefined).bytes);
      // DEADLINE: the varint of the caller's remaining time stays outside the compressed bytes.
      const withDeadline = Buffer.concat([Buffer.from([0xe8, 0x07]), compressed]);
      await send(
        bi,
        encodeFrame(FrameType.REQUEST, 1, compressed, FrameFlag.COMPRESSED),
        request(2, 'echo', 'small, after it'),
        encodeFrame(FrameType.REQUEST, 3, withDeadline, FrameFlag.COMPRESSED | FrameFlag.DEADLINE),
      );
      await bi.send.finish();
      const received = await readFrames(bi, 15_000);
      expect(received.end).toBe('finished');
      expect(summary(received.frames)).toEqual([
        ['RESPONSE', 1, String(big.length)],
        ['RESPONSE', 2, '"small, after it"'],
        ['RESPONSE', 3, String(big.length)],
      ]);
    } finally {
      await running.app.close();
    }
  });
});
