'use strict';
// One table from the four result files `npm run bench` writes: each workload of issue 4
// against its target, as ratios to HyperExpress measured in the same run. Reads
// bench/RESULTS.md, bench/sse-load/RESULTS.md, bench/CONNECTIONS.md and
// bench/INSTRUCTIONS.md (a missing file leaves its rows out); writes bench/SUMMARY.md.
//   node bench/summary.js
const fs = require('fs');
const path = require('path');

/** Markdown table rows under the `## ...` heading that starts with `heading` (or the whole file). */
function rows(file, heading) {
  const full = path.join(__dirname, file);
  if (!fs.existsSync(full)) return [];
  let text = fs.readFileSync(full, 'utf8');
  if (heading) {
    const at = text.indexOf(`## ${heading}`);
    if (at < 0) return [];
    const next = text.indexOf('\n## ', at + 3);
    text = text.slice(at, next < 0 ? undefined : next);
  }
  return text
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| server') && !l.startsWith('|---'))
    .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
}

const num = (s) => Number(String(s).replace(/[^0-9.]/g, ''));
const find = (table, ...keys) => table.find((r) => keys.every((k, i) => k === undefined || r[i] === k));

function main() {
  const out = [];
  const add = (workload, target, ours, base, ratio, met) => out.push({ workload, target, ours, base, ratio, met });
  const hx = 'hyper-express 6.16.2';

  for (const [label, heading] of [['hello world', 'hello world'], ['JSON route', 'JSON route']]) {
    const t = rows('RESULTS.md', heading);
    const a = find(t, 'hyper-sse');
    const b = find(t, hx);
    if (a && b) add(`${label}: req/s (wrk)`, label === 'hello world' ? '≥ 1.0x' : '-', a[1], b[1], a[2], label === 'hello world' ? num(a[2]) >= 1 : undefined);
  }
  const ih = rows('INSTRUCTIONS.md', 'HTTP');
  const ihA = find(ih, 'hyper-sse');
  const ihB = find(ih, hx);
  if (ihA && ihB) add('hello world: instructions/request', '-', ihA[1], ihB[1], ihA[2]);

  const is = rows('INSTRUCTIONS.md', 'SSE fan-out');
  const isB = find(is, hx);
  for (const [name, target, limit] of [['hyper-sse, JS loop', '≤ 0.75x', 0.75], ['hyper-sse, channel', '≤ 0.65x', 0.65]]) {
    const r = find(is, name);
    if (r && isB) add(`fan-out, ${name.split(', ')[1]}: instructions/event`, target, r[3], isB[3], r[4], num(r[4]) <= limit);
  }

  const sse = rows(path.join('sse-load', 'RESULTS.md'), 'Medians');
  const p10 = (name) => find(sse, name, '10');
  if (p10('hyper-sse') && p10('hyper-express')) {
    add('fan-out 1000 × 100/s, JS loop: p99 ms', '≤ 1.0x', p10('hyper-sse')[4], p10('hyper-express')[4], p10('hyper-sse')[5], num(p10('hyper-sse')[5]) <= 1);
    add('fan-out 1000 × 100/s, JS loop: CPU µs/event', '-', p10('hyper-sse')[6], p10('hyper-express')[6], p10('hyper-sse')[7]);
    if (p10('hyper-sse-channel')) add('fan-out 1000 × 100/s, channel: CPU µs/event', '-', p10('hyper-sse-channel')[6], p10('hyper-express')[6], p10('hyper-sse-channel')[7]);
  }
  const p1 = (name) => find(sse, name, '1');
  for (const name of ['hyper-sse', 'hyper-sse-channel']) {
    if (p1(name) && p1('hyper-express')) add(`fan-out at a 1 ms tick, ${name === 'hyper-sse' ? 'JS loop' : 'channel'}: events/s`, '≥ 2x', p1(name)[2], p1('hyper-express')[2], p1(name)[3], num(p1(name)[3]) >= 2);
  }

  const conn = rows('CONNECTIONS.md');
  const cA = find(conn, 'hyper-sse');
  const cB = find(conn, 'hyper-express');
  if (cA && cB) {
    add('19,000 idle SSE connections: RSS KiB/connection', '≤ 1.0x', cA[3], cB[3], cA[4], num(cA[4]) <= 1);
    add('19,000 idle SSE connections: connected', 'all', cA[1], cB[1], '-', num(cA[1]) >= 19000 && num(cA[5]) < 5);
    add('20,000-cycle churn: conn/s', '-', cA[6], cB[6], `${(num(cA[6]) / num(cB[6])).toFixed(2)}x`);
  }

  const lines = [
    '# Summary: the workloads of issue 4 against their targets',
    '',
    `- built: ${new Date().toISOString()} from the result files beside it (see each for its date, method and every row)`,
    '- ratios: hyper-sse to HyperExpress 6.16.2, measured in the same run; instructions are user-space (callgrind), CPU and latency are wall-clock medians',
    '',
    '| workload | target | hyper-sse | HyperExpress | ratio | met? |',
    '|---|---|---:|---:|---:|---|',
    ...out.map((r) => `| ${r.workload} | ${r.target} | ${r.ours} | ${r.base} | ${r.ratio} | ${r.met === undefined ? '' : r.met ? 'yes' : 'no'} |`),
    '',
  ];
  const md = lines.join('\n');
  console.log(md);
  fs.writeFileSync(path.join(__dirname, 'SUMMARY.md'), md);
}

main();
