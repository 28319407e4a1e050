'use strict';
/** nestjs-iroh client adapter: `ClientIroh` from the compiled package (dist/); variant `io` runs it with `ioThread: true`. */
require('reflect-metadata');
const { ClientIroh } = require('../iroh-dist');
const { once, count } = require('./nest-common');

async function create(address, payloads, variant) {
  const LOOPBACK = { relayMode: 'disabled', bindAddr: '127.0.0.1:0', ioThread: variant === 'iroh-io' };
  // Several servers arrive as one comma-separated list of tickets: one client balances over them.
  const tickets = address.split(',');
  const ticket = tickets[0];
  const target = tickets.length > 1 ? { peers: tickets } : { peer: ticket };
  const open = async () => {
    const client = new ClientIroh({ ...LOOPBACK, ...target });
    await client.connect();
    return client;
  };
  const client = await open();
  const idle = [];
  /**
   * The QUIC connection's counters (the client keeps its connection in a private field), read
   * as they are now (with an I/O thread, `stats()` gives the last reading).
   */
  const wire = async () => {
    const connection = client.active?.connection;
    const stats = connection ? await (connection.freshStats?.() ?? connection.stats()) : null;
    return stats ? { tx: stats.udpTxBytes, rx: stats.udpRxBytes, txPackets: stats.udpTxDatagrams, rxPackets: stats.udpRxDatagrams } : null;
  };
  return {
    echo: key => once(client.send('echo', payloads[key].value)),
    stream: n => count(client.send('range', n)),
    hold: () => once(client.send('hold', 0)),
    wire,
    // Each client is closed before the next one starts, as with the other transports and as an
    // application that reconnects does: the port release that close() leaves running in the
    // background (forced collections) falls into the next client's time.
    async connectOnce() {
      const t0 = performance.now();
      const c = new ClientIroh({ ...LOOPBACK, peer: ticket });
      await once(c.send('echo', payloads.small.value)); // send() connects on first use
      const ms = performance.now() - t0;
      await c.close();
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
      await Promise.all(idle.splice(0).map(c => c.close()));
    },
    close: () => client.close(),
  };
}

module.exports = { create };
