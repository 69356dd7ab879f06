'use strict';
// Heartbeats: Rust timers write keep-alive comments on idle streams; none while events flow.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventSource } = require('eventsource');
const { serve, rawGet, bodyOf, deferred, sleep } = require('./helpers');

test('a server-wide heartbeat writes comments on an idle stream', async (t) => {
  const { port } = await serve(t, (s) => s.get('/e', (req, res) => res.sse.open()), { heartbeat_ms: 20 });
  const c = rawGet(port, '/e');
  t.after(() => c.socket.destroy());
  await c.waitFor((d) => (bodyOf(d).match(/:\n\n/g) || []).length >= 3);
  assert.match(bodyOf(c.data), /^(:\n\n)+$/);
});

test('res.sse.heartbeat(ms) turns it on per stream, and off with 0', async (t) => {
  const opened = deferred();
  const { port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      res.sse.heartbeat(15);
      opened.resolve(res);
    }),
  );
  const c = rawGet(port, '/e');
  t.after(() => c.socket.destroy());
  const res = await opened.promise;
  await c.waitFor((d) => (bodyOf(d).match(/:\n\n/g) || []).length >= 2);
  res.sse.heartbeat(0);
  await sleep(20);
  const count = bodyOf(c.data).length;
  await sleep(80);
  assert.equal(bodyOf(c.data).length, count, 'no heartbeat after heartbeat(0)');
  assert.throws(() => res.sse.heartbeat(-5), RangeError);
});

test('heartbeats are invisible to EventSource and do not disturb events', async (t) => {
  const { server, port } = await serve(t, (s) => s.get('/e', (req, res) => s.channel('hb').subscribe(res)), { heartbeat_ms: 10 });
  const es = new EventSource(`http://127.0.0.1:${port}/e`);
  t.after(() => es.close());
  const seen = [];
  es.onmessage = (e) => seen.push(e.data);
  await new Promise((r) => (es.onopen = r));
  while (server.channel('hb').size < 1) await sleep(5);
  await sleep(40);
  server.channel('hb').publish('one');
  await sleep(40);
  server.channel('hb').publish('two');
  while (seen.length < 2) await sleep(5);
  assert.deepEqual(seen, ['one', 'two']);
});
