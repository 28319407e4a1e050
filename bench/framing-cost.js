#!/usr/bin/env node
'use strict';
/**
 * `node bench/framing-cost.js` (needs dist/): what framing costs the calling thread per 64 B
 * message, against what handing messages to and from an I/O thread costs, to decide where
 * framing runs with `ioThread`. With framing on the calling thread, a batch of frames crosses as
 * one transferred ArrayBuffer; with framing in the I/O thread, each frame would cross as an
 * object (structured clone) and still be built or read on the calling thread.
 */
const { MessageChannel } = require('worker_threads');
const { FrameDecoder, FrameType, FrameWriter, encodeFrame } = require('../dist/protocol');

const FRAMES = 256;
const ROUNDS = 400;
const payload = Buffer.alloc(74, 120); // a 64-character string as JSON, with its pattern
const chunk = Buffer.concat(Array.from({ length: FRAMES }, (_, i) => encodeFrame(FrameType.REQUEST, i + 1, payload)));

function perMessageNs(run) {
  for (let i = 0; i < 50; i++) run();
  const t = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) run();
  return Number(process.hrtime.bigint() - t) / (ROUNDS * FRAMES);
}

const decoder = new FrameDecoder(1 << 20, {
  onFrame: () => undefined,
  onOversized: () => undefined,
  onError: e => {
    throw e;
  },
});
const decode = perMessageNs(() => decoder.push(chunk));

let flush = null;
const writer = new FrameWriter(
  async () => undefined,
  () => undefined,
  { maxBatchBytes: 1 << 20, splitBurstBytes: 0, schedule: f => (flush = f) },
);
const encode = perMessageNs(() => {
  for (let i = 0; i < FRAMES; i++) writer.write(FrameType.RESPONSE, i + 1, payload);
  const f = flush;
  flush = null;
  f?.();
});

const { port1, port2 } = new MessageChannel();
port2.on('message', () => undefined);
const frames = Array.from({ length: FRAMES }, (_, i) => ({
  type: FrameType.REQUEST,
  id: i + 1,
  flags: 0,
  payload: new Uint8Array(payload),
}));
const postFrames = perMessageNs(() => port1.postMessage(frames));
const postBytes = perMessageNs(() => {
  const bytes = new Uint8Array(chunk.length);
  bytes.set(chunk);
  port1.postMessage(bytes.buffer, [bytes.buffer]);
});
port1.close();

const ns = v => Math.round(v);
console.log('ns per 64 B message on the calling thread (batches of 256):');
console.log(`  decode frames from bytes            ${ns(decode)}`);
console.log(`  encode frames into a write batch    ${ns(encode)}`);
console.log(`  post the batch as one ArrayBuffer   ${ns(postBytes)}  (framing here, bytes cross)`);
console.log(
  `  post the frames as objects          ${ns(postFrames)}  (framing in the I/O thread, frames cross; receiving them costs as much again)`,
);
