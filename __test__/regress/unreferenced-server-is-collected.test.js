'use strict';
// Issue 16.6: a Server that was never closed was never garbage-collected, even one that
// never listened: Rust's threadsafe function held the JS callback, which held the
// server. An unreferenced server that is not listening is collected now; a listening
// one lives on unreferenced until close(), as documented.
const test = require('node:test');
const assert = require('node:assert/strict');
const v8 = require('v8');
const vm = require('vm');
const { hyper, request, sleep } = require('../helpers');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

/** Whether `ref`'s target is collected within `rounds` GCs. A deref() keeps its target
 * until the end of the current job, so each GC runs in a later job than the last deref. */
async function collected(ref, rounds = 20) {
  for (let i = 0; i < rounds; i++) {
    await sleep(0);
    gc();
    await sleep(10);
    if (ref.deref() === undefined) return true;
  }
  return false;
}

/** A server with a route, referenced only through the returned WeakRef. */
function unreferenced() {
  const s = new hyper.Server();
  s.get('/', (req, res) => res.send('x'));
  return new WeakRef(s);
}

async function listenedAndClosed() {
  const s = new hyper.Server();
  s.get('/', (req, res) => res.send('x'));
  await s.listen(0, '127.0.0.1');
  await s.close();
  return new WeakRef(s);
}

test('a server that never listened is collected once unreferenced', async () => {
  const refs = [unreferenced(), unreferenced(), unreferenced()];
  for (const r of refs) assert.equal(await collected(r), true, 'collected');
});

test('a server that listened and closed is collected once unreferenced', async () => {
  const ref = await listenedAndClosed();
  assert.equal(await collected(ref), true, 'collected');
});

test('a listening server nobody references keeps serving until closed', async () => {
  let ref;
  const port = await (() => {
    const s = new hyper.Server();
    s.get('/', (req, res) => res.send('still here'));
    // Only the server itself can reach the server: a route that closes it.
    s.get('/close', (req, res) => {
      res.send('bye');
      s.close();
    });
    ref = new WeakRef(s);
    return s.listen(0, '127.0.0.1');
  })();
  assert.equal(await collected(ref, 5), false, 'not collected while listening');
  const res = await request(port, { path: '/' });
  assert.equal(res.status, 200);
  assert.equal(res.body, 'still here');
  assert.equal((await request(port, { path: '/close' })).body, 'bye');
  assert.equal(await collected(ref), true, 'collected once closed');
});
