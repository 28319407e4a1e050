#!/usr/bin/env node
'use strict';
/**
 * What one call into the iroh binding costs, by size: `node bench/binding-cost.js`.
 *
 * A sender process writes `count` arrays of `size` bytes on one stream (`writeAll`, awaited one at
 * a time, arrays built beforehand); a receiver process reads them with `read(256 KiB)` and drops
 * them. Reported per call: the synchronous part of `writeAll` (the JS thread is blocked while the
 * binding copies the Array<number>), the sender's CPU (all threads), the receiver's CPU per byte.
 * Also the cost of the Buffer ↔ Array<number> loops an application needs around them.
 */
const { fork } = require('child_process');
const { bindEndpoint, ALPN, iroh, fromArray, toArray } = require('./raw');

const SIZES = [64, 1024, 16 * 1024, 256 * 1024];
/** An Endpoint that becomes unreachable is collected and its connections die with it: keep them. */
const keep = [];
const BYTES_PER_SIZE = 8 * 1024 * 1024;

async function receiver() {
  const endpoint = await bindEndpoint(ALPN);
  keep.push(endpoint);
  process.send({ ticket: iroh.EndpointTicket.fromAddr(endpoint.addr()).toString() });
  const incoming = await endpoint.acceptNext();
  const connection = await (await incoming.accept()).connect();
  for (;;) {
    let bi;
    try {
      bi = await connection.acceptBi();
    } catch {
      return process.exit(0);
    }
    const cpu0 = process.cpuUsage();
    let bytes = 0;
    let calls = 0;
    let blockedMs = 0;
    for (;;) {
      const chunk = await bi.recv.read(256 * 1024);
      calls++;
      if (chunk.length === 0) break;
      bytes += chunk.length;
      const t = performance.now();
      fromArray(chunk);
      blockedMs += performance.now() - t;
    }
    const cpu = process.cpuUsage(cpu0);
    await bi.send.writeAll([1]);
    await bi.send.finish();
    process.send({ bytes, calls, cpuUs: cpu.user + cpu.system, fromArrayMs: blockedMs });
  }
}

async function sender() {
  const child = fork(__filename, ['--receiver'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  process.on('exit', () => child.kill('SIGKILL'));
  const messages = [];
  let wake = null;
  child.on('message', m => {
    messages.push(m);
    wake?.();
  });
  const next = () => (messages.length ? Promise.resolve(messages.shift()) : new Promise(r => (wake = r)).then(() => messages.shift()));
  const { ticket } = await next();
  const endpoint = await bindEndpoint();
  keep.push(endpoint);
  const connection = await endpoint.connect(iroh.EndpointTicket.fromString(ticket).endpointAddr(), ALPN);
  const rows = [];
  for (const size of SIZES) {
    const count = Math.max(200, Math.floor(BYTES_PER_SIZE / size));
    const buffer = Buffer.alloc(size, 97);
    const arrays = Array.from({ length: Math.min(count, 64) }, () => toArray([buffer], size));
    // Buffer → Array<number> as an application has to do it.
    let t = performance.now();
    for (let i = 0; i < 50; i++) toArray([buffer], size);
    const toArrayUs = ((performance.now() - t) * 1000) / 50;
    const bi = await connection.openBi();
    const cpu0 = process.cpuUsage();
    let syncMs = 0;
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const s = performance.now();
      const p = bi.send.writeAll(arrays[i % arrays.length]);
      syncMs += performance.now() - s;
      await p;
    }
    await bi.send.finish();
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - t0;
    await bi.recv.readToEnd(16);
    const r = await next();
    rows.push({
      size,
      writes: count,
      writeAllSyncUs: (syncMs * 1000) / count,
      senderCpuUsPerWrite: (cpu.user + cpu.system) / count,
      wallUsPerWrite: (wallMs * 1000) / count,
      receiverReads: r.calls,
      receiverCpuUsPerKiB: (r.cpuUs / r.bytes) * 1024,
      receiverFromArrayUsPerKiB: ((r.fromArrayMs * 1000) / r.bytes) * 1024,
      toArrayUs,
      mbps: (count * size) / (wallMs / 1000) / 1e6,
    });
  }
  connection.close(0n, []);
  const f = (n, d = 1) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  console.log(
    'size      writes  writeAll sync µs  sender CPU µs/write  wall µs/write  MB/s   recv CPU µs/KiB  fromArray µs/KiB  toArray µs',
  );
  for (const r of rows) {
    console.log(
      `${String(r.size).padEnd(9)} ${String(r.writes).padStart(6)}  ${f(r.writeAllSyncUs).padStart(16)}  ${f(r.senderCpuUsPerWrite).padStart(19)}  ${f(r.wallUsPerWrite).padStart(13)}  ${f(r.mbps).padStart(5)}  ${f(r.receiverCpuUsPerKiB).padStart(15)}  ${f(r.receiverFromArrayUsPerKiB).padStart(16)}  ${f(r.toArrayUs).padStart(10)}`,
    );
  }
  if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
  process.exit(0);
}

if (process.argv.includes('--receiver')) receiver();
else sender();
