// A server and a client, both with `ioThread`, that call process.exit() while requests (large
// and small) are on their way. The exit must not abort: the binding's calls under way in the
// I/O thread settle first. Prints `exiting` just before the exit.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { lastValueFrom } from 'rxjs';
import { ClientIroh, IrohServer } from '../../src';
import { MathModule } from './math.app';

async function main(): Promise<void> {
  const endpoint = { relayMode: 'disabled' as const, bindAddr: '127.0.0.1:0', ioThread: true };
  const server = new IrohServer(endpoint);
  const app = await NestFactory.createMicroservice(MathModule, { strategy: server, logger: false });
  await app.listen();
  const client = new ClientIroh({ ...endpoint, peer: server.ticket });
  await client.connect();
  const large = 'x'.repeat(300_000);
  for (let i = 0; i < 16; i++) {
    void (async () => {
      for (;;) await lastValueFrom(client.send('echo', i % 2 ? large : 'small'));
    })().catch(() => undefined);
  }
  setTimeout(() => {
    process.stdout.write('exiting\n');
    process.exit(0);
  }, 400);
}

void main();
