'use strict';
// One Express-style SSE app (fixtures/express-sse-app.js), run unchanged on real
// Express 5 and on hyper-sse: the same assertions must hold for both.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventSource } = require('eventsource');
const { request, rawGet, bodyOf, deferred, sleep } = require('./helpers');
const createApp = require('./fixtures/express-sse-app');

const IMPLEMENTATIONS = {
  express: () => require('express'),
  'hyper-sse': () => require('..'),
};

async function start(t, express) {
  const app = createApp(express);
  const server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  const port = server.address().port;
  t.after(async () => {
    if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
    await new Promise((resolve) => server.close(() => resolve()));
  });
  return { app, port };
}

/** Opens an EventSource and records every event it sees. */
function listen(t, port, id) {
  const es = new EventSource(`http://127.0.0.1:${port}/events?id=${id}`);
  t.after(() => es.close());
  const events = [];
  const waiters = [];
  const record = (e) => {
    events.push({ type: e.type, data: e.data, id: e.lastEventId });
    for (const w of waiters.splice(0)) (w.test() ? w.resolve() : waiters.push(w));
  };
  for (const type of ['connected', 'message', 'private']) es.addEventListener(type, record);
  return {
    es,
    events,
    until(n) {
      if (events.length >= n) return Promise.resolve();
      const d = deferred();
      waiters.push({ test: () => events.length >= n, resolve: d.resolve });
      return d.promise;
    },
  };
}

async function waitForStats(port, clients) {
  for (let i = 0; i < 200; i++) {
    const stats = JSON.parse((await request(port, { path: '/stats' })).body);
    if (stats.clients === clients) return stats;
    await sleep(10);
  }
  assert.fail(`stats never reached ${clients} clients`);
}

const postJson = (port, body, raw) =>
  request(port, { method: 'POST', path: '/notify', headers: { 'content-type': 'application/json' }, body: raw ?? JSON.stringify(body) });

for (const [name, load] of Object.entries(IMPLEMENTATIONS)) {
  test(`[${name}] /events sets the SSE and CORS headers by hand and writes frames`, async (t) => {
    const { port } = await start(t, load());
    const c = rawGet(port, '/events?id=raw');
    const raw = await c.waitFor('data: {"id":"raw"}\n\n');
    const head = raw.slice(0, raw.indexOf('\r\n\r\n')).toLowerCase();
    assert.match(head, /^http\/1\.1 200 ok/);
    assert.match(head, /\r\ncontent-type: text\/event-stream\r\n/);
    assert.match(head, /\r\ncache-control: no-cache\r\n/);
    assert.match(head, /\r\nconnection: keep-alive\r\n/);
    assert.match(head, /\r\nx-accel-buffering: no\r\n/);
    assert.match(head, /\r\naccess-control-allow-origin: \*\r\n/);
    assert.equal(bodyOf(raw), 'event: connected\ndata: {"id":"raw"}\n\n');
    c.socket.destroy();
  });

  test(`[${name}] broadcast to all, to one, stats, and cleanup on disconnect`, async (t) => {
    const { port } = await start(t, load());
    const a = listen(t, port, 'a');
    const b = listen(t, port, 'b');
    await Promise.all([a.until(1), b.until(1)]);
    assert.deepEqual(await waitForStats(port, 2), { clients: 2, ids: ['a', 'b'] });

    const all = await postJson(port, { message: 'hi all' });
    assert.equal(all.status, 200);
    assert.deepEqual(JSON.parse(all.body), { delivered: 2 });
    await Promise.all([a.until(2), b.until(2)]);

    const one = await postJson(port, { to: 'b', event: 'private', message: { x: 1 } });
    assert.deepEqual(JSON.parse(one.body), { delivered: 1 });
    await b.until(3);

    assert.deepEqual(a.events, [
      { type: 'connected', data: '{"id":"a"}', id: '' },
      { type: 'message', data: '"hi all"', id: '1' },
    ]);
    assert.deepEqual(b.events, [
      { type: 'connected', data: '{"id":"b"}', id: '' },
      { type: 'message', data: '"hi all"', id: '1' },
      { type: 'private', data: '{"x":1}', id: '2' },
    ]);

    a.es.close();
    assert.deepEqual(await waitForStats(port, 1), { clients: 1, ids: ['b'] });
    b.es.close();
    await waitForStats(port, 0);
  });

  test(`[${name}] writeHead-style stream and ending a client's stream from the server`, async (t) => {
    const { port } = await start(t, load());
    const c = rawGet(port, '/events-writehead?id=w');
    await c.waitFor('data: first\n\n');
    assert.match(c.data.toLowerCase(), /\r\ncontent-type: text\/event-stream\r\n/);
    const del = await request(port, { method: 'DELETE', path: '/clients/w' });
    assert.equal(del.status, 204);
    await c.waitForEnd();
    assert.equal(bodyOf(c.data), ': hello\n\ndata: first\n\n');
    assert.equal((await request(port, { method: 'DELETE', path: '/clients/w' })).status, 404);
    c.socket.destroy();
  });

  test(`[${name}] express.json(): 400 on malformed JSON, 413 past the limit, 400 from the route`, async (t) => {
    const { port } = await start(t, load());
    const bad = await postJson(port, null, '{"message": nope');
    assert.equal(bad.status, 400);
    assert.deepEqual(JSON.parse(bad.body), { error: 'entity.parse.failed' });
    const big = await postJson(port, { message: 'x'.repeat(2000) });
    assert.equal(big.status, 413);
    assert.deepEqual(JSON.parse(big.body), { error: 'entity.too.large' });
    const missing = await postJson(port, { nothing: true });
    assert.equal(missing.status, 400);
    assert.deepEqual(JSON.parse(missing.body), { error: 'message is required' });
  });

  test(`[${name}] params, query, set(), send(object), sendStatus, errors and 404`, async (t) => {
    const { port } = await start(t, load());
    const original = console.error;
    console.error = () => {};
    t.after(() => (console.error = original));

    const user = await request(port, { path: '/users/42?q=x%20y' });
    assert.equal(user.status, 200);
    assert.equal(user.headers['x-user'], '42');
    assert.match(user.headers['content-type'], /^application\/json/);
    assert.deepEqual(JSON.parse(user.body), { id: '42', q: 'x y', agent: false });

    const teapot = await request(port, { path: '/teapot' });
    assert.equal(teapot.status, 418);
    assert.equal(teapot.body, "I'm a Teapot");

    const fail = await request(port, { path: '/fail' });
    assert.deepEqual([fail.status, JSON.parse(fail.body)], [500, { error: 'handler failed' }]);
    const failAsync = await request(port, { path: '/fail-async' });
    assert.deepEqual([failAsync.status, JSON.parse(failAsync.body)], [404, { error: 'not here' }]);

    const missing = await request(port, { path: '/no/such/thing' });
    assert.equal(missing.status, 404);
    assert.match(missing.body, /Cannot GET \/no\/such\/thing/);
    assert.equal(missing.headers['access-control-allow-origin'], '*');
  });
}
