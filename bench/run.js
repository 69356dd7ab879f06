'use strict';
// Side-by-side HTTP benchmark: each server in a fresh process, the same wrk load,
// servers alternated round by round; prints medians and ratios to HyperExpress and
// writes RESULTS.md. Loopback only, bounded in time.
//
//   node bench/run.js [--rounds 3] [--seconds 5] [--only hello,json]
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { options, startServer, stopServer, cpuTicks, rssKiB, median } = require('./lib');

const opt = options({ rounds: 3, seconds: 5, only: 'hello,json' });
const ROUNDS = opt.rounds;
const SECONDS = opt.seconds;
const ONLY = opt.only.split(',');

const SERVERS = {
  'hyper-sse': 'servers/hyper-sse.js',
  'hyper-sse (express API)': 'servers/hyper-sse-express.js',
  'hyper-express 6.16.2': 'servers/hyper-express.js',
  'express 5': 'servers/express.js',
};
const BASELINE = 'hyper-express 6.16.2';
const WORKLOADS = {
  hello: { title: 'hello world, wrk -t1 -c50', path: '/' },
  json: { title: 'JSON route with a path parameter and a header read, wrk -t1 -c50', path: '/json/42' },
};





function wrk(port, urlPath) {
  const out = execFileSync('wrk', ['-t1', '-c50', `-d${SECONDS}s`, '--latency', `http://127.0.0.1:${port}${urlPath}`], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p99ms = p99 ? Number(p99[1]) * { us: 0.001, ms: 1, s: 1000 }[p99[2]] : NaN;
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out);
  return { rps, p99ms, errors: errors ? errors[0] : '' };
}


async function main() {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (e) {
    if (e.code === 'ENOENT') throw new Error('wrk is not installed (Debian: apt-get install wrk)');
  }
  const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
  const results = {};
  for (const w of ONLY) {
    results[w] = {};
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order each round so no server always runs first.
      const names = Object.keys(SERVERS);
      const order = round % 2 ? names.reverse() : names;
      for (const name of order) {
        const { child, port } = await startServer(path.basename(SERVERS[name]));
        wrk(port, WORKLOADS[w].path); // warm-up run, not counted
        const before = cpuTicks(child.pid);
        const r = wrk(port, WORKLOADS[w].path);
        const cpuSec = (cpuTicks(child.pid) - before) / hz;
        const rss = rssKiB(child.pid);
        await stopServer(child);
        const cell = (results[w][name] ||= { rps: [], p99: [], cpuUsPerReq: [], rss: [], errors: [] });
        cell.rps.push(r.rps);
        cell.p99.push(r.p99ms);
        cell.cpuUsPerReq.push((cpuSec * 1e6) / (r.rps * SECONDS));
        cell.rss.push(rss);
        if (r.errors) cell.errors.push(r.errors);
        process.stderr.write(`${w} round ${round + 1} ${name}: ${Math.round(r.rps)} req/s\n`);
      }
    }
  }

  const lines = [];
  lines.push(`# Benchmark results`, '');
  lines.push(`- date: ${new Date().toISOString()}`);
  lines.push(`- machine: ${os.cpus().length} x ${os.cpus()[0].model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`);
  lines.push(`- method: each server in a fresh process, a warm-up run, then one measured ${SECONDS} s wrk run; ${ROUNDS} rounds, servers alternated; medians shown.`);
  lines.push(`- CPU per request: the server process's utime+stime during the measured run / requests served (wall-clock figures on this shared machine swing ~2x between minutes; compare within one run).`, '');
  for (const w of ONLY) {
    lines.push(`## ${WORKLOADS[w].title}`, '');
    lines.push('| server | req/s | ratio to HyperExpress | p99 latency (ms) | CPU µs/request | CPU ratio | RSS (MiB) |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|');
    const base = results[w][BASELINE];
    for (const name of Object.keys(SERVERS)) {
      const c = results[w][name];
      const rps = median(c.rps);
      const cpu = median(c.cpuUsPerReq);
      lines.push(`| ${name} | ${Math.round(rps)} | ${(rps / median(base.rps)).toFixed(2)}x | ${median(c.p99).toFixed(2)} | ${cpu.toFixed(2)} | ${(cpu / median(base.cpuUsPerReq)).toFixed(2)}x | ${(median(c.rss) / 1024).toFixed(1)} |${c.errors.length ? ' errors: ' + c.errors.join('; ') : ''}`);
    }
    lines.push('');
  }
  const text = lines.join('\n');
  console.log(text);
  fs.writeFileSync(path.join(__dirname, 'RESULTS.md'), text);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
