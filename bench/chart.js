'use strict';
/**
 * Renders the benchmark results as a hand-written SVG: per workload, one bar per transport giving
 * its speed relative to Nest TCP on a log scale (bars grow up from 1× when faster, down when slower).
 * Usage as a script: `node bench/chart.js [results.json] [out.svg]`.
 */
const { readFileSync, writeFileSync } = require('fs');
const { join } = require('path');

const COLORS = {
  iroh: '#6d28d9',
  'tcp-tls': '#64748b',
  grpc: '#0284c7',
  'raw-stream': '#d97706',
  'raw-framed': '#059669',
};

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function label(v) {
  if (Math.abs(v - Math.round(v)) < 1e-9 && v >= 1) return String(Math.round(v));
  if (v >= 10) return v.toFixed(0);
  if (v >= 1) return String(Number(v.toFixed(1)));
  return String(Number(v.toFixed(2)));
}

function renderChart(json) {
  const workloads = json.workloads;
  const series = Object.keys(json.transports).filter(k => k !== 'tcp');
  const value = (t, w) => json.results[t]?.workloads?.[w]?.vsTcp ?? null;
  const all = series.flatMap(t => workloads.map(w => value(t, w.key))).filter(v => v != null && v > 0);
  const lo = Math.min(-2, Math.floor(Math.log10(Math.min(...all, 1))));
  const hi = Math.max(1, Math.ceil(Math.log10(Math.max(...all, 1))));

  const W = 1000;
  const H = 460;
  const m = { left: 64, right: 20, top: 100, bottom: 60 };
  const plotW = W - m.left - m.right;
  const plotH = H - m.top - m.bottom;
  const y = v => m.top + ((hi - Math.log10(v)) / (hi - lo)) * plotH;
  const groupW = plotW / workloads.length;
  const barW = Math.min(22, (groupW * 0.8) / series.length);
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(
    `<text x="${m.left}" y="26" font-size="17" font-weight="600" fill="#111">Speed relative to Nest TCP (log scale, higher is better)</text>`,
  );
  const meta = json.meta;
  out.push(
    `<text x="${m.left}" y="46" font-size="11.5" fill="#555">${esc(
      `${meta.mode} run ${meta.date.slice(0, 10)}${meta.commit ? ` at ${meta.commit}` : ''}: ${meta.cpus} CPUs, node ${meta.node}, loopback, server and client in separate processes.`,
    )}</text>`,
  );
  out.push(
    `<text x="${m.left}" y="62" font-size="11.5" fill="#555">${esc(
      "Throughput workloads: req/s, MB/s or items/s ÷ Nest TCP's. New client → 1st reply: Nest TCP's p50 ÷ p50.",
    )}</text>`,
  );
  // Legend.
  let lx = m.left;
  for (const t of series) {
    out.push(`<rect x="${lx}" y="74" width="12" height="12" fill="${COLORS[t] || '#888'}"/>`);
    const text = json.transports[t];
    out.push(`<text x="${lx + 17}" y="84.5" font-size="12" fill="#222">${esc(text)}</text>`);
    lx += 30 + text.length * 6.4;
  }
  out.push(`<line x1="${lx}" y1="80" x2="${lx + 22}" y2="80" stroke="#111" stroke-width="1.5" stroke-dasharray="5 3"/>`);
  out.push(`<text x="${lx + 27}" y="84.5" font-size="12" fill="#222">Nest TCP = 1×</text>`);
  // Grid.
  for (let e = lo; e <= hi; e++) {
    for (const f of [1, 2, 5]) {
      const v = f * 10 ** e;
      if (Math.log10(v) > hi + 1e-9) continue;
      const yy = y(v).toFixed(1);
      const major = f === 1;
      out.push(
        `<line x1="${m.left}" y1="${yy}" x2="${W - m.right}" y2="${yy}" stroke="${major ? '#d4d4d8' : '#f0f0f2'}" stroke-width="1"/>`,
      );
      if (major || hi - lo <= 3) {
        out.push(
          `<text x="${m.left - 8}" y="${(+yy + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="${major ? '#333' : '#888'}">${label(v)}×</text>`,
        );
      }
    }
  }
  // Bars.
  const base = y(1);
  workloads.forEach((w, gi) => {
    const gx = m.left + gi * groupW;
    const start = gx + (groupW - barW * series.length) / 2;
    series.forEach((t, si) => {
      const x = start + si * barW;
      const v = value(t, w.key);
      if (v == null || !(v > 0)) {
        out.push(
          `<text x="${(x + barW / 2).toFixed(1)}" y="${(base - 4).toFixed(1)}" font-size="9" text-anchor="middle" fill="#999">n/a</text>`,
        );
        return;
      }
      const yv = y(Math.min(Math.max(v, 10 ** lo), 10 ** hi));
      const top = Math.min(yv, base);
      const h = Math.max(1, Math.abs(yv - base));
      out.push(
        `<rect x="${(x + 1).toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[t] || '#888'}"><title>${esc(`${json.transports[t]} — ${w.label}: ${label(v)}× Nest TCP`)}</title></rect>`,
      );
      const ty = v >= 1 ? top - 3 : top + h + 10;
      out.push(
        `<text x="${(x + barW / 2).toFixed(1)}" y="${ty.toFixed(1)}" font-size="9" text-anchor="middle" fill="#333">${label(v)}</text>`,
      );
    });
    const lines = w.label.split(/ (?=@)|(?<=→) /);
    lines.forEach((text, i) => {
      out.push(
        `<text x="${(gx + groupW / 2).toFixed(1)}" y="${H - m.bottom + 20 + i * 14}" font-size="12" text-anchor="middle" fill="#222">${esc(text)}</text>`,
      );
    });
  });
  out.push(
    `<line x1="${m.left}" y1="${base.toFixed(1)}" x2="${W - m.right}" y2="${base.toFixed(1)}" stroke="#111" stroke-width="1.5" stroke-dasharray="5 3"/>`,
  );
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${H - m.bottom}" stroke="#888"/>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

module.exports = { renderChart };

if (require.main === module) {
  const input = process.argv[2] || join(__dirname, 'results', 'latest.json');
  const output = process.argv[3] || join(__dirname, 'results', 'chart.svg');
  writeFileSync(output, renderChart(JSON.parse(readFileSync(input, 'utf8'))));
  console.log(`wrote ${output}`);
}
