'use strict';
// Several processes on one port (issue 15): SO_REUSEPORT when asked, exclusive otherwise.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const hyper = require('..');
const { request, until } = require('./helpers');

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

test('a port is exclusive by default: a second listen() rejects with EADDRINUSE', async (t) => {
  const a = new hyper.Server();
  const port = await a.listen(0, '127.0.0.1');
  t.after(() => a.close());
  const b = new hyper.Server({ reuse_port: true });
  await assert.rejects(b.listen(port, '127.0.0.1'), { code: 'EADDRINUSE' });
  await b.close();
});

test('reuse_port (and exclusive_port: false): two servers share one address', async (t) => {
  const port = await freePort();
  const a = new hyper.Server({ reuse_port: true });
  const b = new hyper.Server({ exclusive_port: false });
  a.get('/', (req, res) => res.send('a'));
  b.get('/', (req, res) => res.send('b'));
  await a.listen(port, '127.0.0.1');
  await b.listen(port, '127.0.0.1');
  t.after(() => Promise.all([a.close(), b.close()]));
  const seen = new Set();
  for (let i = 0; i < 200 && seen.size < 2; i++) seen.add((await request(port)).body);
  assert.deepEqual([...seen].sort(), ['a', 'b']);
  // One closes: the other takes every new connection.
  await a.close();
  for (let i = 0; i < 20; i++) assert.equal((await request(port)).body, 'b');
});

test('node:cluster: two workers on one port share the connections; one killed, the other serves all', { timeout: 60000 }, async (t) => {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'cluster-workers.js')], { env: { ...process.env, PORT: String(port), NODE_TEST_CONTEXT: '' }, stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => {
    child.stdin.end();
    setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 5000).unref();
  });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  await until(() => out.includes('ready'), 20000);
  assert.match(out, /ready/, 'both workers listen');
  const pids = new Set();
  for (let i = 0; i < 200 && pids.size < 2; i++) pids.add((await request(port)).body);
  assert.equal(pids.size, 2, 'both workers took connections');
  const [victim, survivor] = [...pids];
  process.kill(Number(victim), 'SIGKILL');
  // Connections queued on the dead worker's socket are reset; once the process is gone
  // (its socket closed, and left the port's group) every new one goes to the survivor.
  const gone = () => {
    try {
      process.kill(Number(victim), 0);
      return false;
    } catch {
      return true;
    }
  };
  await until(gone, 5000);
  assert.ok(gone(), 'the killed worker is gone');
  for (let i = 0; i < 30; i++) assert.equal((await request(port)).body, survivor);
});
