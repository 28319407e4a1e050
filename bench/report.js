'use strict';
/**
 * What `bench/run.js` prints and stores besides the raw measurements: ratios to Nest TCP, CPU and
 * wire bytes per operation, the speed targets, and the tables.
 */

function kib(v) {
  return `${v.toFixed(1)} KiB`;
}

function fmt(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "client/server" max event-loop delay, ms. */
function loopMax(r) {
  const c = r.loopDelay?.client?.maxMs;
  const s = r.loopDelay?.server?.maxMs;
  return c == null && s == null ? '—' : `${fmt(c, 0)}/${fmt(s, 0)}`;
}

/** "client/server" longest stall counted in main-thread CPU time, ms (Linux; see loop-delay.js). */
function loopCpuMax(r) {
  const c = r.loopDelay?.client?.cpuMaxMs;
  const s = r.loopDelay?.server?.cpuMaxMs;
  return c == null && s == null ? '—' : `${fmt(c, 0)}/${fmt(s, 0)}`;
}

function loopP99(r) {
  const c = r.loopDelay?.client?.p99Ms;
  const s = r.loopDelay?.server?.p99Ms;
  return c == null && s == null ? '—' : `${fmt(c, 1)}/${fmt(s, 1)}`;
}

function summaryLine(w, r) {
  const loop = `, loop max ${loopMax(r)} ms (on CPU ${loopCpuMax(r)})`;
  if (w.kind === 'connect') return `p50 ${fmt(r.latency.p50, 2)} ms, p99 ${fmt(r.latency.p99, 2)} ms${loop}`;
  const main =
    w.metric === 'mbps' ? `${fmt(r.mbps, 2)} MB/s` : w.metric === 'items' ? `${fmt(r.itemsPerSec)} items/s` : `${fmt(r.rps)} req/s`;
  const busy = r.otherLoadCores > 0.15 ? `, WARNING: other processes used ${fmt(r.otherLoadCores, 2)} cores` : '';
  return `${main}, p50 ${fmt(r.latency.p50, 2)} ms${loop}${r.errors ? `, ${r.errors} errors (${r.lastError})` : ''}${busy}`;
}

/** The number a workload is judged by, higher is better (connect: replies per second of set-up). */
function score(w, r) {
  if (!r) return null;
  if (w.kind === 'connect') return r.latency.p50 ? 1000 / r.latency.p50 : null;
  if (w.metric === 'mbps') return r.mbps;
  if (w.metric === 'items') return r.itemsPerSec;
  return r.rps;
}

function addRatios(results, workloads, transports) {
  for (const w of workloads) {
    const base = score(w, results.tcp?.workloads[w.key]);
    for (const t of transports) {
      const r = results[t.key]?.workloads[w.key];
      if (!r) continue;
      const s = score(w, r);
      r.vsTcp = base && s ? s / base : null;
      const ops = w.kind === 'stream' ? r.units : r.completed;
      r.cpuPerOpUs = r.completed ? (r.clientCpuUs + r.serverCpuUs) / (w.kind === 'stream' ? r.units : r.completed) : null;
      r.clientCpuPerOpUs = ops ? r.clientCpuUs / ops : null;
      r.serverCpuPerOpUs = ops ? r.serverCpuUs / ops : null;
      // The main threads alone (an I/O thread's and the binding's work left out); null off Linux.
      r.clientMainCpuPerOpUs = ops && r.clientMainCpuUs != null ? r.clientMainCpuUs / ops : null;
      r.serverMainCpuPerOpUs = ops && r.serverMainCpuUs != null ? r.serverMainCpuUs / ops : null;
      r.mainCpuPerOpUs =
        r.clientMainCpuPerOpUs != null && r.serverMainCpuPerOpUs != null ? r.clientMainCpuPerOpUs + r.serverMainCpuPerOpUs : null;
      r.wireBytesPerOp = r.wire && r.completed ? (r.wire.tx + r.wire.rx) / r.completed : null;
      r.wirePacketsPerOp =
        r.wire && r.wire.txPackets !== undefined && r.completed ? (r.wire.txPackets + r.wire.rxPackets) / r.completed : null;
    }
  }
}

/**
 * The speed goals, as ratios measured in this run; reported, never asserted. Issue 11's are
 * nestjs-iroh ÷ the raw framed batched stream (the binding's ceiling) and the event-loop stall
 * bound; issue 5's are the earlier goals against Nest TCP.
 */
function targets(results) {
  const get = (t, w) => results[t]?.workloads[w];
  const ratio = (a, b) => (a != null && b ? a / b : null);
  const vsRaw = (w, metric) => ratio(get('iroh', w)?.[metric], get('raw-framed', w)?.[metric]);
  const worstLoop = (w, field) => {
    const d = get('iroh', w)?.loopDelay;
    const values = [d?.client?.[field], d?.server?.[field]].filter(v => v != null);
    return values.length === 2 ? Math.max(...values) : null;
  };
  const list = [
    { issue: 11, name: '64 B @256 req/s vs raw framed', want: '≥ 0.9×', value: vsRaw('echo64@256', 'rps'), ok: v => v >= 0.9, unit: '×' },
    { issue: 11, name: '64 B @16 req/s vs raw framed', want: '≥ 1.0×', value: vsRaw('echo64@16', 'rps'), ok: v => v >= 1.0, unit: '×' },
    {
      issue: 11,
      name: '64 B @1 p50 vs raw framed p50',
      want: '≤ 1.15×',
      value: ratio(get('iroh', 'echo64@1')?.latency.p50, get('raw-framed', 'echo64@1')?.latency.p50),
      ok: v => v <= 1.15,
      unit: '×',
    },
    { issue: 11, name: '16 KiB MB/s vs raw framed', want: '≥ 1.0×', value: vsRaw('echo16k@16', 'mbps'), ok: v => v >= 1.0, unit: '×' },
    { issue: 11, name: '1 MiB ASCII MB/s vs raw framed', want: '≥ 1.3×', value: vsRaw('ascii1m@1', 'mbps'), ok: v => v >= 1.3, unit: '×' },
    { issue: 11, name: '1 MiB JSON MB/s vs raw framed', want: '≥ 4.0×', value: vsRaw('json1m@1', 'mbps'), ok: v => v >= 4.0, unit: '×' },
    {
      issue: 11,
      name: '10,000-item stream items/s vs Nest TCP',
      want: '≥ 1.0×',
      value: ratio(get('iroh', 'stream10k')?.itemsPerSec, get('tcp', 'stream10k')?.itemsPerSec),
      ok: v => v >= 1.0,
      unit: '×',
    },
    {
      issue: 11,
      name: 'new client → first reply p50 vs raw framed',
      want: '≤ 2.0×',
      value: ratio(get('iroh', 'connect')?.latency.p50, get('raw-framed', 'connect')?.latency.p50),
      ok: v => v <= 2.0,
      unit: '×',
    },
    {
      issue: 11,
      name: '1 MiB ASCII: event-loop max, worse process',
      want: '≤ 20 ms',
      value: worstLoop('ascii1m@1', 'maxMs'),
      ok: v => v <= 20,
      unit: ' ms',
    },
    {
      issue: 11,
      name: '1 MiB JSON: event-loop max, worse process',
      want: '≤ 20 ms',
      value: worstLoop('json1m@1', 'maxMs'),
      ok: v => v <= 20,
      unit: ' ms',
    },
    {
      issue: 11,
      name: '1 MiB ASCII: loop held on CPU, worse process',
      want: '≤ 20 ms',
      value: worstLoop('ascii1m@1', 'cpuMaxMs'),
      ok: v => v <= 20,
      unit: ' ms',
    },
    {
      issue: 11,
      name: '1 MiB JSON: loop held on CPU, worse process',
      want: '≤ 20 ms',
      value: worstLoop('json1m@1', 'cpuMaxMs'),
      ok: v => v <= 20,
      unit: ' ms',
    },
    {
      issue: 13,
      name: '64 B @256 req/s, OTel API, no provider vs no API',
      want: '≥ 0.9×',
      value: ratio(get('iroh', 'echo64@256')?.rps, get('iroh-no-otel', 'echo64@256')?.rps),
      ok: v => v >= 0.9,
      unit: '×',
    },
    {
      issue: 13,
      name: '64 B @256 CPU/req, OTel API, no provider vs no API',
      want: '≤ 1.1×',
      value: ratio(get('iroh', 'echo64@256')?.cpuPerOpUs, get('iroh-no-otel', 'echo64@256')?.cpuPerOpUs),
      ok: v => v <= 1.1,
      unit: '×',
    },
    {
      issue: 5,
      name: '64 B @256 req/s vs Nest TCP',
      want: '≥ 1.0×',
      value: ratio(get('iroh', 'echo64@256')?.rps, get('tcp', 'echo64@256')?.rps),
      ok: v => v >= 1.0,
      unit: '×',
    },
    {
      issue: 5,
      name: '64 B @16 req/s vs Nest TCP',
      want: '≥ 0.8×',
      value: ratio(get('iroh', 'echo64@16')?.rps, get('tcp', 'echo64@16')?.rps),
      ok: v => v >= 0.8,
      unit: '×',
    },
    {
      issue: 5,
      name: '1 MiB JSON MB/s vs raw binding (stream per request)',
      want: '≥ 5×',
      value: ratio(get('iroh', 'json1m@1')?.mbps, get('raw-stream', 'json1m@1')?.mbps),
      ok: v => v >= 5,
      unit: '×',
    },
    {
      issue: 5,
      name: 'new client → first reply, p50',
      want: '≤ 15 ms',
      value: get('iroh', 'connect')?.latency.p50 ?? null,
      ok: v => v <= 15,
      unit: ' ms',
    },
  ];
  return list.map(t => ({
    issue: t.issue,
    name: t.name,
    want: t.want,
    value: t.value,
    unit: t.unit.trim(),
    met: t.value == null ? null : t.ok(t.value),
  }));
}

function printTable(results, workloads, transports) {
  const header = [
    'workload',
    'transport',
    'req/s',
    'MB/s',
    'items/s',
    'p50 ms',
    'p99 ms',
    'CPU µs/op c+s',
    'main thread µs/op c+s',
    'vs TCP',
    'wire B/op',
    'loop max c/s',
    'on CPU c/s',
    'loop p99 c/s',
    'other load',
  ];
  const rows = [];
  for (const w of workloads) {
    for (const t of transports) {
      if (t.workloads && !t.workloads.includes(w.key)) continue; // a transport measured in a few cells only
      const r = results[t.key]?.workloads[w.key];
      if (!r) {
        rows.push([w.label, t.label, 'failed', '', '', '', '', '', '', '', '', '', '', '', '']);
        continue;
      }
      rows.push([
        w.label,
        t.label,
        w.kind === 'connect' ? '—' : fmt(r.rps),
        fmt(r.mbps, 2),
        fmt(r.itemsPerSec),
        fmt(r.latency.p50, 2),
        fmt(r.latency.p99, 2),
        r.cpuPerOpUs == null
          ? '—'
          : `${fmt(r.cpuPerOpUs, w.kind === 'stream' ? 2 : 0)} (${fmt(r.clientCpuPerOpUs, w.kind === 'stream' ? 2 : 0)}+${fmt(r.serverCpuPerOpUs, w.kind === 'stream' ? 2 : 0)})`,
        r.mainCpuPerOpUs == null
          ? '—'
          : `${fmt(r.mainCpuPerOpUs, w.kind === 'stream' ? 2 : 0)} (${fmt(r.clientMainCpuPerOpUs, w.kind === 'stream' ? 2 : 0)}+${fmt(r.serverMainCpuPerOpUs, w.kind === 'stream' ? 2 : 0)})`,
        r.vsTcp == null ? '—' : `${fmt(r.vsTcp, 2)}×`,
        fmt(r.wireBytesPerOp),
        loopMax(r),
        loopCpuMax(r),
        loopP99(r),
        r.otherLoadCores == null ? '—' : fmt(r.otherLoadCores, 2),
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => String(r[i]).length)));
  const line = cells => cells.map((c, i) => (i < 2 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  console.log('\n' + line(header));
  console.log(widths.map(w => '-'.repeat(w)).join('  '));
  let last = null;
  for (const r of rows) {
    if (last !== null && r[0] !== last) console.log('');
    last = r[0];
    console.log(line(r));
  }
}

function printMemory(results, transports, config) {
  console.log("\nMemory (after GC; RSS includes the binding's native memory, heap = V8 heap + external):");
  const header = ['transport', 'server/idle conn', 'client/idle conn', 'server/in-flight req', 'client/in-flight req'];
  const rows = transports
    .filter(t => !t.workloads)
    .map(t => {
      const m = results[t.key]?.memory;
      if (!m) return [t.label, '—', '—', '—', '—'];
      const cell = d => `${fmt(d.rssKiB, 1)} RSS / ${fmt(d.heapKiB, 1)} heap`;
      return [
        t.label,
        cell(m.serverPerIdleConnection),
        cell(m.clientPerIdleConnection),
        cell(m.serverPerInflightRequest),
        cell(m.clientPerInflightRequest),
      ];
    });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)));
  const line = cells => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map(w => '-'.repeat(w)).join('  '));
  rows.forEach(r => console.log(line(r)));
  console.log(`(KiB each; ${config.idleConnections} idle connections, ${config.heldRequests} requests held in the handler)`);
}

/**
 * nestjs-iroh with `ioThread` against the default, workload by workload, in this run: speed
 * (the workload's own measure), main-thread CPU per operation, p50, and the longest event-loop
 * stall of either process.
 */
function ioThreadComparison(results, workloads) {
  const rows = [];
  for (const w of workloads) {
    const base = results.iroh?.workloads[w.key];
    const io = results['iroh-io']?.workloads[w.key];
    if (!base || !io) continue;
    const ratio = (a, b) => (a != null && b ? a / b : null);
    const worst = (r, field) => {
      const values = [r.loopDelay?.client?.[field], r.loopDelay?.server?.[field]].filter(v => v != null);
      return values.length ? Math.max(...values) : null;
    };
    rows.push({
      workload: w.key,
      label: w.label,
      speed: ratio(score(w, io), score(w, base)),
      mainCpuPerOpUs: { default: base.mainCpuPerOpUs, ioThread: io.mainCpuPerOpUs },
      mainCpuDivided: ratio(base.mainCpuPerOpUs, io.mainCpuPerOpUs),
      cpuPerOpUs: { default: base.cpuPerOpUs, ioThread: io.cpuPerOpUs },
      p50Ms: { default: base.latency.p50, ioThread: io.latency.p50 },
      loopMaxMs: { default: worst(base, 'maxMs'), ioThread: worst(io, 'maxMs') },
      loopCpuMaxMs: { default: worst(base, 'cpuMaxMs'), ioThread: worst(io, 'cpuMaxMs') },
    });
  }
  return rows;
}

function printIoThreadComparison(rows) {
  if (rows.length === 0) return;
  console.log('\nioThread vs default (this run): speed ratio, main-thread CPU µs/op (both processes), p50, worst loop stall on CPU:');
  const header = [
    'workload',
    'speed io÷default',
    'main µs/op default',
    'main µs/op io',
    'main CPU ÷',
    'all-thread µs/op default',
    'all-thread µs/op io',
    'p50 ms default',
    'p50 ms io',
    'on-CPU stall ms default',
    'on-CPU stall ms io',
  ];
  const digits = r => (r.workload === 'stream10k' ? 2 : 0);
  const table = rows.map(r => [
    r.label,
    r.speed == null ? '—' : `${fmt(r.speed, 2)}×`,
    fmt(r.mainCpuPerOpUs.default, digits(r)),
    fmt(r.mainCpuPerOpUs.ioThread, digits(r)),
    r.mainCpuDivided == null ? '—' : `÷${fmt(r.mainCpuDivided, 1)}`,
    fmt(r.cpuPerOpUs.default, digits(r)),
    fmt(r.cpuPerOpUs.ioThread, digits(r)),
    fmt(r.p50Ms.default, 2),
    fmt(r.p50Ms.ioThread, 2),
    fmt(r.loopCpuMaxMs.default, 0),
    fmt(r.loopCpuMaxMs.ioThread, 0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map(r => String(r[i]).length)));
  const line = cells => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map(w => '-'.repeat(w)).join('  '));
  table.forEach(r => console.log(line(r)));
}

function printTargets(list) {
  console.log('\nTargets (ratios from this run; issue 11, issue 13, then issue 5):');
  for (const t of list) {
    const v = t.value == null ? 'n/a' : `${fmt(t.value, 2)}${t.unit === 'ms' ? ' ms' : '×'}`;
    const status = t.met == null ? '?' : t.met ? 'met' : 'NOT met';
    console.log(`  ${`[${t.issue}]`.padEnd(4)} ${t.name.padEnd(52)} ${v.padStart(9)}  want ${t.want.padEnd(8)} ${status}`);
  }
}

module.exports = {
  kib,
  fmt,
  summaryLine,
  addRatios,
  targets,
  printTable,
  printMemory,
  printTargets,
  ioThreadComparison,
  printIoThreadComparison,
};
