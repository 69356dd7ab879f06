'use strict';
// Compares builds of the addon side by side (an allocator, a build flag): the same
// hello-world wrk load and the same SSE fan-out, each build in a fresh server process
// (NAPI_RS_NATIVE_LIBRARY_PATH picks the build), builds alternated round by round,
// HyperExpress measured in the same run as the reference. Prints medians and ratios.
// Loopback only, bounded in time.
//
//   node bench/builds.js --builds a=/tmp/a.node,b=/tmp/b.node [--rounds 3] [--seconds 5]
//        [--clients 1000] [--tick 1]
const { execFileSync } = require('child_process');
const path = require('path');
const { options, startServer, stopServer, cpuTicks, median, sseLoad } = require('./lib');

const opt = options({ builds: '', rounds: 3, seconds: 5, clients: 1000, tick: 1 });
const BUILDS = opt.builds
  .split(',')
  .filter(Boolean)
  .map((kv) => {
    const [name, file] = kv.split('=');
    return { name, env: { NAPI_RS_NATIVE_LIBRARY_PATH: path.resolve(file) } };
  });
if (BUILDS.length === 0) throw new Error('--builds name=path.node,name=path.node');
const PEER = { name: 'hyper-express 6.16.2', env: {}, peer: true };

function wrk(port) {
  const out = execFileSync('wrk', ['-t1', '-c50', `-d${opt.seconds}s`, `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
}

function sseRun(port, pid) {
  return sseLoad(['--url', `http://127.0.0.1:${port}/sse`, '--clients', opt.clients, '--duration', opt.seconds, '--warmup', 2, '--sources', 4, '--pid', pid]);
}

async function main() {
  const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
  const all = [...BUILDS, PEER];
  const cells = new Map(all.map((b) => [b.name, { rps: [], cpuUsPerReq: [], loopEps: [], loopCpu: [], chanEps: [], chanCpu: [] }]));
  for (let round = 0; round < opt.rounds; round++) {
    const order = round % 2 ? [...all].reverse() : all;
    for (const b of order) {
      const c = cells.get(b.name);
      {
        const { child, port } = await startServer(b.peer ? 'hyper-express.js' : 'hyper-sse.js', b.env);
        wrk(port); // warm-up
        const before = cpuTicks(child.pid);
        const rps = wrk(port);
        c.rps.push(rps);
        c.cpuUsPerReq.push((((cpuTicks(child.pid) - before) / hz) * 1e6) / (rps * opt.seconds));
        await stopServer(child);
      }
      for (const mode of b.peer ? ['loop'] : ['loop', 'channel']) {
        const { child, port } = await startServer(b.peer ? 'sse-hyper-express.js' : 'sse-hyper-sse.js', { ...b.env, MODE: mode, TICK_MS: String(opt.tick) });
        try {
          const r = await sseRun(port, child.pid);
          c[`${mode === 'loop' ? 'loop' : 'chan'}Eps`].push(r.events_per_s);
          c[`${mode === 'loop' ? 'loop' : 'chan'}Cpu`].push(r.server.cpu_us_per_event);
        } finally {
          await stopServer(child);
        }
      }
      process.stderr.write(`round ${round + 1} ${b.name}: ${Math.round(c.rps.at(-1))} req/s, loop ${Math.round(c.loopEps.at(-1))} ev/s\n`);
    }
  }
  const base = cells.get(PEER.name);
  const r = (x, y) => (Number.isFinite(x) && y > 0 ? `${(x / y).toFixed(2)}x` : '-');
  const lines = [
    `# Builds side by side (${opt.rounds} rounds, medians; ratios to HyperExpress in the same run)`,
    '',
    `hello world: wrk -t1 -c50 ${opt.seconds}s. SSE: ${opt.clients} clients, one event each per ${opt.tick} ms tick, ${opt.seconds}s window.`,
    '',
    '| build | hello req/s | ratio | CPU µs/req | JS-loop ev/s | ratio | CPU µs/ev | channel ev/s | CPU µs/ev |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const b of all) {
    const c = cells.get(b.name);
    const m = (k) => median(c[k]);
    lines.push(`| ${b.name} | ${Math.round(m('rps'))} | ${r(m('rps'), median(base.rps))} | ${m('cpuUsPerReq').toFixed(2)} | ${Math.round(m('loopEps'))} | ${r(m('loopEps'), median(base.loopEps))} | ${m('loopCpu').toFixed(2)} | ${c.chanEps.length ? Math.round(m('chanEps')) : '-'} | ${c.chanCpu.length ? m('chanCpu').toFixed(2) : '-'} |`);
  }
  console.log(lines.join('\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
