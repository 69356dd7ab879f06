'use strict';
// Issue 16.9: a view over a SharedArrayBuffer passed to write()/send()/publish() was read
// by Rust while another thread might write it. Shared bytes are copied in JS at the
// call now: what is sent is what the memory held when the call was made, whatever a
// worker writes into it afterwards.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Worker } = require('worker_threads');
const { serve, rawGet, bodyOf, request, deferred, until } = require('../helpers');

/** A worker that overwrites `shared` with 'z' in a loop until told to stop. */
function scribbler(shared, stop) {
  return new Worker(
    `const { workerData } = require('worker_threads');
     const bytes = new Uint8Array(workerData.shared);
     const stop = new Int32Array(workerData.stop);
     Atomics.store(stop, 1, 1);
     while (Atomics.load(stop, 0) === 0) bytes.fill(0x7a);`,
    { eval: true, workerData: { shared, stop } },
  );
}

test('write(), send() and channel.publish() take shared bytes as they were at the call', async (t) => {
  const shared = new SharedArrayBuffer(64);
  const stop = new SharedArrayBuffer(8);
  const flags = new Int32Array(stop);
  const view = Buffer.from(shared);
  const ready = deferred();
  const { port } = await serve(t, (s) => {
    const ch = s.channel('c');
    s.get('/stream', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      ready.resolve({ res, ch });
    });
    s.get('/once', (req, res) => res.send(new Uint8Array(shared, 0, 8)));
    s.get('/sse', (req, res) => ch.subscribe(res));
  });
  const c = rawGet(port, '/stream');
  const e = rawGet(port, '/sse');
  t.after(() => (c.socket.destroy(), e.socket.destroy()));
  const { res, ch } = await ready.promise;
  await e.waitFor('\r\n\r\n');

  // Alone, the copy is observable: bytes changed right after the call are not sent.
  view.fill('a');
  res.write(view);
  view.fill('b');
  assert.equal((await request(port, { path: '/once' })).body, 'bbbbbbbb');
  view.fill('c');
  ch.publish(view);
  view.fill('d');

  // With a worker writing the memory all along, every call still succeeds and sends 64 bytes.
  const w = scribbler(shared, stop);
  await until(() => Atomics.load(flags, 1) === 1);
  for (let i = 0; i < 100; i++) assert.equal(res.write(view), true);
  Atomics.store(flags, 0, 1);
  await new Promise((r) => w.on('exit', r));
  res.end();
  await c.waitForEnd();
  const body = bodyOf(c.data);
  assert.equal(body.length, 64 * 101);
  assert.equal(body.slice(0, 64), 'a'.repeat(64));
  assert.match(body.slice(64), /^[bdz]+$/);
  await e.waitFor('data: ' + 'c'.repeat(64) + '\n\n');
});
