'use strict';
// Connection workloads, side by side, each server in a fresh process:
//   idle:  N idle SSE connections (default 19,000): time to establish, server RSS per
//          connection, server CPU while holding them (no spin).
//   churn: M connect/disconnect cycles (default 20,000; half RST, half FIN) at bounded
//          concurrency: connections/s, server fds and RSS before and after.
// Loopback only, bounded. Writes bench/CONNECTIONS.md.
//   node bench/connections.js [--idle 19000] [--churn 20000] [--only hyper-sse,hyper-express,express]
const { execFile } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { options, startServer, stopServer, cpuTicks, rssKiB, openFds } = require('./lib');

const opt = options({ idle: 19000, churn: 20000, only: 'hyper-sse,hyper-express,express' });
const SERVERS = { 'hyper-sse': 'sse-hyper-sse.js', 'hyper-express': 'sse-hyper-express.js', express: 'sse-express.js' };
const BASELINE = 'hyper-express';
const QUIET = { TICK_MS: '3600000' }; // nothing is sent during these workloads
const LOAD = path.join(__dirname, 'sse-load', 'target', 'release', 'sse-load');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sseLoad(args) {
  return new Promise((resolve, reject) => {
    execFile(LOAD, [...args, '--json'], { maxBuffer: 1 << 24 }, (err, stdout) => {
      if (err) return reject(err);
      const lines = stdout.trim().split('\n');
      resolve(JSON.parse(lines[lines.length - 1]));
    });
  });
}

async function idle(name) {
  const { child, port } = await startServer(SERVERS[name], QUIET);
  try {
    const r = await sseLoad(['--url', `http://127.0.0.1:${port}/sse`, '--clients', String(opt.idle), '--sources', '8', '--duration', '3', '--pid', String(child.pid), '--connect-only']);
    return { connected: r.connected, connect_ms: r.connect_ms, kib_per_conn: r.server.rss_kib_per_conn, cpu_pct: r.server.cpu_pct };
  } finally {
    await stopServer(child);
  }
}

/** One SSE connection: wait for the response head, then leave by RST or FIN. */
function cycle(port, rst) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => resolve(false));
    s.once('data', () => {
      if (rst) s.resetAndDestroy();
      else s.end();
      resolve(true);
    });
    s.write('GET /sse HTTP/1.1\r\nHost: x\r\n\r\n');
  });
}

async function churn(name) {
  const { child, port } = await startServer(SERVERS[name], QUIET);
  try {
    await sleep(300);
    const before = { fds: openFds(child.pid), rss: rssKiB(child.pid) };
    let next = 0;
    let ok = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        while (next < opt.churn) {
          const n = next++;
          if (await cycle(port, n % 2 === 1)) ok++;
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    await sleep(1000); // let the server notice the last disconnects
    const after = { fds: openFds(child.pid), rss: rssKiB(child.pid) };
    return { ok, per_s: ok / seconds, fds_before: before.fds, fds_after: after.fds, rss_before: before.rss, rss_after: after.rss };
  } finally {
    await stopServer(child);
  }
}

async function main() {
  if (!fs.existsSync(LOAD)) throw new Error('build the load client first: cargo build --release --manifest-path bench/sse-load/Cargo.toml');
  const names = opt.only.split(',');
  const results = {};
  for (const name of names) {
    results[name] = { idle: await idle(name), churn: await churn(name) };
    process.stderr.write(`${name}: ${JSON.stringify(results[name])}\n`);
  }
  const base = results[BASELINE];
  const ratio = (v, b) => (b ? `${(v / b).toFixed(2)}x` : '-');
  const lines = [
    '# Connection workloads',
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${os.cpus().length} x ${os.cpus()[0].model}, Node ${process.version}; client and server share the cores`,
    `- idle: ${opt.idle} idle SSE connections over 8 source addresses (sse-load --connect-only), held 3 s; churn: ${opt.churn} connections, 100 at a time, each leaving by RST or FIN (alternately) once its response head arrived`,
    '',
    '| server | idle: connected | time to connect all (ms) | RSS per connection (KiB) | ratio | CPU while holding (%) | churn: conn/s | fds before → after | RSS before → after (MiB) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const name of names) {
    const { idle: i, churn: c } = results[name];
    lines.push(
      `| ${name} | ${i.connected} | ${Math.round(i.connect_ms)} | ${i.kib_per_conn.toFixed(1)} | ${base ? ratio(i.kib_per_conn, base.idle.kib_per_conn) : '-'} | ${i.cpu_pct} | ${Math.round(c.per_s)} | ${c.fds_before} → ${c.fds_after} | ${(c.rss_before / 1024).toFixed(1)} → ${(c.rss_after / 1024).toFixed(1)} |`,
    );
  }
  const text = lines.join('\n') + '\n';
  console.log(text);
  fs.writeFileSync(path.join(__dirname, 'CONNECTIONS.md'), text);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
