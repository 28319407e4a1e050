#!/usr/bin/env node
'use strict';
/**
 * `node bench/repeat.js [--rounds=3] [run.js options]`: runs `bench/run.js` several times and
 * prints, per workload and transport, the median of each round's figures, and the median of the
 * per-round ratios to the raw framed baseline (each ratio taken within one round, so that both
 * sides saw the same machine). On a machine shared with other work, one run's ratios move with
 * whatever else ran during each window; medians over rounds move less. Writes
 * bench/results/repeat.json (or --out). Needs dist/ (npm run build).
 */
const { execFileSync } = require('child_process');
const { mkdtempSync, readFileSync, rmSync, writeFileSync } = require('fs');
const { join } = require('path');
const os = require('os');

const args = process.argv.slice(2);
const option = name => args.find(a => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const ROUNDS = Number(option('rounds') ?? 3);
const OUT = option('out') ?? join(__dirname, 'results', 'repeat.json');
const passOn = args.filter(a => !a.startsWith('--rounds=') && !a.startsWith('--out='));
const BASE = 'raw-framed';

const median = values => {
  const v = values.filter(x => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

/** The figure a workload is judged by (higher is better; connect: p50 in ms, lower is better). */
function figure(workload, r) {
  if (workload.metric === 'ms') return r.latency?.p50 ?? null;
  if (workload.metric === 'mbps') return r.mbps;
  if (workload.metric === 'items') return r.itemsPerSec;
  return r.rps;
}

const dir = mkdtempSync(join(os.tmpdir(), 'bench-repeat-'));
const rounds = [];
try {
  for (let i = 0; i < ROUNDS; i++) {
    const out = join(dir, `round-${i}.json`);
    process.stdout.write(`round ${i + 1} of ${ROUNDS}…\n`);
    execFileSync(process.execPath, [join(__dirname, 'run.js'), '--no-memory', ...passOn, `--out=${out}`], { stdio: 'ignore' });
    rounds.push(JSON.parse(readFileSync(out, 'utf8')));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const summary = {};
for (const workload of rounds[0].workloads) {
  const row = (summary[workload.key] = {});
  for (const transport of Object.keys(rounds[0].results)) {
    const cells = rounds.map(r => r.results[transport]?.workloads[workload.key]).filter(Boolean);
    if (cells.length === 0) continue;
    const ratios = rounds.map(r => {
      const own = r.results[transport]?.workloads[workload.key];
      const base = r.results[BASE]?.workloads[workload.key];
      if (!own || !base) return null;
      const a = figure(workload, own);
      const b = figure(workload, base);
      return a && b ? a / b : null;
    });
    row[transport] = {
      figure: median(cells.map(c => figure(workload, c))),
      p50Ms: median(cells.map(c => c.latency?.p50)),
      cpuPerOpUs: median(cells.map(c => c.cpuPerOpUs)),
      wireBytesPerOp: median(cells.map(c => c.wireBytesPerOp)),
      loopMaxMs: median(cells.map(c => Math.max(c.loopDelay?.client?.maxMs ?? 0, c.loopDelay?.server?.maxMs ?? 0))),
      loopCpuMaxMs: median(cells.map(c => Math.max(c.loopDelay?.client?.cpuMaxMs ?? 0, c.loopDelay?.server?.cpuMaxMs ?? 0))),
      otherLoadCores: median(cells.map(c => c.otherLoadCores)),
      ratioToRawFramed: median(ratios),
      ratiosToRawFramed: ratios,
    };
  }
}

const fmt = (v, d = 2) => (v == null ? '—' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
console.log(`\nMedians over ${rounds.length} rounds (ratio: this ÷ ${BASE}, taken within each round; connect: p50 ratio, lower is better)`);
for (const workload of rounds[0].workloads) {
  console.log(`\n${workload.label}`);
  for (const [transport, s] of Object.entries(summary[workload.key])) {
    console.log(
      `  ${transport.padEnd(11)} ${fmt(s.figure).padStart(11)}  ×raw ${fmt(s.ratioToRawFramed).padStart(5)} (${s.ratiosToRawFramed.map(r => fmt(r)).join(', ')})` +
        `  CPU ${fmt(s.cpuPerOpUs, 1)} µs/op  wire ${fmt(s.wireBytesPerOp, 0)} B/op  loop max ${fmt(s.loopMaxMs, 0)} ms (on CPU ${fmt(s.loopCpuMaxMs, 0)})  other load ${fmt(s.otherLoadCores)}`,
    );
  }
}
writeFileSync(
  OUT,
  JSON.stringify(
    { meta: { date: new Date().toISOString(), rounds: rounds.length, args: passOn, node: process.version }, summary },
    null,
    2,
  ) + '\n',
);
console.log(`\nWrote ${OUT}`);
