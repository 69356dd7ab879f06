'use strict';
// Limits with safe defaults: request head size (431), body size (413), slow request
// heads, idle keep-alive, connection cap, and a deadline for handlers that never answer.
const test = require('node:test');
const assert = require('node:assert/strict');
const { serve, request, rawClient, rawGet, deferred, sleep } = require('./helpers');

test('a request head larger than max_header_size gets 431; the server keeps serving', async (t) => {
  const { port } = await serve(t, (s) => s.get('/', (req, res) => res.send('ok')), { max_header_size: 8192 });
  const c = rawClient(port).send(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`);
  await c.waitFor(/^HTTP\/1\.1 431 /);
  c.socket.destroy();
  assert.equal((await request(port)).body, 'ok');
});

test('a client that never finishes its request head is disconnected (slowloris)', async (t) => {
  const { port } = await serve(t, (s) => s.get('/', (req, res) => res.send('ok')), { header_timeout_ms: 150 });
  const c = rawClient(port).send('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  await c.closed;
  assert.equal((await request(port)).body, 'ok');
});

test('an idle keep-alive connection is closed after the head timeout; an open SSE stream never is', async (t) => {
  const { port } = await serve(
    t,
    (s) => {
      s.get('/', (req, res) => res.send('ok'));
      s.get('/e', (req, res) => res.sse.open());
    },
    { header_timeout_ms: 150 },
  );
  const idle = rawGet(port, '/');
  await idle.waitFor('ok');
  const stream = rawGet(port, '/e');
  await stream.waitFor('\r\n\r\n');
  await idle.closed; // closed by the server while idle
  await sleep(300);
  assert.equal(stream.socket.destroyed, false, 'the SSE stream is still open');
  stream.socket.destroy();
});

test('the head deadline never cuts a request in flight, and each answer restarts it', async (t) => {
  const { port } = await serve(
    t,
    (s) => {
      s.get('/slow', (req, res) => setTimeout(() => res.send('slow ok'), 700));
      s.get('/', (req, res) => res.send('ok'));
    },
    // Wide margins: the deadline is checked on a 25 ms clock by a sweep.
    { header_timeout_ms: 300 },
  );
  // A handler that takes longer than the head deadline still answers on its connection.
  const slow = rawGet(port, '/slow');
  await slow.waitFor('slow ok');
  assert.equal(slow.socket.destroyed, false);
  slow.socket.destroy();
  // One keep-alive connection, a request every 100 ms for 800 ms (over two deadlines'
  // worth): each answer makes it idle anew, so it is never cut.
  const c = rawClient(port);
  for (let i = 1; i <= 8; i++) {
    c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.waitFor((d) => d.split('ok').length - 1 >= i);
    await sleep(100);
  }
  assert.equal(c.socket.destroyed, false);
  // Left idle, it is closed.
  await c.closed;
});

test('connections past max_connections are closed at once; existing ones are served', async (t) => {
  const { port } = await serve(t, (s) => s.get('/e', (req, res) => res.sse.send('hi')), { max_connections: 3 });
  const held = [rawGet(port, '/e'), rawGet(port, '/e'), rawGet(port, '/e')];
  await Promise.all(held.map((c) => c.waitFor('data: hi')));
  const refused = rawGet(port, '/e');
  await refused.closed;
  assert.equal(refused.data, '', 'the extra connection got nothing');
  held[0].socket.destroy();
  await held[0].closed;
  await sleep(50);
  const again = rawGet(port, '/e');
  await again.waitFor('data: hi');
  for (const c of [...held, again]) c.socket.destroy();
});

test('a handler that never starts a response gets a 503 at the deadline; SSE streams are never timed out', async (t) => {
  const events = [];
  const { port } = await serve(
    t,
    (s) => {
      s.get('/never', (req, res) => {
        res.on('abort', () => events.push('abort'));
        res.on('close', () => events.push('close'));
      });
      s.get('/e', (req, res) => res.sse.open());
    },
    { handler_timeout_ms: 100 },
  );
  const stream = rawGet(port, '/e');
  await stream.waitFor('\r\n\r\n');
  const res = await request(port, { path: '/never' });
  assert.equal(res.status, 503);
  while (events.length < 2) await sleep(5);
  assert.deepEqual(events, ['abort', 'close']);
  await sleep(150);
  assert.equal(stream.socket.destroyed, false, 'the open stream outlives the handler deadline');
  stream.socket.destroy();
});

test('close({ final_event }) sends a last event to every open stream before ending it', async () => {
  const { hyper } = require('./helpers');
  const s = new hyper.Server();
  let n = 0;
  const both = deferred();
  s.get('/e', (req, res) => {
    res.sse.open();
    if (++n === 2) both.resolve();
  });
  const port = await s.listen(0, '127.0.0.1');
  const clients = [rawGet(port, '/e'), rawGet(port, '/e')];
  await both.promise;
  await Promise.all(clients.map((c) => c.waitFor('\r\n\r\n')));
  await s.close({ timeout: 1000, final_event: { event: 'bye', data: { reason: 'shutdown' } } });
  for (const c of clients) {
    await c.closed;
    assert.match(c.data, /event: bye\ndata: \{"reason":"shutdown"\}\n\n$/);
    assert.ok(c.eof, 'ended with a FIN after the final event');
  }
});

test('a full dispatch queue answers 503 at once while JS is busy; queued requests are still served', async (t) => {
  const { spawn } = require('child_process');
  const fs = require('fs');
  const os = require('os');
  const path = require('path');
  const { port } = await serve(t, (s) => s.get('/', (req, res) => res.send('ok')), { max_queued_requests: 2 });
  const marker = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hyper-sse-q-')), 'rejected');
  // A separate client process fires 10 requests while this process's JS thread is busy;
  // it leaves a marker file once 8 answers (the 503s) have arrived.
  const client = spawn(
    process.execPath,
    [
      '-e',
      `const http = require('http'); const fs = require('fs'); const codes = [];
       for (let i = 0; i < 10; i++) http.get({ host: '127.0.0.1', port: ${port}, agent: false }, (r) => {
         codes.push(r.statusCode); r.resume();
         if (codes.length === 8) fs.writeFileSync(${JSON.stringify(marker)}, '');
         if (codes.length === 10) console.log(JSON.stringify(codes.sort()));
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  client.stdout.on('data', (d) => (out += d));
  const exited = new Promise((r) => client.on('exit', r));
  // Keep the JS thread busy until the rejections are in: Rust must answer them alone.
  const giveUp = Date.now() + 20000;
  while (!fs.existsSync(marker) && Date.now() < giveUp);
  await exited;
  fs.rmSync(path.dirname(marker), { recursive: true, force: true });
  const codes = JSON.parse(out);
  assert.deepEqual(codes, [200, 200, 503, 503, 503, 503, 503, 503, 503, 503]);
});

test('a huge declared body with no limit set reserves nothing up front: the read fails as incomplete, the server lives', async (t) => {
  const result = deferred();
  const { port } = await serve(
    t,
    (s) => {
      s.post('/b', (req, res) => {
        req.text().then(
          (b) => result.resolve(`read ${b.length}`),
          (e) => result.resolve(e.status),
        );
      });
      s.get('/', (req, res) => res.send('alive'));
    },
    { max_body_length: Infinity },
  );
  const c = rawClient(port).send('POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000000\r\n\r\nabc');
  await sleep(100);
  c.socket.destroy();
  assert.equal(await result.promise, 400);
  assert.equal((await request(port)).body, 'alive');
});
