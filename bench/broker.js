'use strict';
// Channels over Redis against a local channel, same run (issue 15). Servers:
//   - local channel: one process, channel.publish per tick, no Redis;
//   - Redis, 1 process: the same process, its channel shared through Redis;
//   - Redis, 2 processes: two processes on one port (reuse_port) sharing the channel;
//     one publishes, both deliver (the clients are spread over both by the kernel).
// Loads: a tick of 10 ms (100 events/s to every client: the p99 target) and of 1 ms
// (saturation). Rounds alternate the servers; medians, and each round's CPU ratio to the
// local channel's in that round (the machine's drift between rounds cancels out).
//   - CPU: utime+stime of every server process per delivered event (sse-load --also-pid);
//     Redis's own CPU is given apart, as % of one core over the run.
//   - p99: publish-to-receive (the payload's timestamp is taken at publish).
//   - Redis commands per publish: INFO commandstats deltas (commands run inside the Lua
//     script count too) over the publishes (the EVALSHA/EVAL calls).
// A redis-server is started here on 127.0.0.1 (persistence off) and stopped after.
//
//   node bench/broker.js [--rounds 3] [--clients 1000] [--seconds 5] [--ticks 10,1] [--out BROKER.md]
// Writes bench/<out>.
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { options, startServer, stopServer, cpuTicks, median, sseLoad } = require('./lib');

const opt = options({ rounds: 3, clients: 1000, seconds: 5, ticks: '10,1', out: 'BROKER.md' });
const TICKS = String(opt.ticks).split(',').map(Number);
const HZ = 100; // clock ticks per second (/proc/<pid>/stat)

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    try {
      execFileSync('redis-cli', ['-p', String(port), 'PING'], { stdio: 'pipe' });
      return { child, port, url: `redis://127.0.0.1:${port}/` };
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error('redis-server did not start');
}

/** Calls per command since the last CONFIG RESETSTAT. */
function commandStats(port) {
  const text = execFileSync('redis-cli', ['-p', String(port), 'INFO', 'commandstats'], { encoding: 'utf8' });
  const calls = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]] = Number(m[2]);
  return calls;
}

const SERVERS = [
  { name: 'local channel, 1 process', processes: 1, broker: false },
  { name: 'Redis, 1 process', processes: 1, broker: true },
  { name: 'Redis, 2 processes', processes: 2, broker: true },
];

async function runOne(s, tick, redis) {
  const env = { MODE: 'channel', TICK_MS: String(tick), ...(s.broker ? { BROKER: redis.url } : {}), ...(s.processes > 1 ? { REUSE_PORT: '1' } : {}) };
  const first = await startServer('sse-hyper-sse.js', env);
  const children = [first.child];
  try {
    for (let i = 1; i < s.processes; i++) children.push((await startServer('sse-hyper-sse.js', { ...env, PORT: String(first.port), PUBLISH: '0' })).child);
    execFileSync('redis-cli', ['-p', String(redis.port), 'CONFIG', 'RESETSTAT'], { stdio: 'ignore' });
    const redisCpu0 = cpuTicks(redis.child.pid);
    const t0 = Date.now();
    const r = await sseLoad([
      '--url', `http://127.0.0.1:${first.port}/sse`, '--clients', opt.clients, '--duration', opt.seconds, '--warmup', 2, '--sources', 4,
      '--pid', first.child.pid, ...children.slice(1).flatMap((c) => ['--also-pid', c.pid]),
    ]);
    const redisCpuPct = ((cpuTicks(redis.child.pid) - redisCpu0) / HZ / ((Date.now() - t0) / 1000)) * 100;
    const calls = commandStats(redis.port);
    const publishes = (calls.evalsha || 0) + (calls.eval || 0);
    const total = Object.entries(calls).filter(([k]) => k !== 'info' && k !== 'config|resetstat' && k !== 'config').reduce((a, [, v]) => a + v, 0);
    return {
      eps: r.events_per_s, cpu: r.server.cpu_us_per_event, p99: r.latency_ms.p99, p50: r.latency_ms.p50,
      missing: r.missing, dups: r.duplicates, connected: r.connected,
      redisCpuPct: s.broker ? redisCpuPct : NaN, perPublish: publishes ? total / publishes : NaN,
      // Commands the server sent (the rest ran inside the script).
      roundTrips: publishes ? (total - ['get', 'set', 'hget', 'hset', 'hincrby', 'xadd', 'publish', 'del'].reduce((a, k) => a + (calls[k] || 0), 0)) / publishes : NaN,
    };
  } finally {
    for (const c of children.reverse()) await stopServer(c);
  }
}

async function main() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    console.error('bench/broker.js needs redis-server (Debian: apt-get install redis-server)');
    process.exit(1);
  }
  const redis = await startRedis();
  const cells = new Map();
  const cell = (s, tick) => {
    const k = `${s.name}@${tick}`;
    if (!cells.has(k)) cells.set(k, []);
    return cells.get(k);
  };
  try {
    for (let round = 0; round < opt.rounds; round++) {
      for (const tick of TICKS) {
        const order = round % 2 ? [...SERVERS].reverse() : SERVERS;
        for (const s of order) {
          const r = await runOne(s, tick, redis);
          cell(s, tick).push(r);
          process.stderr.write(`round ${round + 1} tick ${tick} ms ${s.name}: ${r.eps} events/s, ${r.cpu} us/event, p99 ${r.p99} ms, missing ${r.missing}, dup ${r.dups}, Redis ${r.redisCpuPct.toFixed(1)} %, ${r.perPublish.toFixed(2)} cmds/publish\n`);
        }
      }
    }
  } finally {
    redis.child.kill();
  }
  const m = (s, tick, k) => median(cell(s, tick).map((r) => r[k]));
  const sum = (s, tick, k) => cell(s, tick).reduce((a, r) => a + r[k], 0);
  const fmt = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const lines = [
    '# Channels over Redis vs a local channel (bench/broker.js)',
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${os.cpus().length} x ${os.cpus()[0].model}, Node ${process.version}, ${execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim().split(' ').slice(0, 3).join(' ')}`,
    `- ${opt.clients} SSE clients, one event per tick published to all, ${opt.seconds} s window after 2 s warmup; ${opt.rounds} rounds alternating the servers, medians.`,
    '- CPU: every server process (utime+stime) per delivered event; Redis CPU apart (% of one core). p99: publish to receive.',
    '- Redis commands per publish: all commands Redis ran (those inside the Lua script too) per publish; round trips: commands sent by clients per publish.',
    '',
  ];
  for (const tick of TICKS) {
    const base = SERVERS[0];
    lines.push(`## tick ${tick} ms (${Math.round(1000 / tick)} events/s to every client)`, '');
    lines.push('| server | delivered events/s | CPU µs/event | vs local | vs local, per round: median (range) | p50 ms | p99 ms | p99 vs local | Redis CPU % | Redis commands / publish | round trips / publish | missing / duplicates |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const s of SERVERS) {
      const cpu = m(s, tick, 'cpu');
      const p99 = m(s, tick, 'p99');
      const paired = cell(s, tick).map((r, i) => r.cpu / cell(base, tick)[i].cpu);
      const perRound = s === base ? '-' : `${median(paired).toFixed(2)}x (${Math.min(...paired).toFixed(2)}-${Math.max(...paired).toFixed(2)})`;
      lines.push(
        `| ${s.name} | ${Math.round(m(s, tick, 'eps'))} | ${fmt(cpu, 2)} | ${(cpu / m(base, tick, 'cpu')).toFixed(2)}x | ${perRound} | ${fmt(m(s, tick, 'p50'), 2)} | ${fmt(p99, 2)} | ${s === base ? '-' : `${p99 - m(base, tick, 'p99') >= 0 ? '+' : ''}${(p99 - m(base, tick, 'p99')).toFixed(2)} ms`} | ${fmt(m(s, tick, 'redisCpuPct'), 1)} | ${fmt(m(s, tick, 'perPublish'), 2)} | ${fmt(m(s, tick, 'roundTrips'), 2)} | ${sum(s, tick, 'missing')} / ${sum(s, tick, 'dups')} |`,
      );
    }
    lines.push('');
  }
  const out = lines.join('\n');
  fs.writeFileSync(path.join(__dirname, opt.out), out);
  console.log(out);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
