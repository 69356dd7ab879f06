'use strict';
// HyperExpress's body limits (issue 12): a declared length over max_body_length gets
// 413 before the handler runs; a chunked body past it gets 413 once drained; a route's
// own max_body_length is honoured; an early reply never leaves a client still sending
// with a reset (EPIPE).
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const { serve, until } = require('../helpers');

/** Sends a whole request (head and body, `Connection: close`) on a raw socket; resolves with the response text and how the connection ended. */
function exchange(port, head, body) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    let error = null;
    socket.setEncoding('latin1');
    socket.on('data', (d) => (data += d));
    socket.on('error', (e) => (error = e.code));
    socket.on('close', () => resolve({ data, error }));
    // No half-close: clients keep their side open until the reply (hyper treats a
    // client's FIN as the client leaving, as most servers do).
    socket.write(head);
    socket.write(body);
    socket.setTimeout(5000, () => socket.destroy());
  });
}

/** POSTs `count` chunks of `size` bytes with chunked transfer (see `exchange`). */
function postChunked(port, path, count, size) {
  const chunk = `${size.toString(16)}\r\n${'x'.repeat(size)}\r\n`;
  return exchange(port, `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`, chunk.repeat(count) + '0\r\n\r\n');
}

test('a declared length over max_body_length: 413, the handler never runs, the client finishes sending without a reset', async (t) => {
  let ran = 0;
  const { port } = await serve(
    t,
    (s) => {
      s.post('/up', async (req, res) => {
        ran++;
        res.send(String((await req.buffer()).length));
      });
      s.post('/big', { max_body_length: 4_000_000 }, async (req, res) => res.send(String((await req.buffer()).length)));
    },
    { max_body_length: 1000 },
  );
  const body = Buffer.alloc(3_000_000, 0x61);
  const r = await exchange(port, `POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, body);
  assert.match(r.data, /^HTTP\/1\.1 413 /);
  assert.equal(r.error, null, 'no EPIPE or reset while the client was still sending');
  assert.equal(ran, 0, 'the handler never ran');
  // The route's own limit is larger.
  const ok = await exchange(port, `POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, body);
  assert.match(ok.data, /^HTTP\/1\.1 200 [^]*\r\n\r\n3000000$/);
});

test('a chunked body past max_body_length gets 413 once it is drained; the handler hears the 413 too', async (t) => {
  const heard = [];
  const { port } = await serve(
    t,
    (s) =>
      s.post('/up', async (req, res) => {
        try {
          await req.json();
        } catch (e) {
          heard.push(e.status);
        }
      }),
    { max_body_length: 1000 },
  );
  const r = await postChunked(port, '/up', 50, 10_000);
  assert.match(r.data, /^HTTP\/1\.1 413 /);
  assert.equal(r.error, null);
  await until(() => heard.length === 1);
  assert.deepEqual(heard, [413]);
});

test('an early reply (before the body is read) reaches a client still sending, with no reset', async (t) => {
  const { port } = await serve(t, (s) => s.post('/early', (req, res) => res.status(401).send('no')), { max_body_length: 10_000_000 });
  const body = Buffer.alloc(5_000_000, 0x62);
  const r = await exchange(port, `POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, body);
  assert.match(r.data, /^HTTP\/1\.1 401 [^]*\r\n\r\nno$/);
  assert.equal(r.error, null);
});

test('a streamed body past the limit: for await throws the 413 error itself, and the client gets 413', async (t) => {
  const caught = [];
  const { port } = await serve(
    t,
    (s) =>
      s.post('/up', async (req, res) => {
        try {
          for await (const chunk of req) void chunk;
        } catch (e) {
          caught.push(e.status);
        }
      }),
    { max_body_length: 1000 },
  );
  const r = await postChunked(port, '/up', 20, 1000);
  assert.match(r.data, /^HTTP\/1\.1 413 /);
  await until(() => caught.length === 1);
  assert.deepEqual(caught, [413]);
});
