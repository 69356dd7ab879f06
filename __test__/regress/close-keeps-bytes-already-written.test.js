'use strict';
// Issue 16.7: ending a connection while the client had sent bytes the server never
// read made the kernel answer with a reset, which destroyed response bytes still on
// their way (an event stream's last events; a large reply before a refused request).
// Connections now close in stages: FIN first, then the client's bytes are read and
// dropped until it closes (bounded in time).
const test = require('node:test');
const assert = require('node:assert/strict');
const { serve, rawClient, request, bodyOf, deferred, sleep, until } = require('../helpers');

test('sse.close() with a pipelined request unread: every event arrives whole, then a clean FIN', async (t) => {
  const ready = deferred();
  const { server, port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      res.sse.open();
      ready.resolve(res);
    }),
  );
  const c = rawClient(port);
  t.after(() => c.socket.destroy());
  c.send('GET /e HTTP/1.1\r\nHost: x\r\n\r\n');
  const res = await ready.promise;
  await c.waitFor('\r\n\r\n');
  c.socket.pause();
  const payload = 'x'.repeat(16 * 1024);
  for (let i = 0; i < 50; i++) res.sse.send(String(i), 'n', payload);
  await sleep(50); // the events fill the socket buffers while the client is not reading
  res.sse.close();
  await sleep(50); // the stream's task has handed its last bytes to the kernel
  // Bytes the server will not answer: a pipelined request, after the stream ended.
  c.send('GET /e HTTP/1.1\r\nHost: x\r\n\r\n');
  await sleep(100);
  c.socket.resume();
  await c.waitForEnd(10000);
  assert.equal(c.eof, true, 'the stream ended with a FIN, not a reset');
  const events = bodyOf(c.data).split('\n\n').slice(0, -1);
  assert.equal(events.length, 50, `all 50 events arrived (got ${events.length})`);
  events.forEach((e, i) => assert.equal(e, `id: ${i}\nevent: n\ndata: ${payload}`));
  assert.equal(server.stats().bytes_written >= c.data.length - c.data.indexOf('\r\n\r\n') - 4, true);
});

test('a 1 MiB reply, then a pipelined POST over the body limit: the reply arrives whole and the 413 follows', async (t) => {
  const big = 'b'.repeat(1024 * 1024);
  const { port } = await serve(
    t,
    (s) => {
      s.get('/big', (req, res) => res.send(big));
      s.post('/upload', async (req, res) => res.json(await req.json()));
    },
    { max_body_length: 1024 },
  );
  const c = rawClient(port);
  t.after(() => c.socket.destroy());
  c.socket.pause();
  c.send('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
  c.send('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n' + '{'.repeat(256 * 1024));
  await sleep(300);
  c.socket.resume();
  await c.waitFor((d) => c.eof || /HTTP\/1\.1 413 [^]*\r\n\r\n/.test(d), 10000);
  await c.waitFor(() => c.eof, 10000).catch(() => {});
  const first = c.data.indexOf('\r\n\r\n') + 4;
  assert.equal(c.data.slice(first, first + big.length), big, 'the 1 MiB reply is whole');
  assert.match(c.data.slice(first + big.length), /^HTTP\/1\.1 413 /, 'the 413 follows it');
});

/** A client that keeps its side open after the server's FIN (half-open), after one GET. */
async function halfOpenClient(port) {
  const socket = require('net').connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => {});
  let data = '';
  socket.on('data', (d) => (data += d));
  await new Promise((r) => socket.on('connect', r));
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await until(() => data.includes('hi'));
  return socket;
}

test('a lingering connection takes no max_connections slot, and close({ timeout: 0 }) does not wait for it', async (t) => {
  const { server, port } = await serve(t, (s) => s.get('/', (req, res) => res.send('hi')), { max_connections: 2 });
  const lingering = [await halfOpenClient(port), await halfOpenClient(port)];
  t.after(() => lingering.forEach((s) => s.destroy()));
  await until(() => server.connections === 0);
  assert.equal(server.connections, 0, 'closing connections are not counted as open');
  const third = await request(port, { path: '/' });
  assert.equal(third.body, 'hi', 'a new client is served while two connections linger');
  const started = Date.now();
  await server.close({ timeout: 0 });
  assert.ok(Date.now() - started < 1000, `close({ timeout: 0 }) took ${Date.now() - started} ms`);
});
