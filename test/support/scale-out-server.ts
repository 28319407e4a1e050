// One instance of the scale-out tests' service in its own process.
// Env: INSTANCE (its name in replies), KEY_FILE, BIND_ADDR, DRAIN_TIMEOUT (ms).
// Prints `TICKET <ticket>` once listening; SIGTERM closes it gracefully (drain) and exits.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { IrohServer } from '../../src';
import { ScaleOutModule } from './scale-out.app';
import { IO_THREAD_OPTION } from './io-thread-option';

async function main(): Promise<void> {
  const server = new IrohServer({
    relayMode: 'disabled',
    ...IO_THREAD_OPTION,
    bindAddr: process.env.BIND_ADDR ?? '127.0.0.1:0',
    secretKeyFile: process.env.KEY_FILE,
    drainTimeout: process.env.DRAIN_TIMEOUT ? Number(process.env.DRAIN_TIMEOUT) : undefined,
  });
  const app = await NestFactory.createMicroservice(ScaleOutModule, { strategy: server, logger: false });
  await app.listen();
  process.stdout.write(`TICKET ${server.ticket}\n`);
  process.on('SIGTERM', () => {
    process.stdout.write('DRAINING\n');
    void app.close().then(() => process.exit(0));
  });
}

main().catch(err => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
