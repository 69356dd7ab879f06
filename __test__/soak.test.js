'use strict';
// A bounded soak: thousands of SSE connections held while tens of thousands connect
// and leave (half by RST, half by FIN). Afterwards the server's open file descriptors
// are back at the baseline, its memory is bounded, and every stream fired close
// exactly once.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');
const { request, sleep } = require('./helpers');

const HELD = Number(process.env.SOAK_HELD || 2000);
const CYCLES = Number(process.env.SOAK_CYCLES || 20000);
const CONCURRENCY = 200;

function openStream(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => {
      got += d;
      if (got.includes('data: hello')) resolve(socket);
    });
    socket.on('error', reject);
    socket.write('GET /e HTTP/1.1\r\nHost: x\r\n\r\n');
  });
}

const SERVER = path.join(__dirname, 'fixtures', 'soak-server.js');

/** Starts the soak server in a child process; resolves once it prints its port. */
function startServer(t, command, args) {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  return new Promise((resolve) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /ready (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
  });
}

async function report(port) {
  return JSON.parse((await request(port, { path: '/report' })).body);
}

test(`soak: ${HELD} held streams, ${CYCLES} connect/disconnect cycles`, { timeout: 240000 }, async (t) => {
  const { child, port } = await startServer(t, process.execPath, [SERVER]);
  const baseline = await report(port);

  const held = [];
  for (let i = 0; i < HELD; i += CONCURRENCY) {
    held.push(...(await Promise.all(Array.from({ length: Math.min(CONCURRENCY, HELD - i) }, () => openStream(port)))));
  }
  const whileHeld = await report(port);
  assert.equal(whileHeld.stats.streams, HELD);

  let done = 0;
  const worker = async () => {
    while (done < CYCLES) {
      const n = done++;
      const s = await openStream(port);
      if (n % 2) s.resetAndDestroy();
      else s.end();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  for (const s of held) s.destroy();

  let after;
  for (let i = 0; i < 500; i++) {
    after = await report(port);
    if (after.closed === after.opened && after.stats.streams === 0 && after.fds <= baseline.fds + 2) break;
    await sleep(20);
  }
  const rssGrowthMiB = (after.rss - baseline.rss) / 2 ** 20;
  t.diagnostic(`fds: baseline ${baseline.fds}, while holding ${whileHeld.fds}, after ${after.fds}`);
  t.diagnostic(`RSS: baseline ${(baseline.rss / 2 ** 20).toFixed(1)} MiB, while holding ${(whileHeld.rss / 2 ** 20).toFixed(1)} MiB, after ${(after.rss / 2 ** 20).toFixed(1)} MiB`);
  t.diagnostic(`streams opened ${after.opened}, closed ${after.closed}, aborted ${after.aborted}`);
  assert.equal(after.opened, HELD + CYCLES);
  assert.equal(after.closed, after.opened, 'every stream fired close');
  assert.equal(after.aborted, after.opened, 'every stream (all left by the client) fired abort');
  assert.equal(after.more_than_once, 0, 'no stream fired close or abort twice');
  assert.equal(after.stats.streams, 0);
  assert.ok(after.fds <= baseline.fds + 2, `fds back to baseline (${baseline.fds} -> ${after.fds})`);
  assert.ok(rssGrowthMiB < 150, `RSS grew ${rssGrowthMiB.toFixed(1)} MiB`);

  child.stdin.end();
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 0);
});

test('out of file descriptors: no CPU spin, existing streams live on, service resumes', { timeout: 60000 }, async (t) => {
  const { child, port } = await startServer(t, 'bash', ['-c', `ulimit -n 64 && exec "${process.execPath}" "${SERVER}"`]);
  const fs = require('fs');
  const cpu = () => {
    const f = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  const held = [];
  for (let i = 0; i < 20; i++) held.push(await openStream(port));
  // Far more connections than descriptors left: the server runs out.
  const flood = Array.from({ length: 80 }, () => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.write('GET /e HTTP/1.1\r\nHost: x\r\n\r\n');
    return s;
  });
  await sleep(300);
  const before = cpu();
  await sleep(1000);
  const ticks = cpu() - before; // clock ticks (100 per second)
  t.diagnostic(`server CPU while out of descriptors: ${ticks} ticks in 1 s`);
  assert.ok(ticks < 50, `the server spun the CPU (${ticks} ticks of 100 in 1 s)`);
  for (const s of flood) s.destroy();
  await sleep(200);
  const r = await report(port);
  assert.ok(r.stats.streams >= 20, `held streams still open (${r.stats.streams})`);
  assert.equal(held.filter((s) => s.destroyed).length, 0);
  const fresh = await openStream(port);
  fresh.destroy();
  for (const s of held) s.destroy();
  child.stdin.end();
  assert.equal(await new Promise((r) => child.on('exit', r)), 0);
});
