#!/usr/bin/env node
'use strict';
/**
 * How much the benchmark's payloads shrink, and what that costs, per codec:
 * `node bench/compression-cost.js`. With the binding charging per byte, every byte saved is
 * worth about (writeAll + read) µs/byte from bench/binding-cost.js, twice per round trip.
 */
const zlib = require('zlib');
const { makePayloads } = require('./common');

const payloads = makePayloads();
const inputs = {
  '64 B string (JSON)': Buffer.from(JSON.stringify(payloads.small.value)),
  '16 KiB random ASCII (JSON)': Buffer.from(JSON.stringify(payloads.medium.value)),
  '1 MiB random ASCII (JSON)': Buffer.from(JSON.stringify(payloads.ascii1m.value)),
  '1 MiB JSON records': Buffer.from(JSON.stringify(payloads.json1m.value)),
};

const codecs = {
  'deflateRaw level 1': [b => zlib.deflateRawSync(b, { level: 1 }), b => zlib.inflateRawSync(b)],
  'deflateRaw level 6': [b => zlib.deflateRawSync(b, { level: 6 }), b => zlib.inflateRawSync(b)],
  'brotli q1': [
    b =>
      zlib.brotliCompressSync(b, {
        params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length },
      }),
    b => zlib.brotliDecompressSync(b),
  ],
  'brotli q4': [
    b =>
      zlib.brotliCompressSync(b, {
        params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length },
      }),
    b => zlib.brotliDecompressSync(b),
  ],
  'brotli q6': [
    b =>
      zlib.brotliCompressSync(b, {
        params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 6, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length },
      }),
    b => zlib.brotliDecompressSync(b),
  ],
};

function time(fn, input) {
  fn(input);
  const n = Math.max(3, Math.min(2000, Math.floor(4e6 / input.length)));
  const t = performance.now();
  let out;
  for (let i = 0; i < n; i++) out = fn(input);
  return { ms: (performance.now() - t) / n, out };
}

const f = (n, d = 2) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
console.log('payload                     codec                 size → compressed   ratio  compress ms  decompress ms');
for (const [name, input] of Object.entries(inputs)) {
  const json = time(b => JSON.parse(b.toString()), input);
  const str = time(() => Buffer.from(JSON.stringify(JSON.parse(input.toString()))), input);
  for (const [codec, [compress, decompress]] of Object.entries(codecs)) {
    const c = time(compress, input);
    const d = time(decompress, c.out);
    console.log(
      `${name.padEnd(27)} ${codec.padEnd(20)} ${String(input.length).padStart(8)} → ${String(c.out.length).padStart(8)}  ${f(c.out.length / input.length).padStart(6)}  ${f(c.ms, 3).padStart(11)}  ${f(d.ms, 3).padStart(13)}`,
    );
  }
  console.log(`${''.padEnd(27)} (JSON.parse ${f(json.ms, 3)} ms; parse + stringify + Buffer.from ${f(str.ms, 3)} ms)`);
}
