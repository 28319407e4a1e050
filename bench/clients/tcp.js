'use strict';
/** Nest TCP client adapter: `ClientTCP`. */
require('reflect-metadata');
const { ClientTCP } = require('@nestjs/microservices');
const { once, count } = require('./nest-common');

async function create(port, payloads) {
  const open = async () => {
    const client = new ClientTCP({ host: '127.0.0.1', port });
    await client.connect();
    return client;
  };
  const client = await open();
  const idle = [];
  const wire = () => {
    const socket = client.socket?.netSocket;
    return socket ? { tx: socket.bytesWritten, rx: socket.bytesRead } : null;
  };
  return {
    echo: key => once(client.send('echo', payloads[key].value)),
    stream: n => count(client.send('range', n)),
    hold: () => once(client.send('hold', 0)),
    wire,
    async connectOnce() {
      const t0 = performance.now();
      const c = new ClientTCP({ host: '127.0.0.1', port });
      await once(c.send('echo', payloads.small.value));
      const ms = performance.now() - t0;
      c.close();
      return ms;
    },
    async openIdle(n) {
      for (let i = 0; i < n; i++) {
        const c = await open();
        await once(c.send('echo', 'x'));
        idle.push(c);
      }
    },
    async closeIdle() {
      for (const c of idle.splice(0)) c.close();
    },
    close: async () => client.close(),
  };
}

module.exports = { create };
