'use strict';
/**
 * Nest's own TCP transport serving the bench Nest app on loopback. `node tcp.js tls <dir>`: the
 * same with `tlsOptions` (key.pem and cert.pem from `dir`, made by ../tls.js); the address it
 * reports then carries the certificate, which the client trusts as its only CA.
 */
require('reflect-metadata');
const { readFileSync } = require('fs');
const { join } = require('path');
const { NestFactory } = require('@nestjs/core');
const { Transport } = require('@nestjs/microservices');
const { serve } = require('./control');
const { BenchModule } = require('./nest-app');

const tlsDir = process.argv[2] === 'tls' ? process.argv[3] : null;

serve(tlsDir ? 'tcp-tls' : 'tcp', async () => {
  const tls = tlsDir ? { key: readFileSync(join(tlsDir, 'key.pem')), cert: readFileSync(join(tlsDir, 'cert.pem'), 'utf8') } : null;
  const app = await NestFactory.createMicroservice(BenchModule, {
    transport: Transport.TCP,
    options: { host: '127.0.0.1', port: 0, ...(tls ? { tlsOptions: tls } : {}) },
    logger: false,
  });
  await app.listen();
  const server = app.unwrap();
  const port = server.address().port;
  return { address: tls ? { port, cert: tls.cert } : port, close: () => app.close() };
});
