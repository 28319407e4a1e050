// Repeated ClientIroh close()/reconnect in one process (not part of `npm test`):
//   node -r ./test/support/ts-register.js test/soak/close-churn.ts [--cycles 100]
//
// Each cycle sends one request (connecting) and awaits client.close(). Afterwards the
// process should hold no more sockets than before: close() promises to free the endpoint.
// Counts the process's open sockets and its RSS before, right after the cycles, and after a
// forced GC (which shows whether what was held was only waiting for a collection). Prints
// JSON; exits 1 when the closed endpoints' sockets are still open after the last close().
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { readdirSync, readlinkSync } from 'fs';
import { firstValueFrom } from 'rxjs';
import { setFlagsFromString } from 'v8';
import { runInNewContext } from 'vm';
import { ClientIroh, IrohServer } from '../../src';
import { MathModule } from '../support/math.app';

const cyclesArg = process.argv.indexOf('--cycles');
const CYCLES = cyclesArg >= 0 ? Number(process.argv[cyclesArg + 1]) : 100;
/** Sockets a few endpoints in teardown may still hold; more means closed endpoints linger. */
const TOLERANCE = 10;

setFlagsFromString('--expose-gc');
const gc: () => void = runInNewContext('gc');

function openSockets(): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) count++;
    } catch {
      // Closed meanwhile.
    }
  }
  return count;
}

const rssMiB = () => Math.round(process.memoryUsage().rss / 2 ** 20);

async function main(): Promise<number> {
  const server = new IrohServer({ relayMode: 'disabled', bindAddr: '127.0.0.1:0' });
  const app = await NestFactory.createMicroservice(MathModule, { strategy: server, logger: false });
  await app.listen();
  // releasePortOnClose: close() itself frees the endpoint's socket (forced collections); without it a
  // port-0 client's socket goes at the process's next full collection.
  const client = new ClientIroh({ relayMode: 'disabled', bindAddr: '127.0.0.1:0', peer: server.ticket, releasePortOnClose: true });
  const before = { sockets: openSockets(), rssMiB: rssMiB() };
  const started = Date.now();
  for (let i = 0; i < CYCLES; i++) {
    const value = await firstValueFrom(client.send('sum', [i, 1]));
    if (value !== i + 1) throw new Error(`cycle ${i}: wrong sum ${value}`);
    await client.close();
  }
  const cyclesMs = Date.now() - started;
  const afterCloses = { sockets: openSockets(), rssMiB: rssMiB() };
  for (let i = 0; i < 5; i++) {
    await new Promise(resolve => setTimeout(resolve, 200));
    gc();
  }
  const afterGc = { sockets: openSockets(), rssMiB: rssMiB() };
  await app.close();
  const held = afterCloses.sockets - before.sockets;
  const summary = {
    ok: held <= TOLERANCE,
    cycles: CYCLES,
    msPerCycle: Math.round((cyclesMs / CYCLES) * 10) / 10,
    before,
    afterCloses,
    afterGc,
    socketsHeldAfterClose: held,
    note:
      held > TOLERANCE
        ? 'close() returned but the closed endpoints kept their sockets (and native memory) until a GC'
        : 'close() released each endpoint',
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  return summary.ok ? 0 : 1;
}

main().then(
  code => process.exit(code),
  err => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    process.exit(2);
  },
);
