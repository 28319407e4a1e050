'use strict';
/**
 * nestjs-iroh server: the compiled package (dist/) serving the bench Nest app over loopback;
 * `node iroh.js io` runs its endpoint in an I/O thread (`ioThread: true`).
 */
require('reflect-metadata');
const { NestFactory } = require('@nestjs/core');
const { IrohServer } = require('../iroh-dist');
const { serve } = require('./control');
const { BenchModule } = require('./nest-app');

serve('iroh', async () => {
  const server = new IrohServer({ relayMode: 'disabled', bindAddr: '127.0.0.1:0', ioThread: process.argv[2] === 'io' });
  const app = await NestFactory.createMicroservice(BenchModule, { strategy: server, logger: false });
  await app.listen();
  return { address: server.ticket, close: () => app.close() };
});
