'use strict';
// Instructions per request and per delivered SSE event, side by side, counted by
// valgrind's callgrind: user-space instructions of the whole server process (every
// thread), repeatable to ~1% whatever else the machine is doing. This is the stable
// efficiency figure here: `perf stat -e instructions` prints "<not supported>" on this
// VM. Kernel work (syscalls, TCP) is not counted; CPU time is in RESULTS.md.
//
// Each server runs under callgrind in a fresh process. HTTP: a warm-up, then the
// counters are zeroed, N more keep-alive requests are made over 50 connections by a client
// in this process (not counted), and the counters are dumped. SSE: 1000 clients
// (bench/sse-load), one event to each per tick; the counters cover the client's
// measured window. callgrind serialises the server's threads, so batching differs
// from a native run: compare the servers with each other, not with RESULTS.md.
// Loopback only, bounded. Writes bench/INSTRUCTIONS.md.
//   node bench/instructions.js [--requests 10000] [--clients 1000] [--tick 200] [--seconds 10]
//                              [--only http,sse]
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { options, startServer, stopServer } = require('./lib');

const opt = options({ requests: 10000, clients: 1000, tick: 200, seconds: 10, only: 'http,sse' });
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'hyper-sse-callgrind-'));
const LOAD = path.join(__dirname, 'sse-load', 'target', 'release', 'sse-load');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const HTTP = {
  'hyper-sse': 'hyper-sse.js',
  'hyper-sse (express API)': 'hyper-sse-express.js',
  'hyper-express 6.16.2': 'hyper-express.js',
  // Express 5 runs ~50x slower under callgrind than natively: left out to keep the run short.
};
const SSE = {
  'hyper-sse, JS loop': { file: 'sse-hyper-sse.js', env: { MODE: 'loop' } },
  'hyper-sse, channel': { file: 'sse-hyper-sse.js', env: { MODE: 'channel' } },
  'hyper-sse, Express res.write': { file: 'sse-hyper-sse.js', env: { MODE: 'express' } },
  'hyper-express 6.16.2': { file: 'sse-hyper-express.js', env: {} },
};
const BASELINE = 'hyper-express 6.16.2';

/** A bench server under callgrind (slow to start: node runs ~50x slower). */
function startUnderCallgrind(file, env) {
  const wrap = ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${OUT}/out.%p`];
  return startServer(file, env, { wrap, timeoutMs: 120000 });
}

const stop = (child) => stopServer(child, 20000);

/** Zeroes callgrind's counters ('zero') or writes them out ('dump'); returns once done. */
function control(pid, command) {
  execFileSync('callgrind_control', [command === 'zero' ? '-z' : '-d', String(pid)], { stdio: 'ignore', timeout: 60000 });
}

/** Instructions in the newest dump of `pid`. */
function lastDump(pid) {
  const dumps = fs.readdirSync(OUT).filter((f) => f.startsWith(`out.${pid}.`));
  dumps.sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  const text = fs.readFileSync(path.join(OUT, dumps[dumps.length - 1]), 'utf8');
  return Number(/^summary: (\d+)/m.exec(text)[1]);
}

/** n keep-alive GETs over `conns` connections, one in flight per connection. */
function requests(port, urlPath, n, conns = 50) {
  return new Promise((resolve, reject) => {
    const req = Buffer.from(`GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n`);
    let sent = 0;
    let done = 0;
    const sockets = [];
    for (let c = 0; c < Math.min(conns, n); c++) {
      const s = net.connect(port, '127.0.0.1');
      sockets.push(s);
      let buf = '';
      const next = () => {
        if (sent < n) {
          sent++;
          s.write(req);
        }
      };
      s.on('connect', next);
      s.on('error', reject);
      s.on('data', (d) => {
        buf += d.toString('latin1');
        for (;;) {
          const h = buf.indexOf('\r\n\r\n');
          if (h < 0) return;
          const m = /content-length: *(\d+)/i.exec(buf.slice(0, h));
          const len = m ? Number(m[1]) : 0;
          if (buf.length < h + 4 + len) return;
          if (!/^HTTP\/1\.1 200/.test(buf)) return reject(new Error(`unexpected answer: ${buf.slice(0, 40)}`));
          buf = buf.slice(h + 4 + len);
          if (++done === n) {
            for (const x of sockets) x.destroy();
            return resolve();
          }
          next();
        }
      });
    }
  });
}

async function http(name, file) {
  const row = { name };
  const { child, port } = await startUnderCallgrind(file, {});
  try {
    for (const [label, urlPath] of [['hello', '/'], ['json', '/json/abc']]) {
      await requests(port, urlPath, opt.requests);
      control(child.pid, 'zero');
      await requests(port, urlPath, opt.requests);
      control(child.pid, 'dump');
      row[label] = lastDump(child.pid) / opt.requests;
    }
  } finally {
    await stop(child);
  }
  return row;
}

async function sse(name, { file, env }) {
  const { child, port } = await startUnderCallgrind(file, { ...env, TICK_MS: String(opt.tick) });
  try {
    const load = spawn(LOAD, ['--url', `http://127.0.0.1:${port}/sse`, '--clients', String(opt.clients), '--sources', '4', '--warmup', '4', '--duration', String(opt.seconds), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    load.stdout.on('data', (d) => (stdout += d));
    load.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise((r) => load.on('exit', r));
    // The client says when its window starts; the counters follow it.
    for (let i = 0; i < 3000 && !/measuring/.test(stderr); i++) await sleep(20);
    if (!/measuring/.test(stderr)) throw new Error(`sse-load never started its window: ${stderr}`);
    control(child.pid, 'zero');
    await sleep(opt.seconds * 1000);
    control(child.pid, 'dump');
    await exited;
    const r = JSON.parse(stdout.trim().split('\n').pop());
    return { name, events: r.events, missing: r.missing, perEvent: lastDump(child.pid) / r.events };
  } finally {
    await stop(child);
  }
}

const fmt = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
const ratio = (x, base) => (Number.isFinite(x) && Number.isFinite(base) ? `${(x / base).toFixed(2)}x` : '-');

async function main() {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    console.error('bench/instructions.js needs valgrind (Debian: apt-get install valgrind); skipped.');
    return;
  }
  const only = opt.only.split(',');
  const lines = [
    '# Instructions per request and per event (callgrind)',
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${os.cpus().length} x ${os.cpus()[0].model}, Node ${process.version}`,
    '- figure: user-space instructions of the whole server process (all threads), counted by valgrind --tool=callgrind; kernel work is not counted. Repeatable to about 1%. `perf stat -e instructions` is not supported on this VM.',
    '- ratios: to HyperExpress 6.16.2 in the same run (lower is better).',
    '',
  ];
  if (only.includes('http')) {
    const rows = [];
    for (const [name, file] of Object.entries(HTTP)) {
      rows.push(await http(name, file));
      console.error(`instructions: ${name} done`);
    }
    const base = rows.find((r) => r.name === BASELINE);
    lines.push(`## HTTP: ${opt.requests} keep-alive requests over 50 connections, after as many of warm-up`, '');
    lines.push('| server | hello: instructions/request | ratio | JSON route: instructions/request | ratio |', '|---|---:|---:|---:|---:|');
    for (const r of rows) lines.push(`| ${r.name} | ${fmt(r.hello)} | ${ratio(r.hello, base.hello)} | ${fmt(r.json)} | ${ratio(r.json, base.json)} |`);
    lines.push('');
  }
  if (only.includes('sse')) {
    const rows = [];
    for (const [name, s] of Object.entries(SSE)) {
      rows.push(await sse(name, s));
      console.error(`instructions: ${name} done`);
    }
    const base = rows.find((r) => r.name === BASELINE);
    lines.push(`## SSE fan-out: ${opt.clients} clients, one event to each every ${opt.tick} ms, ${opt.seconds} s window`, '');
    lines.push('| server | events delivered | missing | instructions/event | ratio |', '|---|---:|---:|---:|---:|');
    for (const r of rows) lines.push(`| ${r.name} | ${r.events} | ${r.missing} | ${fmt(r.perEvent)} | ${ratio(r.perEvent, base.perEvent)} |`);
    lines.push('');
  }
  const md = lines.join('\n');
  console.log(md);
  fs.writeFileSync(path.join(__dirname, 'INSTRUCTIONS.md'), md);
  fs.rmSync(OUT, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
