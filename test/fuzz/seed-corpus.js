/**
 * Writes seed inputs for frame-decoder.fuzz.js into the corpus folder given (kept if there):
 * valid streams of every frame type, compressed and envelope requests, an oversized header,
 * split headers. Layout of each input: see frame-decoder.fuzz.js.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const { deflateRawSync } = require('zlib');

const p = require(process.env.NESTJS_IROH_FUZZ_PROTOCOL || path.join(__dirname, '.build', 'protocol'));
const dir = process.argv[2];
fs.mkdirSync(dir, { recursive: true });

const T = p.FrameType;
const req = (id, pattern, data, meta) => {
  const body = p.encodeRequestBody(pattern, data, meta);
  return p.encodeFrame(T.REQUEST, id, body.bytes, body.flags);
};
const seeds = {
  request: [req(1, 'sum', [1, 2, 3])],
  requestMeta: [req(2, 'items.create', { name: 'bolt', quantity: 3 }, { trace: 'abc' })],
  binary: [req(3, 'echo', Buffer.from([0, 1, 2, 255]))],
  event: [p.encodeFrame(T.EVENT, 0, p.encodeRequestBody('item.created', { id: 1 }).bytes)],
  compressed: (() => {
    const enc = p.encodeRequestMessage('echo', { rows: Array.from({ length: 100 }, (_, i) => i) }, undefined, 64);
    return [p.encodeFrame(T.REQUEST, 4, enc.bytes, enc.flags)];
  })(),
  envelope: [p.encodeFrame(T.REQUEST, 5, Buffer.from('{"pattern":"sum","data":[1,2]}'), p.FrameFlag.ENVELOPE)],
  replies: [
    p.encodeFrame(T.DATA, 1, Buffer.from('1')),
    p.encodeFrame(T.RESPONSE, 1, Buffer.from('2')),
    p.encodeFrame(T.END, 2),
    p.encodeFrame(T.ERROR, 3, Buffer.from('{"status":"error","message":"x"}')),
  ],
  control: [
    p.encodeFrame(T.PING, 7),
    p.encodeFrame(T.PONG, 7),
    p.encodeFrame(T.CANCEL, 1),
    p.encodeFrame(T.GOAWAY, 0, p.encodeGoAway(1, 'bye')),
  ],
  oversized: [p.encodeFrameHeader(T.REQUEST, 0, 9, 4 * 1024 ** 3), Buffer.alloc(32, 0x61), req(10, 'sum', [1])],
  longVarints: [p.encodeFrameHeader(T.DATA, 0, Number.MAX_SAFE_INTEGER, 3), Buffer.from('abc')],
  zipBomb: [p.encodeFrame(T.REQUEST, 11, deflateRawSync(Buffer.alloc(1 << 20)), p.FrameFlag.COMPRESSED)],
};
let i = 0;
for (const [name, frames] of Object.entries(seeds)) {
  for (const [maxSel, chunks] of [
    [3, []],
    [5, [1, 3]],
    [7, [2]],
  ]) {
    const input = Buffer.concat([Buffer.from([maxSel, chunks.length, ...chunks]), ...frames]);
    fs.writeFileSync(path.join(dir, `seed-${name}-${i++}`), input);
  }
}
console.log(`${i} seed inputs in ${dir}`);
