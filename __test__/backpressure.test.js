'use strict';
// Slow clients: unsent bytes per stream are bounded. Writes report backpressure
// (false) above the high-water mark and 'drain' follows; past the hard limit a client
// is disconnected (default) or has events dropped, and other clients keep receiving.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const { serve, deferred, sleep } = require('./helpers');

/** A client that sends its request and then never reads. */
function stalledClient(port, path) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  socket.pause();
  return socket;
}

test('write() returns false above the high-water mark, drain follows, nothing is lost', async (t) => {
  const ready = deferred();
  const { port } = await serve(
    t,
    (s) =>
      s.get('/big', (req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.flushHeaders();
        ready.resolve(res);
      }),
    { stream_high_water_mark: 64 * 1024, stream_max_buffer: 64 * 1024 * 1024 },
  );
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  let received = 0;
  socket.on('data', (d) => (received += d.length));
  socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
  const res = await ready.promise;
  socket.pause();
  const chunk = Buffer.alloc(64 * 1024, 'a');
  let written = 0;
  let sawFalse = false;
  for (let i = 0; i < 2000 && !sawFalse; i++) {
    const ok = res.write(chunk);
    written += chunk.length;
    if (!ok) sawFalse = true;
    if (i % 16 === 15) await sleep(1); // let the socket fill
  }
  assert.equal(sawFalse, true, 'a paused client makes write() report backpressure');
  const drained = new Promise((r) => res.once('drain', r));
  let tail = '';
  socket.on('data', (d) => (tail = (tail + d.toString('latin1')).slice(-16)));
  socket.resume();
  await drained;
  res.end();
  while (!tail.endsWith('\r\n0\r\n\r\n')) await sleep(5);
  assert.ok(received > written, `received ${received} bytes for ${written} written (plus framing)`);
});

test('a client that never reads is cut off past the limit; memory stays bounded; others keep receiving', async (t) => {
  const opened = [];
  const stalledClosed = deferred();
  const { server, port } = await serve(
    t,
    (s) =>
      s.get('/feed', (req, res) => {
        const ch = s.channel('firehose');
        ch.subscribe(res);
        const events = [];
        res.on('abort', () => events.push('abort'));
        res.on('close', () => {
          events.push('close');
          if (req.query.who === 'stalled') stalledClosed.resolve(events);
        });
        opened.push(req.query.who);
      }),
    { stream_max_buffer: 256 * 1024 },
  );
  const stalled = stalledClient(port, '/feed?who=stalled');
  t.after(() => stalled.destroy());
  // The reading client counts events as they arrive (keeping only a short tail).
  const reader = net.connect(port, '127.0.0.1');
  t.after(() => reader.destroy());
  let received = 0;
  let carry = '';
  let sawLast = false;
  reader.on('data', (d) => {
    const text = carry + d.toString('latin1');
    received += text.split('id: ').length - 1;
    if (text.includes('id: last\n')) sawLast = true;
    carry = text.slice(-3);
  });
  reader.write('GET /feed?who=reader HTTP/1.1\r\nHost: x\r\n\r\n');
  while (opened.length < 2) await sleep(5);

  const ch = server.channel('firehose');
  const payload = 'x'.repeat(8 * 1024);
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  const total = 8000; // 64 MiB offered to a client that never reads
  const burst = 16; // 128 KiB: the reading client keeps up between bursts
  for (let i = 0; i < total; i++) {
    ch.publish({ id: String(i), data: payload });
    if (i % burst === burst - 1) {
      while (received < i + 1) await sleep(1);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
  }
  ch.publish({ id: 'last', data: 'last' });
  const events = await stalledClosed.promise;
  assert.deepEqual(events, ['abort', 'close']);
  while (!sawLast) await sleep(5);
  assert.equal(received, total + 1, 'the reading client got every event');
  const st = server.stats();
  assert.equal(st.slow_client_disconnects, 1);
  const growthMiB = (peakRss - rssBefore) / 2 ** 20;
  t.diagnostic(`RSS growth while offering 64 MiB to a stalled client: ${growthMiB.toFixed(1)} MiB`);
  assert.ok(growthMiB < 48, `RSS grew by ${growthMiB.toFixed(1)} MiB`);
});

test("slow_client: 'drop' keeps the client and counts what it missed", async (t) => {
  const got = deferred();
  const { server, port } = await serve(
    t,
    (s) =>
      s.get('/feed', (req, res) => {
        s.channel('d').subscribe(res);
        got.resolve(res);
      }),
    { stream_max_buffer: 64 * 1024, slow_client: 'drop' },
  );
  const stalled = stalledClient(port, '/feed');
  t.after(() => stalled.destroy());
  const res = await got.promise;
  const ch = server.channel('d');
  const payload = 'y'.repeat(16 * 1024);
  for (let i = 0; i < 2000; i++) {
    ch.publish(payload);
    if (i % 50 === 49) await sleep(1);
  }
  const st = server.stats();
  assert.ok(st.events_dropped > 0, 'some events were dropped');
  assert.equal(st.slow_client_disconnects, 0);
  assert.equal(res.completed, false, 'the client is still connected');
  assert.equal(ch.size, 1);
  stalled.destroy(); // so close() need not wait out its timeout for this client
});

test('invalid slow_client option is a clear error', () => {
  const { Server } = require('..');
  assert.throws(() => new Server({ slow_client: 'explode' }), /slow_client/);
});
