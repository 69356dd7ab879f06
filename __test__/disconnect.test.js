'use strict';
// A client that goes away fires 'abort' then 'close' on the response, exactly once
// each, even from an idle stream; afterwards nothing more can be sent.
const test = require('node:test');
const assert = require('node:assert/strict');
const { serve, rawGet, deferred, sleep } = require('./helpers');

function recordEvents(res) {
  const seen = [];
  const closed = deferred();
  res.on('abort', () => seen.push('abort'));
  res.on('close', () => {
    seen.push('close');
    closed.resolve(performance.now());
  });
  return { seen, closed: closed.promise };
}

for (const [how, end] of [
  ['FIN (socket.end)', (s) => s.end()],
  ['RST (socket.resetAndDestroy)', (s) => s.resetAndDestroy()],
]) {
  test(`idle SSE stream, client leaves with ${how}: abort then close, once each`, async (t) => {
    const opened = deferred();
    const { port } = await serve(t, (s) =>
      s.get('/e', (req, res) => {
        res.sse.open();
        opened.resolve({ res, ...recordEvents(res) });
      }),
    );
    const c = rawGet(port, '/e');
    const { res, seen, closed } = await opened.promise;
    await c.waitFor('\r\n\r\n');
    await sleep(20); // the stream is idle: nothing is being written when the client leaves
    const left = performance.now();
    end(c.socket);
    const at = await closed;
    t.diagnostic(`close fired ${(at - left).toFixed(2)} ms after the client left`);
    assert.deepEqual(seen, ['abort', 'close']);
    assert.equal(res.sse.active, false);
    assert.equal(res.aborted, true);
    assert.equal(res.completed, true);
    assert.equal(res.sse.send('after'), false);
    assert.equal(res.write('after'), false);
    await sleep(50);
    assert.deepEqual(seen, ['abort', 'close'], 'no second abort/close');
  });
}

test('client leaves while the handler has not answered yet: abort, close, and later sends are no-ops', async (t) => {
  const got = deferred();
  const { port } = await serve(t, (s) =>
    s.get('/slow', (req, res) => {
      got.resolve({ res, ...recordEvents(res) });
    }),
  );
  const c = rawGet(port, '/slow');
  const { res, seen, closed } = await got.promise;
  c.socket.destroy();
  await closed;
  assert.deepEqual(seen, ['abort', 'close']);
  res.send('too late'); // must not throw
  assert.equal(res.completed, true);
  assert.deepEqual(seen, ['abort', 'close']);
});

test('a listener added after the client already left still hears abort and close', async (t) => {
  const got = deferred();
  const { port } = await serve(t, (s) => s.get('/x', (req, res) => got.resolve(res)));
  const c = rawGet(port, '/x');
  const res = await got.promise;
  c.socket.destroy();
  await c.closed;
  await sleep(50);
  const { seen, closed } = recordEvents(res);
  await closed;
  assert.deepEqual(seen, ['abort', 'close']);
});

test('req.on("close") fires once on disconnect (Express idiom)', async (t) => {
  const got = deferred();
  const { port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      res.sse.open();
      let n = 0;
      req.on('close', () => {
        n++;
        setTimeout(() => got.resolve(n), 30);
      });
    }),
  );
  const c = rawGet(port, '/e');
  await c.waitFor('\r\n\r\n');
  c.socket.destroy();
  assert.equal(await got.promise, 1);
});

test('a normal end fires close (not abort) once', async (t) => {
  const got = deferred();
  const { port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      const rec = recordEvents(res);
      res.sse.send('x');
      res.sse.close();
      rec.closed.then(() => got.resolve(rec.seen));
    }),
  );
  const c = rawGet(port, '/e');
  await c.waitForEnd();
  assert.deepEqual(await got.promise, ['close']);
  c.socket.destroy();
});

test('many streams dropped at once each fire close exactly once; the server keeps serving', async (t) => {
  const N = 50;
  const counts = new Map();
  let opened = 0;
  const allOpen = deferred();
  const allClosed = deferred();
  let closedCount = 0;
  const { port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      res.sse.open();
      const id = opened++;
      counts.set(id, 0);
      res.on('close', () => {
        counts.set(id, counts.get(id) + 1);
        if (++closedCount === N) allClosed.resolve();
      });
      if (opened === N) allOpen.resolve();
    }),
  );
  const clients = Array.from({ length: N }, () => rawGet(port, '/e'));
  await allOpen.promise;
  await Promise.all(clients.map((c) => c.waitFor('\r\n\r\n')));
  clients.forEach((c, i) => (i % 2 ? c.socket.destroy() : c.socket.resetAndDestroy()));
  await allClosed.promise;
  await sleep(30);
  assert.deepEqual([...counts.values()], Array(N).fill(1));
  // still serving
  const c = rawGet(port, '/e');
  await c.waitFor('text/event-stream');
  c.socket.destroy();
});
