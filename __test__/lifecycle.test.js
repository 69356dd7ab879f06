'use strict';
// listen() and close(): ports are never shared, close() ends streams and resolves,
// and a closed server never keeps the process alive (a listening one does).
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const net = require('net');
const { spawn } = require('child_process');
const { hyper, serve, rawGet, request, deferred, sleep } = require('./helpers');

const CHILD = path.join(__dirname, 'fixtures', 'child-server.js');

function runChild(mode) {
  const child = spawn(process.execPath, [CHILD, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, output: () => out };
}

/** The child's exit, or null if it is still running after `ms`. */
function exitWithin(run, ms) {
  let timer;
  const late = new Promise((resolve) => (timer = setTimeout(resolve, ms, null)));
  return Promise.race([run.exited, late]).finally(() => clearTimeout(timer));
}

test('the process exits by itself after close(), with an SSE stream open at the time', async () => {
  const run = runChild('close');
  const result = await exitWithin(run, 15000);
  if (!result) run.child.kill('SIGKILL');
  assert.ok(result, `child did not exit after close(); output so far:\n${run.output()}`);
  assert.deepEqual(result, { code: 0, signal: null });
  const lines = run.output().trim().split('\n');
  assert.match(lines[0], /^listening \d+$/);
  assert.deepEqual(lines.slice(1), ['stream-closed', 'closed'], 'the stream closes before close() resolves');
});

test('a server that is never closed keeps the process alive', async () => {
  const run = runChild('stay');
  await new Promise((resolve) => {
    const poll = setInterval(() => run.output().includes('listening') && (clearInterval(poll), resolve()), 10);
  });
  const result = await exitWithin(run, 500);
  assert.equal(result, null, 'the process exited although its server is still listening');
  run.child.kill('SIGTERM');
  await run.exited;
});

test('a server that never listened does not keep the process alive', async () => {
  const run = runChild('never');
  const result = await exitWithin(run, 15000);
  if (!result) run.child.kill('SIGKILL');
  assert.deepEqual(result, { code: 0, signal: null });
});

test('listen() rejects with an Error when the port is taken, and never shares it', async (t) => {
  const { port } = await serve(t, (s) => s.get('/', (req, res) => res.send('first')));
  const second = new hyper.Server();
  second.get('/', (req, res) => res.send('second'));
  await assert.rejects(second.listen(port, '127.0.0.1'), (err) => err instanceof Error && err.code === 'EADDRINUSE');
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  t.after(() => blocker.close());
  await assert.rejects(second.listen(blocker.address().port, '127.0.0.1'), /in use/i);
  for (let i = 0; i < 5; i++) assert.equal((await request(port)).body, 'first');
  await second.close();
});

test('listen(port, callback) calls back with the port', async () => {
  const s = new hyper.Server();
  const got = deferred();
  const resolved = await s.listen(0, got.resolve);
  assert.equal(await got.promise, resolved);
  assert.equal(s.port, resolved);
  await s.close();
});

test('close() ends open streams (close, not abort), resolves, and refuses new connections', async () => {
  const s = new hyper.Server();
  const events = [];
  const opened = deferred();
  let n = 0;
  s.get('/e', (req, res) => {
    res.sse.open();
    res.on('abort', () => events.push('abort'));
    res.on('close', () => events.push('close'));
    if (++n === 3) opened.resolve();
  });
  const port = await s.listen(0, '127.0.0.1');
  const clients = [rawGet(port, '/e'), rawGet(port, '/e'), rawGet(port, '/e')];
  await opened.promise;
  await Promise.all(clients.map((c) => c.waitFor('\r\n\r\n')));
  const p1 = s.close();
  const p2 = s.close();
  assert.equal(p1, p2, 'close() twice gives the same promise');
  await p1;
  assert.deepEqual(events, ['close', 'close', 'close']);
  for (const c of clients) {
    await c.closed;
    assert.ok(c.eof, 'each stream was ended cleanly (a FIN, not a reset)');
    assert.match(c.data, /\r\n\r\n$/, 'after a whole head');
  }
  await assert.rejects(request(port), /ECONNREFUSED/);
  assert.equal(s.connections, 0);
});

test('close() lets an in-flight request finish', async () => {
  const s = new hyper.Server();
  const inHandler = deferred();
  s.get('/slow', (req, res) => {
    inHandler.resolve();
    setTimeout(() => res.send('finished'), 100);
  });
  const port = await s.listen(0, '127.0.0.1');
  const pending = request(port, { path: '/slow' });
  await inHandler.promise;
  const closed = s.close();
  const res = await pending;
  assert.equal(res.body, 'finished');
  await closed;
});

test('close() with a timeout drops a request that never gets an answer', async () => {
  const s = new hyper.Server();
  const inHandler = deferred();
  const events = [];
  s.get('/never', (req, res) => {
    res.on('abort', () => events.push('abort'));
    res.on('close', () => events.push('close'));
    inHandler.resolve();
  });
  const port = await s.listen(0, '127.0.0.1');
  const pending = request(port, { path: '/never' }).then(
    () => 'answered',
    (e) => e.code,
  );
  await inHandler.promise;
  await s.close({ timeout: 100 });
  assert.equal(await pending, 'ECONNRESET');
  assert.deepEqual(events, ['abort', 'close']);
});

test('close() on a server that never listened resolves', async () => {
  const s = new hyper.Server();
  await s.close();
});

test('a server with several worker threads serves, streams and closes the same way', async () => {
  const s = new hyper.Server({ threads: 2 });
  s.get('/', (req, res) => res.send('multi'));
  s.get('/e', (req, res) => res.sse.send('x'));
  const port = await s.listen(0, '127.0.0.1');
  const bodies = await Promise.all(Array.from({ length: 20 }, () => request(port)));
  assert.deepEqual(new Set(bodies.map((b) => b.body)), new Set(['multi']));
  const c = rawGet(port, '/e');
  await c.waitFor('data: x');
  await s.close();
  await c.closed;
  assert.ok(c.eof, 'the stream was ended with a FIN');
  assert.match(c.data, /data: x\n\n$/);
});
