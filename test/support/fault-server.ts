// A MathModule microservice in its own process, for the network-fault tests and the soak run.
// Env: BIND_ADDR (host:port), KEY_FILE (optional), DRAIN_TIMEOUT (ms, optional).
// Prints `TICKET <ticket>` once listening. Commands, one per line on stdin, each answered by
// one JSON line on stdout:
//   mem      {"mem":{heapUsed,rss,...},"pid":..,"peers":..,"inflight":..,"nest":version} (after a GC when
//            node runs with --expose-gc)
//   restart  closes the server gracefully (drain) and listens again on the same address
//            with the same key: {"restarted":true,"ticket":..,"ms":..}
// Exits when stdin closes, and on SIGTERM after a graceful close.
import 'reflect-metadata';
import { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createInterface } from 'readline';
import { out, packageVersion } from './child-io';
import { IrohServer } from '../../src';
import { MathModule } from './math.app';
import { IO_THREAD_OPTION } from './io-thread-option';

let app: INestMicroservice | null = null;
let server: IrohServer | null = null;

async function start(): Promise<string> {
  server = new IrohServer({
    relayMode: 'disabled',
    ...IO_THREAD_OPTION,
    bindAddr: process.env.BIND_ADDR ?? '127.0.0.1:0',
    secretKeyFile: process.env.KEY_FILE,
    drainTimeout: process.env.DRAIN_TIMEOUT ? Number(process.env.DRAIN_TIMEOUT) : undefined,
  });
  app = await NestFactory.createMicroservice(MathModule, { strategy: server, logger: false });
  await app.listen();
  return server.ticket;
}

async function stop(): Promise<void> {
  const running = app;
  app = null;
  server = null;
  await running?.close();
}

async function command(line: string): Promise<void> {
  switch (line.trim()) {
    case '':
      return;
    case 'mem': {
      (globalThis as any).gc?.();
      out({
        mem: process.memoryUsage(),
        pid: process.pid,
        peers: server?.connectedPeers.length ?? 0,
        inflight: server?.inflightRequests ?? 0,
        nest: packageVersion('@nestjs/core'),
      });
      return;
    }
    case 'restart': {
      const started = Date.now();
      await stop();
      const ticket = await start();
      out({ restarted: true, ticket, ms: Date.now() - started });
      return;
    }
    default:
      out({ error: `unknown command ${line.trim()}` });
  }
}

async function main(): Promise<void> {
  const ticket = await start();
  process.stdout.write(`TICKET ${ticket}\n`);
  // Commands run one after another, so that a restart is never interleaved with another.
  let queue = Promise.resolve();
  const lines = createInterface({ input: process.stdin });
  lines.on('line', line => {
    queue = queue.then(() => command(line)).catch(err => out({ error: String(err?.stack ?? err) }));
  });
  lines.on('close', () => void stop().finally(() => process.exit(0)));
  process.on('SIGTERM', () => void stop().finally(() => process.exit(0)));
}

main().catch(err => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
