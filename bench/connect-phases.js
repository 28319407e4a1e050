#!/usr/bin/env node
'use strict';
/**
 * Where a new client's time to its first reply goes: `node bench/connect-phases.js` (needs dist/).
 * Against a nestjs-iroh server in another process, 12 times: key generation, endpoint bind, QUIC
 * handshake, stream open (with nestjs-iroh's own helpers), then a whole new ClientIroh up to its
 * first reply. Prints the medians. Endpoints are kept referenced until the end (an unreachable
 * Endpoint is collected and takes its connections with it).
 */
require('reflect-metadata');
const { fork } = require('child_process');
const d = require('../dist');
const ep = require('../dist/iroh/endpoint');
const tk = require('../dist/iroh/ticket');
const keys = require('../dist/iroh/keys');
const { ipcClient } = require('./common');
require('@nestjs/common').Logger.overrideLogger(false);
(async () => {
  const s = fork(require('path').join(__dirname, 'servers', 'iroh.js'), [], { execArgv: ['--expose-gc'] });
  const srv = ipcClient(s, 'srv');
  const { address } = await srv.next(m => m.type === 'ready');
  const keep = [];
  const rows = [];
  for (let i = 0; i < 12; i++) {
    const t0 = performance.now();
    keys.generateSecretKey();
    const t1 = performance.now();
    const endpoint = await ep.bindEndpoint({ relayMode: 'disabled', bindAddr: '127.0.0.1:0' });
    const t2 = performance.now();
    const conn = await ep.connectWithTimeout(endpoint, tk.parsePeer(address), ep.alpnBytes(undefined), 10000);
    const t3 = performance.now();
    const bi = await conn.openBi();
    const t4 = performance.now();
    keep.push(endpoint, conn, bi);
    // full ClientIroh
    const c = new d.ClientIroh({ relayMode: 'disabled', bindAddr: '127.0.0.1:0', peer: address });
    const t5 = performance.now();
    await new Promise((res, rej) => c.send('echo', 'x').subscribe({ complete: res, error: rej }));
    const t6 = performance.now();
    keep.push(c);
    rows.push([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t6 - t5]);
  }
  rows.sort((a, b) => a[4] - b[4]);
  const med = k => rows.map(r => r[k]).sort((a, b) => a - b)[rows.length >> 1].toFixed(2);
  console.log('median ms: keygen', med(0), 'bind', med(1), 'connect(handshake)', med(2), 'openBi', med(3), '| ClientIroh new→1st reply', med(4));
  process.exit(0);
})();
