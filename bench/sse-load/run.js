'use strict';
// Runs sse-load against each SSE bench server (bench/servers/sse-*.js) in a fresh
// process, one scenario after another, and prints a Markdown table (also written to
// bench/sse-load/RESULTS.md). Loopback only, bounded in time. Build the client first:
//   cargo build --release --manifest-path bench/sse-load/Cargo.toml
//   node bench/sse-load/run.js [--clients 1000] [--duration 10] [--warmup 2] [--sources 4]
//        [--ticks 10,1] [--only hyper-sse,hyper-sse-channel,hyper-express,express] [--rounds 1]
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { startServer, stopServer } = require('../lib');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? dflt : args[i + 1];
};
const CLIENTS = Number(opt('clients', 1000));
const DURATION = Number(opt('duration', 10));
const WARMUP = Number(opt('warmup', 2));
const SOURCES = Number(opt('sources', 4));
const ROUNDS = Number(opt('rounds', 1));
const TICKS = opt('ticks', '10,1').split(',').map(Number);
const SERVERS = {
  'hyper-sse': { file: 'sse-hyper-sse.js', env: { MODE: 'loop' } },
  'hyper-sse-channel': { file: 'sse-hyper-sse.js', env: { MODE: 'channel' } },
  'hyper-express': { file: 'sse-hyper-express.js', env: {} },
  express: { file: 'sse-express.js', env: {} },
};
const ONLY = opt('only', Object.keys(SERVERS).join(',')).split(',');
const BIN = path.join(__dirname, 'target', 'release', 'sse-load');

function startNamed(name, tick) {
  const s = SERVERS[name];
  if (!s) throw new Error(`unknown server ${name}`);
  return startServer(s.file, { ...s.env, TICK_MS: String(tick) });
}

function load(port, pid) {
  return new Promise((resolve, reject) => {
    const a = ['--url', `http://127.0.0.1:${port}/sse`, '--clients', CLIENTS, '--duration', DURATION, '--warmup', WARMUP, '--sources', SOURCES, '--pid', pid, '--json'].map(String);
    const child = spawn(BIN, a, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`sse-load exited with ${code}`));
      const lines = out.trim().split('\n');
      process.stderr.write(lines.slice(0, -1).join('\n') + '\n');
      resolve(JSON.parse(lines[lines.length - 1]));
    });
  });
}

async function main() {
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: cargo build --release --manifest-path bench/sse-load/Cargo.toml`);
  const rows = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const tick of TICKS) {
      for (const name of ONLY) {
        process.stderr.write(`\n== ${name}, TICK_MS=${tick}, round ${round + 1}\n`);
        const { child, port } = await startNamed(name, tick);
        try {
          rows.push({ name, tick, r: await load(port, child.pid) });
        } finally {
          await stopServer(child);
        }
      }
    }
  }
  const f = (x, d = 1) => (x === null || x === undefined ? 'n/a' : Number(x).toFixed(d));
  const lines = [
    '# SSE delivery benchmark (sse-load)',
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${os.cpus().length} x ${os.cpus()[0].model}, Node ${process.version}; client and server share the cores`,
    `- ${CLIENTS} clients over ${SOURCES} source addresses, warmup ${WARMUP} s, window ${DURATION} s; one event to every client per tick`,
    '',
    '| server | TICK_MS | connected | events/s | per-client median ev/s | p50 ms | p99 ms | max ms | missing | dups | server CPU % | CPU µs/event | RSS end MiB | client CPU % |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { name, tick, r } of rows) {
    lines.push(
      `| ${name} | ${tick} | ${r.connected}/${r.clients} | ${Math.round(r.events_per_s)} | ${f(r.client_rate.median)} | ${f(r.latency_ms.p50, 2)} | ${f(r.latency_ms.p99, 2)} | ${f(r.latency_ms.max, 1)} | ${r.missing} | ${r.duplicates} | ${f(r.server.cpu_pct)} | ${f(r.server.cpu_us_per_event, 2)} | ${f(r.server.rss_kib_end / 1024)} | ${f(r.client_cpu_pct)} |`,
    );
  }
  lines.push('', ...summary(rows));
  const text = lines.join('\n') + '\n';
  console.log(text);
  fs.writeFileSync(path.join(__dirname, 'RESULTS.md'), text);
}

/** Medians over the rounds, per server and tick, with ratios to HyperExpress. */
function summary(rows) {
  const median = (xs) => {
    const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    return s.length ? s[Math.floor(s.length / 2)] : NaN;
  };
  const out = [
    `## Medians over ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}, ratios to hyper-express`,
    '',
    '| server | TICK_MS | events/s | ratio | p99 ms | ratio | CPU µs/event | ratio |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const tick of TICKS) {
    const of = (name) => {
      const rs = rows.filter((x) => x.name === name && x.tick === tick).map((x) => x.r);
      return { eps: median(rs.map((r) => r.events_per_s)), p99: median(rs.map((r) => r.latency_ms.p99)), cpu: median(rs.map((r) => r.server.cpu_us_per_event)) };
    };
    const base = of('hyper-express');
    const ratio = (x, b) => (Number.isFinite(x) && Number.isFinite(b) && b > 0 ? `${(x / b).toFixed(2)}x` : '-');
    for (const name of ONLY) {
      const m = of(name);
      out.push(`| ${name} | ${tick} | ${Math.round(m.eps)} | ${ratio(m.eps, base.eps)} | ${m.p99.toFixed(2)} | ${ratio(m.p99, base.p99)} | ${m.cpu.toFixed(2)} | ${ratio(m.cpu, base.cpu)} |`);
    }
  }
  return out;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
