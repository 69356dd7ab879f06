'use strict';
// HTTPS and HTTP/2 side by side, in one run: hyper-sse over plaintext HTTP/1.1, TLS
// HTTP/1.1 and h2 (100 streams per connection), against HyperExpress 6.16.2 plaintext
// and with TLS (uWebSockets' SSLApp; it has no h2). Rounds alternate the servers; medians.
//   - fan-out: --clients streams, one event each per --tick ms from a JS loop, a --seconds
//     window: server CPU per delivered event, p99 latency;
//   - idle: --idle streams held open: server RSS per stream.
// A self-signed certificate is made with openssl for the run. Loopback only, bounded.
// Writes bench/TLS.md.
//
//   node bench/tls.js [--rounds 3] [--clients 1000] [--tick 10] [--seconds 5] [--idle 2000]
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { options, startServer, stopServer, median, sseLoad } = require('./lib');

const opt = options({ rounds: 3, clients: 1000, tick: 10, seconds: 5, idle: 2000 });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyper-sse-tls-bench-'));
const KEY = path.join(dir, 'key.pem');
const CERT = path.join(dir, 'cert.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-keyout', KEY, '-out', CERT, '-subj', '/CN=localhost'], { stdio: 'ignore' });
const TLS = { KEY, CERT };

const SERVERS = [
  { name: 'hyper-sse, HTTP/1.1', file: 'sse-hyper-sse.js', env: {}, scheme: 'http', load: [] },
  { name: 'hyper-sse, TLS HTTP/1.1', file: 'sse-hyper-sse.js', env: TLS, scheme: 'https', load: [] },
  { name: 'hyper-sse, h2 (100 streams/conn)', file: 'sse-hyper-sse.js', env: TLS, scheme: 'https', load: ['--h2', '100'] },
  { name: 'hyper-express 6.16.2, HTTP/1.1', file: 'sse-hyper-express.js', env: {}, scheme: 'http', load: [] },
  { name: 'hyper-express 6.16.2, TLS HTTP/1.1', file: 'sse-hyper-express.js', env: TLS, scheme: 'https', load: [] },
];

function sseRun(s, port, pid, extra) {
  return sseLoad(['--url', `${s.scheme}://127.0.0.1:${port}/sse`, '--sources', 4, '--pid', pid, ...s.load, ...extra]);
}

async function main() {
  const cells = new Map(SERVERS.map((s) => [s.name, { cpu: [], p99: [], eps: [], idle: [] }]));
  for (let round = 0; round < opt.rounds; round++) {
    const order = round % 2 ? [...SERVERS].reverse() : SERVERS;
    for (const s of order) {
      const c = cells.get(s.name);
      {
        const { child, port } = await startServer(s.file, { ...s.env, TICK_MS: String(opt.tick) });
        try {
          const r = await sseRun(s, port, child.pid, ['--clients', String(opt.clients), '--duration', String(opt.seconds), '--warmup', '2']);
          c.cpu.push(r.server.cpu_us_per_event);
          c.p99.push(r.latency_ms.p99);
          c.eps.push(r.events_per_s);
        } finally {
          await stopServer(child);
        }
      }
      {
        // Idle: a tick far beyond the window, so the streams only sit there.
        const { child, port } = await startServer(s.file, { ...s.env, TICK_MS: '1000000' });
        try {
          const r = await sseRun(s, port, child.pid, ['--clients', String(opt.idle), '--duration', '2', '--connect-only']);
          c.idle.push(r.server.rss_kib_per_conn);
        } finally {
          await stopServer(child);
        }
      }
      process.stderr.write(`round ${round + 1} ${s.name}: ${c.cpu.at(-1)} us/event, p99 ${c.p99.at(-1)} ms, idle ${c.idle.at(-1)} KiB/stream\n`);
    }
  }
  const m = (name, k) => median(cells.get(name)[k]);
  const plain = SERVERS[0].name;
  const hxTls = SERVERS[4].name;
  const ratio = (x, y) => (Number.isFinite(x) && y > 0 ? `${(x / y).toFixed(2)}x` : '-');
  const lines = [
    '# HTTPS and HTTP/2 (bench/tls.js)',
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${os.cpus().length} x ${os.cpus()[0].model}, Node ${process.version}`,
    `- fan-out: ${opt.clients} streams, one event each per ${opt.tick} ms tick from a JS loop, ${opt.seconds} s window; idle: ${opt.idle} streams held open. ${opt.rounds} rounds alternating the servers, medians.`,
    '- CPU: server process utime+stime per delivered event. Idle: server RSS growth per open stream.',
    '',
    '| server | events/s | CPU µs/event | vs our HTTP/1.1 | vs HyperExpress TLS | p99 ms | idle KiB/stream | vs our HTTP/1.1 |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of SERVERS) {
    lines.push(
      `| ${s.name} | ${Math.round(m(s.name, 'eps'))} | ${m(s.name, 'cpu').toFixed(2)} | ${ratio(m(s.name, 'cpu'), m(plain, 'cpu'))} | ${ratio(m(s.name, 'cpu'), m(hxTls, 'cpu'))} | ${m(s.name, 'p99').toFixed(2)} | ${m(s.name, 'idle').toFixed(1)} | ${ratio(m(s.name, 'idle'), m(plain, 'idle'))} |`,
    );
  }
  const text = lines.join('\n') + '\n';
  fs.writeFileSync(path.join(__dirname, 'TLS.md'), text);
  console.log(text);
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
