'use strict';
/** Nest gRPC client adapter: `ClientGrpcProxy` on bench.Bench. */
require('reflect-metadata');
const { join } = require('path');
const { ClientGrpcProxy } = require('@nestjs/microservices');
const { once, count } = require('./nest-common');

const PROTO = join(__dirname, '..', 'proto', 'bench.proto');

function grpcClient(port, fresh) {
  return new ClientGrpcProxy({
    package: 'bench',
    protoPath: PROTO,
    url: `127.0.0.1:${port}`,
    maxReceiveMessageLength: 64 * 1024 * 1024,
    maxSendMessageLength: 64 * 1024 * 1024,
    // grpc-js shares connections between clients of the same target; a local pool makes a new one.
    channelOptions: fresh ? { 'grpc.use_local_subchannel_pool': 1 } : {},
  });
}

async function create(port, payloads) {
  const client = grpcClient(port, false);
  const svc = client.getService('Bench');
  const blobs = {
    small: { data: payloads.small.value },
    medium: { data: payloads.medium.value },
    ascii1m: { data: payloads.ascii1m.value },
  };
  const idle = [];
  const openFresh = async () => {
    const c = grpcClient(port, true);
    const s = c.getService('Bench');
    await once(s.echo({ data: 'x' }));
    return c;
  };
  await once(svc.echo({ data: 'x' }));
  return {
    echo: key => (key === 'json1m' ? once(svc.echoDoc(payloads.json1m.value)) : once(svc.echo(blobs[key]))),
    stream: n => count(svc.range({ n })),
    hold: () => once(svc.hold({ data: '' })),
    wire: () => null,
    async connectOnce() {
      const t0 = performance.now();
      const c = grpcClient(port, true);
      await once(c.getService('Bench').echo(blobs.small));
      const ms = performance.now() - t0;
      c.close();
      return ms;
    },
    async openIdle(n) {
      for (let i = 0; i < n; i++) idle.push(await openFresh());
    },
    async closeIdle() {
      for (const c of idle.splice(0)) c.close();
    },
    close: async () => client.close(),
  };
}

module.exports = { create };
