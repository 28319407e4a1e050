'use strict';
/** Nest's gRPC transport (@grpc/grpc-js) serving bench.Bench on loopback. */
require('reflect-metadata');
const { join } = require('path');
const net = require('net');
const { NestFactory } = require('@nestjs/core');
const { Transport } = require('@nestjs/microservices');
const { serve } = require('./control');
const { GrpcBenchModule } = require('./nest-app');

const PROTO = join(__dirname, '..', 'proto', 'bench.proto');

/** A free loopback port (gRPC's Nest transport reports no bound port for port 0). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

serve('grpc', async () => {
  const port = await freePort();
  const app = await NestFactory.createMicroservice(GrpcBenchModule, {
    transport: Transport.GRPC,
    options: {
      package: 'bench',
      protoPath: PROTO,
      url: `127.0.0.1:${port}`,
      maxReceiveMessageLength: 64 * 1024 * 1024,
      maxSendMessageLength: 64 * 1024 * 1024,
    },
    logger: false,
  });
  await app.listen();
  return { address: port, close: () => app.close() };
});
