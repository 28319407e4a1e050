// The server the attack tests aim at: a small Nest app over IrohServer on loopback, in its
// own process so that its memory and event loop are measured apart from the test's.
//
// Env: SERVER_OPTIONS (JSON, merged into the IrohServer options: the limits under test).
// Run with an IPC channel (stdio 'ipc'); prints `TICKET <ticket>` on stdout once listening.
// Messages from the parent, each answered by one message with the same `op`:
//   {op:'stats', reset?:true}  memory, event-loop delay (histogram, and stalls of 200 ms or
//                              more with when they ended), handler counts and the receive
//                              memory held (now and its peak); reset starts the delay
//                              figures and the peaks afresh
//   {op:'gc'}                  a full GC (the process runs with --expose-gc), then stats
//   {op:'close'}               app.close(), then exit
// Handlers:
//   echo   (request)  the data back
//   size   (request)  the data's length (string, bytes or JSON), so large requests get small replies
//   blob   (request)  that many random (incompressible) bytes (data: the size, or {size, ...})
//   stream (request)  {count, size, every}: `count` values of `size` random bytes, one per `every` ms
//   slow   (event)    waits 100 ms; counted, with the most that ran at once
import 'reflect-metadata';
import { Controller, INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { randomBytes } from 'crypto';
import { monitorEventLoopDelay } from 'perf_hooks';
import { Observable, interval, map, take } from 'rxjs';
import { IrohServer, IrohServerOptions } from '../../src';
import { IO_THREAD_OPTION } from './io-thread-option';

/** How long the `slow` event handler takes. */
export const SLOW_EVENT_MS = 100;

const handlers = {
  eventsStarted: 0,
  eventsFinished: 0,
  eventsRunning: 0,
  /** The most `slow` handlers running at once since the last reset. */
  eventsPeak: 0,
  requests: 0,
};

@Controller()
class AttackTargetController {
  @MessagePattern('echo')
  echo(@Payload() data: unknown): unknown {
    handlers.requests++;
    return data;
  }

  @MessagePattern('size')
  size(@Payload() data: unknown): number {
    handlers.requests++;
    if (typeof data === 'string' || Buffer.isBuffer(data)) return data.length;
    return JSON.stringify(data)?.length ?? 0;
  }

  @MessagePattern('blob')
  blob(@Payload() request: number | { size: number }): Buffer {
    handlers.requests++;
    return randomBytes(typeof request === 'number' ? request : request.size);
  }

  @MessagePattern('stream')
  stream(@Payload() { count, size, every }: { count: number; size: number; every?: number }): Observable<Buffer> {
    handlers.requests++;
    return interval(every ?? 10).pipe(
      take(count),
      map(() => randomBytes(size)),
    );
  }

  @EventPattern('slow')
  async slow(@Payload() _data: unknown): Promise<void> {
    handlers.eventsStarted++;
    handlers.eventsRunning++;
    if (handlers.eventsRunning > handlers.eventsPeak) handlers.eventsPeak = handlers.eventsRunning;
    try {
      await new Promise(r => setTimeout(r, SLOW_EVENT_MS));
    } finally {
      handlers.eventsRunning--;
      handlers.eventsFinished++;
    }
  }
}

@Module({ controllers: [AttackTargetController] })
class AttackTargetModule {}

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

/**
 * The event loop's stalls of 200 ms or more since the last reset: when each ended (ms since
 * the reset) and how long it was, so that a block can be placed in the attack's timeline.
 */
const STALL_MS = 200;
const TICK_MS = 50;
let stalls: Array<{ endedAt: number; ms: number }> = [];
let resetAt = Date.now();
let lastTick = Date.now();
/** The most of maxReceiveMemory held at once since the last reset (sampled every tick). */
let receiveMemoryPeak = 0;
setInterval(() => {
  const tick = Date.now();
  const late = tick - lastTick - TICK_MS;
  if (late >= STALL_MS && stalls.length < 100) stalls.push({ endedAt: tick - resetAt, ms: late });
  lastTick = tick;
  receiveMemoryPeak = Math.max(receiveMemoryPeak, server?.receiveMemoryUsed ?? 0);
}, TICK_MS).unref();
let server: IrohServer | null = null;
let app: INestMicroservice | null = null;

function stats(): object {
  const ms = (ns: number) => Math.round(ns / 1e6);
  return {
    pid: process.pid,
    memory: process.memoryUsage(),
    loopDelay: { max: ms(loopDelay.max), p99: ms(loopDelay.percentile(99)), mean: ms(loopDelay.mean) },
    stalls,
    peers: server?.connectedPeers.length ?? 0,
    handlers: { ...handlers },
    receiveMemory: { used: server?.receiveMemoryUsed ?? 0, peak: receiveMemoryPeak },
  };
}

function reset(): void {
  loopDelay.reset();
  stalls = [];
  resetAt = Date.now();
  handlers.eventsPeak = handlers.eventsRunning;
  receiveMemoryPeak = server?.receiveMemoryUsed ?? 0;
}

async function onMessage(message: any): Promise<object> {
  switch (message?.op) {
    case 'stats': {
      const result = stats();
      if (message.reset) reset();
      return result;
    }
    case 'gc':
      (globalThis as any).gc?.();
      return stats();
    case 'close':
      await app?.close();
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown op ${message?.op}`);
  }
}

async function main(): Promise<void> {
  const options: IrohServerOptions = JSON.parse(process.env.SERVER_OPTIONS ?? '{}');
  server = new IrohServer({ relayMode: 'disabled', bindAddr: '127.0.0.1:0', ...IO_THREAD_OPTION, ...options });
  app = await NestFactory.createMicroservice(AttackTargetModule, { strategy: server, logger: false });
  await app.listen();
  process.on('message', (message: any) => {
    onMessage(message).then(
      result => process.send?.({ op: message?.op, ...result }),
      err => process.send?.({ op: message?.op, error: String(err?.stack ?? err) }),
    );
  });
  // The parent gone (test killed): nothing more to serve.
  process.on('disconnect', () => process.exit(0));
  process.stdout.write(`TICKET ${server.ticket}\n`);
}

main().catch(err => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
