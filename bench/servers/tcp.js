'use strict';
/** Nest's own TCP transport serving the bench Nest app on loopback. */
require('reflect-metadata');
const { NestFactory } = require('@nestjs/core');
const { Transport } = require('@nestjs/microservices');
const { serve } = require('./control');
const { BenchModule } = require('./nest-app');

serve('tcp', async () => {
  const app = await NestFactory.createMicroservice(BenchModule, {
    transport: Transport.TCP,
    options: { host: '127.0.0.1', port: 0 },
    logger: false,
  });
  await app.listen();
  const server = app.unwrap();
  return { address: server.address().port, close: () => app.close() };
});
