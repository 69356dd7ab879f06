'use strict';
// res.sse: the bytes on the wire follow the WHATWG event-stream rules.
const test = require('node:test');
const assert = require('node:assert/strict');
const { serve, rawGet, bodyOf, openStream, deferred, request } = require('./helpers');

/** Runs `body(res.sse, res)` in a GET handler, then ends the stream; returns { head, events }. */
async function wire(t, body) {
  const { port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      body(res.sse, res);
      res.sse.close();
    }),
  );
  const c = rawGet(port, '/e');
  const raw = await c.waitForEnd();
  c.socket.destroy();
  return { head: raw.slice(0, raw.indexOf('\r\n\r\n')), events: bodyOf(raw) };
}

test('open() sends the head at once, with the SSE headers', async (t) => {
  const opened = deferred();
  const { port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      res.status(200).header('x-custom', 'kept');
      assert.equal(res.sse.open(), true);
      assert.equal(res.sse.open(), false, 'a second open() is a no-op');
      opened.resolve(res);
    }),
  );
  const c = rawGet(port, '/e');
  const head = await c.waitFor('\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(head, /\r\ncontent-type: text\/event-stream\r\n/i);
  assert.match(head, /\r\ncache-control: no-cache\r\n/i);
  assert.match(head, /\r\nconnection: keep-alive\r\n/i);
  assert.match(head, /\r\nx-accel-buffering: no\r\n/i);
  assert.match(head, /\r\nx-custom: kept\r\n/i);
  assert.doesNotMatch(head, /content-length/i);
  const res = await opened.promise;
  assert.equal(res.sse.active, true);
  assert.equal(res.initiated, true);
  res.sse.close();
  c.socket.destroy();
});

test('each send is delivered as it is sent, with no buffering', async (t) => {
  const { res, c } = await openStream(t);
  res.sse.send('one');
  await c.waitFor('data: one\n\n');
  res.sse.send('two');
  await c.waitFor('data: two\n\n');
  res.sse.close();
  await c.waitForEnd();
  c.socket.destroy();
});

test('send overloads are chosen by argument count', async (t) => {
  const { events } = await wire(t, (sse) => {
    sse.send('d');
    sse.send('ev', 'd2');
    sse.send('7', 'ev', 'd3');
    sse.send(0, 'e', 'x');
    sse.send('');
    sse.send('e', '');
    sse.send(undefined, 'only-event', 'd4');
    sse.send(null, null, 'd5');
    sse.send(42);
    sse.send({ a: 1 });
  });
  assert.equal(
    events,
    'data: d\n\n' +
      'event: ev\ndata: d2\n\n' +
      'id: 7\nevent: ev\ndata: d3\n\n' +
      'id: 0\nevent: e\ndata: x\n\n' +
      'data: \n\n' +
      'event: e\ndata: \n\n' +
      'event: only-event\ndata: d4\n\n' +
      'data: d5\n\n' +
      'data: 42\n\n' +
      'data: {"a":1}\n\n',
  );
});

test('multi-line data becomes several data lines; no field injection', async (t) => {
  const { events } = await wire(t, (sse) => {
    sse.send('a\nb\r\nc\rd');
    sse.send('x\n\nevent: evil\ndata: y');
    sse.send('1\r\nevent: evil', 'ev\nid: 9', 'z');
    sse.send('nul\0id', 'e', 'w');
  });
  assert.equal(
    events,
    'data: a\ndata: b\ndata: c\ndata: d\n\n' +
      'data: x\ndata: \ndata: event: evil\ndata: data: y\n\n' +
      'id: 1event: evil\nevent: evid: 9\ndata: z\n\n' +
      'id: nulid\nevent: e\ndata: w\n\n',
  );
});

test('comments are one ":" line per line; retry sets the reconnection delay', async (t) => {
  const { events } = await wire(t, (sse) => {
    sse.comment('ping');
    sse.comment('a\nb');
    sse.retry(2500);
  });
  assert.equal(events, ': ping\n\n: a\n: b\n\nretry: 2500\n\n');
});

test('send() opens the stream by itself', async (t) => {
  const { head, events } = await wire(t, (sse) => {
    assert.equal(sse.send('hi'), true);
  });
  assert.match(head, /content-type: text\/event-stream/i);
  assert.equal(events, 'data: hi\n\n');
});

test('after close(), send() returns false and active is false', async (t) => {
  const after = deferred();
  await wire(t, (sse, res) => {
    res.on('close', () => after.resolve({ send: sse.send('late'), active: sse.active, completed: res.completed }));
  });
  assert.deepEqual(await after.promise, { send: false, active: false, completed: true });
});

test('res.sse is only there for GET, and the same object each time', async (t) => {
  const seen = deferred();
  const { port } = await serve(t, (s) =>
    s.any('/e', (req, res) => {
      if (req.method === 'GET') seen.resolve(res.sse === res.sse && res.sse !== undefined);
      else res.send(String(res.sse));
    }),
  );
  const post = await request(port, { method: 'POST', path: '/e' });
  assert.equal(post.body, 'undefined');
  const c = rawGet(port, '/e');
  assert.equal(await seen.promise, true);
  c.socket.destroy();
});

test('retry() rejects a bad value with a clear error', async (t) => {
  const { events } = await wire(t, (sse) => {
    assert.throws(() => sse.retry(-1), RangeError);
    assert.throws(() => sse.retry(1.5), RangeError);
    sse.send('ok');
  });
  assert.equal(events, 'data: ok\n\n');
});
