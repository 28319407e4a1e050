// A MathModule microservice in its own process, for tests that kill and restart servers.
// Env: KEY_FILE, BIND_ADDR. Prints `TICKET <ticket>` once listening.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { IrohServer } from '../../src';
import { MathModule } from './math.app';
import { IO_THREAD_OPTION } from './io-thread-option';

async function main(): Promise<void> {
  const server = new IrohServer({
    relayMode: 'disabled',
    ...IO_THREAD_OPTION,
    bindAddr: process.env.BIND_ADDR ?? '127.0.0.1:0',
    secretKeyFile: process.env.KEY_FILE,
  });
  const app = await NestFactory.createMicroservice(MathModule, { strategy: server, logger: false });
  await app.listen();
  process.stdout.write(`TICKET ${server.ticket}\n`);
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

main().catch(err => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
