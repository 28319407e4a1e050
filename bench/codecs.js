#!/usr/bin/env node
'use strict';
/**
 * Which codec, at which size, and whether a sample can tell that a message will not compress:
 * `node bench/codecs.js [--binding-in=0.12] [--binding-out=0.15] [--measure-binding] [--out=file.json]`.
 *
 * For each payload (the benchmark's, as the JSON text nestjs-iroh sends, plus JSON documents of
 * mid sizes and two incompressible controls), each codec: ratio, compress µs, decompress µs, and
 * the cost of one message one way through the binding, which charges about `in` µs per byte
 * written and `out` µs per byte read:
 *
 *   plain      = size × (in + out)
 *   compressed = compress + compressed size × (in + out) + decompress
 *
 * `--measure-binding` runs bench/binding-cost.js first and takes `in` and `out` from it.
 * Then a sample heuristic: compress a sample (the first 4 KiB, or 8 slices spread over the
 * message) and skip the whole when the sample does not shrink enough. Writes
 * bench/results/codecs.json (or --out).
 */
const zlib = require('zlib');
const { execFileSync } = require('child_process');
const { writeFileSync, mkdirSync } = require('fs');
const { join, dirname } = require('path');
const { makePayloads, jsonDocument, prng } = require('./common');

const args = process.argv.slice(2);
const option = name => {
  const a = args.find(x => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : undefined;
};
const OUT = option('out') ?? join(__dirname, 'results', 'codecs.json');

// ---- the binding's per-byte cost ----------------------------------------------------------

/**
 * From 256 KiB calls (the ~30 µs per call hardly counts): `in`, the sending process's CPU per byte
 * written (all threads); `out`, the receiving process's CPU per byte read (all threads), less the
 * Array → Buffer loop the application adds. CPU rather than the wall time `writeAll` blocks the
 * JS thread: on a loaded machine that wall time also counts the time the process waited for a
 * core (it is reported as `inSyncUsPerByte`).
 */
function measureBinding() {
  const text = execFileSync(process.execPath, [join(__dirname, 'binding-cost.js'), '--json'], { encoding: 'utf8', timeout: 300_000 });
  process.stdout.write(
    text
      .split('\n')
      .filter(l => !l.startsWith('['))
      .join('\n') + '\n',
  );
  const rows = JSON.parse(text.trim().split('\n').pop());
  const big = rows.find(r => r.size === 262144);
  const mid = rows.find(r => r.size === 16384);
  return {
    inUsPerByte: big.senderCpuUsPerWrite / big.size,
    inSyncUsPerByte: big.writeAllSyncUs / big.size,
    inSlopeUsPerByte: (big.senderCpuUsPerWrite - mid.senderCpuUsPerWrite) / (big.size - mid.size),
    outUsPerByte: (big.receiverCpuUsPerKiB - big.receiverFromArrayUsPerKiB) / 1024,
    outWithLoopUsPerByte: big.receiverCpuUsPerKiB / 1024,
    perCallUs: rows.find(r => r.size === 64).senderCpuUsPerWrite,
    rows,
  };
}

// ---- payloads -----------------------------------------------------------------------------

function jsonText(bytes, seed) {
  // The benchmark's document generator (bench/common.js), at this size.
  return Buffer.from(JSON.stringify(jsonDocument(bytes, seed)));
}

function randomBytes(n, seed) {
  const rnd = prng(seed);
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (rnd() * 256) | 0;
  return out;
}

function inputs() {
  const p = makePayloads();
  return [
    { name: '64 B string', bench: true, bytes: Buffer.from(JSON.stringify(p.small.value)) },
    { name: '256 B JSON', bytes: jsonText(256, 11) },
    { name: '1 KiB JSON', bytes: jsonText(1024, 12) },
    { name: '4 KiB JSON', bytes: jsonText(4096, 13) },
    { name: '16 KiB random ASCII', bench: true, bytes: Buffer.from(JSON.stringify(p.medium.value)) },
    { name: '64 KiB JSON', bytes: jsonText(65536, 14) },
    { name: '1 MiB random ASCII', bench: true, bytes: Buffer.from(JSON.stringify(p.ascii1m.value)) },
    { name: '1 MiB JSON', bench: true, bytes: Buffer.from(JSON.stringify(p.json1m.value)) },
    // Controls for the skip heuristic: binary payloads (Buffers travel as raw bytes).
    { name: '64 KiB random bytes', control: true, bytes: randomBytes(65536, 21) },
    { name: '1 MiB random bytes', control: true, bytes: randomBytes(1 << 20, 22) },
    // A JSON header before a base64 blob, and random bytes before JSON: a 4 KiB head sample misleads.
    {
      name: '1 MiB JSON head + base64',
      control: true,
      bytes: Buffer.concat([jsonText(4096, 23), Buffer.from(randomBytes(786432, 24).toString('base64'))]),
    },
    { name: '1 MiB random head + JSON', control: true, bytes: Buffer.concat([randomBytes(8192, 25), jsonText(1040384, 26)]) },
  ];
}

// ---- codecs -------------------------------------------------------------------------------

const { constants: Z } = zlib;
const brotli = (quality, mode) => ({
  name: `brotli q${quality} ${mode === Z.BROTLI_MODE_TEXT ? 'text' : 'generic'}`,
  compress: b =>
    zlib.brotliCompressSync(b, {
      params: { [Z.BROTLI_PARAM_QUALITY]: quality, [Z.BROTLI_PARAM_SIZE_HINT]: b.length, [Z.BROTLI_PARAM_MODE]: mode },
    }),
  decompress: b => zlib.brotliDecompressSync(b),
});
const CODECS = [
  { name: 'deflateRaw level 1', compress: b => zlib.deflateRawSync(b, { level: 1 }), decompress: b => zlib.inflateRawSync(b) },
  ...[1, 2, 3, 4].flatMap(q => [brotli(q, Z.BROTLI_MODE_GENERIC), brotli(q, Z.BROTLI_MODE_TEXT)]),
];

/** Whether two codecs' outputs are the same bytes on every input (brotli's TEXT and GENERIC modes at low quality). */
function sameOutput(a, b, list) {
  return list.every(i => a.compress(i.bytes).equals(b.compress(i.bytes)));
}

/**
 * µs per call: the fastest of 5 batches of about 20 ms each (after a warm-up call). The fastest,
 * not the median: on a shared machine the slower batches measure the other processes.
 */
function time(fn, input) {
  fn(input); // warm-up
  const t = performance.now();
  let out = fn(input);
  const once = Math.max(0.001, performance.now() - t);
  const n = Math.max(1, Math.min(20_000, Math.round(20 / once)));
  const batches = [];
  for (let b = 0; b < 5; b++) {
    const s = performance.now();
    for (let i = 0; i < n; i++) out = fn(input);
    batches.push(((performance.now() - s) * 1000) / n);
  }
  return { us: Math.min(...batches), out };
}

// ---- sample heuristic ---------------------------------------------------------------------

/** The first 4 KiB. */
const headSample = b => b.subarray(0, 4096);

/** 8 slices of `len(size)` bytes each, spread evenly from the first byte to the last. */
const spread = len => b => spreadSample(b, len(b.length));
const SAMPLERS = [
  ['first 4 KiB', headSample],
  ['8 × 512 B spread', spread(() => 512)],
  ['2 % spread', spread(n => Math.max(512, Math.floor(n / 400)))],
];

function spreadSample(b, len) {
  const slices = 8;
  if (len * slices >= b.length) return b;
  const parts = [];
  for (let i = 0; i < slices; i++) {
    const at = Math.floor(((b.length - len) * i) / (slices - 1));
    parts.push(b.subarray(at, at + len));
  }
  return Buffer.concat(parts);
}

// ---- run ----------------------------------------------------------------------------------

const f = (n, d = 1) => (n == null ? '—' : n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));

function main() {
  let binding = { inUsPerByte: Number(option('binding-in') ?? 0.12), outUsPerByte: Number(option('binding-out') ?? 0.15), measured: false };
  if (args.includes('--measure-binding')) binding = { ...measureBinding(), measured: true };
  const perByte = binding.inUsPerByte + binding.outUsPerByte;
  console.log(
    `binding: ${f(binding.inUsPerByte, 3)} µs/byte in (writeAll), ${f(binding.outUsPerByte, 3)} µs/byte out (read)` +
      (binding.measured
        ? ` — measured (CPU, all threads); writeAll wall time ${f(binding.inSyncUsPerByte, 3)} µs/byte, slope 16→256 KiB ${f(binding.inSlopeUsPerByte, 3)}, out with the Array→Buffer loop ${f(binding.outWithLoopUsPerByte, 3)}, a 64 B write ${f(binding.perCallUs, 0)} µs CPU`
        : ' — given'),
  );
  // Warm-up: every codec once on a few sizes, so the first rows do not carry compilation.
  for (const codec of CODECS) for (const input of inputs().slice(0, 5)) codec.decompress(codec.compress(input.bytes));
  const rows = [];
  console.log(
    '\npayload                    codec                    bytes →  compressed   ratio  compress µs  decompress µs   plain µs  compressed µs  saved',
  );
  for (const input of inputs()) {
    const plainUs = input.bytes.length * perByte;
    for (const codec of CODECS) {
      const c = time(codec.compress, input.bytes);
      const d = time(codec.decompress, c.out);
      if (!d.out.equals(input.bytes)) throw new Error(`${codec.name} did not round-trip ${input.name}`);
      const totalUs = c.us + c.out.length * perByte + d.us;
      const row = {
        payload: input.name,
        bench: !!input.bench,
        control: !!input.control,
        codec: codec.name,
        size: input.bytes.length,
        compressed: c.out.length,
        ratio: c.out.length / input.bytes.length,
        compressUs: c.us,
        decompressUs: d.us,
        plainUs,
        compressedUs: totalUs,
      };
      rows.push(row);
      console.log(
        `${input.name.padEnd(26)} ${codec.name.padEnd(20)} ${String(row.size).padStart(9)} → ${String(row.compressed).padStart(10)}  ${f(row.ratio, 3).padStart(6)}  ${f(c.us).padStart(11)}  ${f(d.us).padStart(13)}  ${f(plainUs, 0).padStart(9)}  ${f(totalUs, 0).padStart(13)}  ${(((plainUs - totalUs) / plainUs) * 100).toFixed(0).padStart(4)} %`,
      );
    }
    console.log('');
  }
  const modes = [1, 2, 3, 4].map(q => ({
    quality: q,
    identical: sameOutput(
      CODECS.find(c => c.name === `brotli q${q} text`),
      CODECS.find(c => c.name === `brotli q${q} generic`),
      inputs(),
    ),
  }));
  console.log(
    `brotli BROTLI_MODE_TEXT vs GENERIC, same output bytes on every payload: ${modes.map(m => `q${m.quality} ${m.identical ? 'yes' : 'no'}`).join(', ')}\n`,
  );
  const best = bestPerPayload(rows);
  console.log('Cheapest per payload (one message one way, compress + binding + decompress):');
  for (const b of best)
    console.log(
      `  ${b.payload.padEnd(26)} ${b.codec.padEnd(22)} ${f(b.compressedUs, 0).padStart(8)} µs vs plain ${f(b.plainUs, 0).padStart(8)} µs`,
    );
  const heuristic = sampleHeuristic(rows, perByte);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(
    OUT,
    JSON.stringify(
      { meta: { date: new Date().toISOString(), node: process.version, binding }, rows, best, brotliModes: modes, heuristic },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nWrote ${OUT}`);
}

function bestPerPayload(rows) {
  const by = new Map();
  for (const r of rows) {
    const cur = by.get(r.payload);
    if (!cur || r.compressedUs < cur.compressedUs) by.set(r.payload, r);
  }
  return [...by.values()];
}

/**
 * For each sample strategy and codec of interest: the sample's ratio against the whole's, the
 * sample's cost, and whether "compress when the sample ratio is below T" makes the right call
 * (right = compressing is cheaper than sending plain, by the cost model).
 */
function sampleHeuristic(rows, perByte) {
  const SAMPLE_CODECS = CODECS.filter(c => ['deflateRaw level 1', 'brotli q1 generic'].includes(c.name));
  const THRESHOLDS = [0.9, 0.95];
  const out = [];
  console.log(`\nSample heuristic: compress the sample, skip the message when the sample ratio ≥ T (T = ${THRESHOLDS.join(', ')}).`);
  console.log('"worth it": compressing the whole is cheaper than sending it plain; "whole µs": compressing the whole message.');
  console.log(
    'payload                    codec                sample              sample B  sample µs  whole µs  sample ratio  whole ratio  worth it  decision at T',
  );
  for (const input of inputs().filter(i => i.bytes.length >= 16384)) {
    for (const codec of SAMPLE_CODECS) {
      const whole = rows.find(r => r.payload === input.name && r.codec === codec.name);
      const worth = whole.compressedUs < whole.plainUs;
      for (const [sampleName, sampler] of SAMPLERS) {
        const t = time(b => codec.compress(sampler(b)), input.bytes);
        const sample = sampler(input.bytes);
        const sampleRatio = t.out.length / sample.length;
        const decisions = THRESHOLDS.map(T => ({ threshold: T, compress: sampleRatio < T, right: sampleRatio < T === worth }));
        const row = {
          payload: input.name,
          codec: codec.name,
          sample: sampleName,
          sampleBytes: sample.length,
          sampleUs: t.us,
          sampleRatio,
          wholeRatio: whole.ratio,
          worth,
          decisions,
          sampleShareOfPlain: t.us / (input.bytes.length * perByte),
          wholeCompressUs: whole.compressUs,
        };
        out.push(row);
        const said = decisions.map(d => `${d.compress ? 'compress' : 'skip'}${d.right ? '' : ' WRONG'}`).join(' / ');
        console.log(
          `${input.name.padEnd(26)} ${codec.name.padEnd(20)} ${sampleName.padEnd(18)} ${String(sample.length).padStart(8)}  ${f(t.us).padStart(9)}  ${f(whole.compressUs, 0).padStart(8)}  ${f(sampleRatio, 3).padStart(12)}  ${f(whole.ratio, 3).padStart(11)}  ${(worth ? 'yes' : 'no').padStart(8)}  ${said}`,
        );
      }
    }
  }
  return out;
}

main();
