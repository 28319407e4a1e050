'use strict';
/**
 * Nest TCP client adapter: `ClientTCP`. Given `{ port, cert }` (the TLS server), it connects with
 * `tlsOptions` trusting only that certificate.
 */
require('reflect-metadata');
const { ClientTCP } = require('@nestjs/microservices');
const { once, count } = require('./nest-common');

async function create(address, payloads) {
  const port = typeof address === 'number' ? address : address.port;
  const options = { host: '127.0.0.1', port, ...(address.cert ? { tlsOptions: { ca: [address.cert] } } : {}) };
  const open = async () => {
    const client = new ClientTCP(options);
    await client.connect();
    return client;
  };
  const client = await open();
  const idle = [];
  /**
   * Bytes on the TCP socket. A TLS socket counts plaintext; its TCP handle (under the TLS handle)
   * counts what went over the wire: records, their headers and tags.
   */
  const wire = () => {
    const socket = client.socket?.netSocket;
    if (!socket) return null;
    const tcp = socket._handle?._parent;
    if (tcp && typeof tcp.bytesWritten === 'number') return { tx: tcp.bytesWritten, rx: tcp.bytesRead };
    return { tx: socket.bytesWritten, rx: socket.bytesRead };
  };
  return {
    echo: key => once(client.send('echo', payloads[key].value)),
    stream: n => count(client.send('range', n)),
    hold: () => once(client.send('hold', 0)),
    wire,
    async connectOnce() {
      const t0 = performance.now();
      const c = new ClientTCP(options);
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
