'use strict';
// An event stream leaves hyper after its head: it goes out close-delimited (no chunked
// framing) on HTTP/1.1 and ends with a FIN. Other streamed bodies stay chunked on a
// connection that lives on.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { serve, rawClient, rawGet, openStream, bodyOf, deferred, sleep, until } = require('./helpers');

/** Splits a raw response into its head and everything after it. */
function split(raw) {
  const end = raw.indexOf('\r\n\r\n');
  return { head: raw.slice(0, end + 2), body: raw.slice(end + 4) };
}

test('an SSE stream is close-delimited on HTTP/1.1: raw event bytes, then a FIN', async (t) => {
  const { port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      res.sse.send('one');
      res.sse.send('ev', 'two');
      setTimeout(() => res.sse.close(), 20);
    }),
  );
  const c = rawGet(port, '/e');
  await c.waitForEnd();
  await c.closed;
  const { head, body } = split(c.data);
  assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(head, /\r\ncontent-type: text\/event-stream\r\n/);
  assert.doesNotMatch(head, /transfer-encoding|content-length/i);
  assert.equal(body, 'data: one\n\nevent: ev\ndata: two\n\n');
  assert.equal(c.eof, true, 'ended by a FIN, not a reset');
});

test('an Express-style event stream (writeHead + write) goes out the same way', async (t) => {
  const { port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' });
      res.write('data: a\n\n');
      res.end('data: b\n\n');
    }),
  );
  const c = rawGet(port, '/e');
  await c.waitForEnd();
  const { head, body } = split(c.data);
  assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
  assert.doesNotMatch(head, /transfer-encoding/i);
  assert.equal(body, 'data: a\n\ndata: b\n\n');
  assert.equal(c.eof, true);
});

test("Node's http client reads it as HTTP/1.1, to the end", async (t) => {
  const { port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      for (let i = 0; i < 100; i++) res.sse.send(String(i), 'n', `event ${i}`);
      res.sse.close();
    }),
  );
  const text = await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/e' }, (res) => {
      assert.equal(res.statusCode, 200);
      assert.equal(res.httpVersion, '1.1');
      assert.equal(res.headers['transfer-encoding'], undefined);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    }).on('error', reject);
  });
  const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  assert.deepEqual(ids, Array.from({ length: 100 }, (_, i) => i));
});

test('a streamed body that is not an event stream stays chunked, and the connection serves the next request', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/file', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write('ab');
      res.end('cd');
    });
    s.get('/next', (req, res) => res.send('next'));
  });
  const c = rawClient(port).send('GET /file HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.waitFor('\r\n0\r\n\r\n');
  assert.match(c.data, /\r\ntransfer-encoding: chunked\r\n/i);
  c.send('GET /next HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.waitFor(/\r\n\r\nnext$/);
  assert.equal(c.eof, false, 'still open');
  c.socket.destroy();
});

test('an HTTP/1.0 client gets an HTTP/1.0 status line and a close-delimited stream', async (t) => {
  const { port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      res.sse.send('x');
      res.sse.close();
    }),
  );
  const c = rawClient(port).send('GET /e HTTP/1.0\r\n\r\n');
  await c.waitForEnd();
  const { head, body } = split(c.data);
  assert.match(head, /^HTTP\/1\.0 200 OK\r\n/);
  assert.equal(body, 'data: x\n\n');
});

test('bytes a client sends after its SSE request are ignored; the stream and its close are unaffected', async (t) => {
  const ready = deferred();
  const closed = deferred();
  const { server, port } = await serve(t, (s) => {
    s.get('/e', (req, res) => {
      res.sse.open();
      res.on('close', () => closed.resolve());
      ready.resolve(res);
    });
    s.get('/other', (req, res) => res.send('should not run'));
  });
  const c = rawClient(port).send('GET /e HTTP/1.1\r\nHost: x\r\n\r\nGET /other HTTP/1.1\r\nHost: x\r\n\r\n');
  const res = await ready.promise;
  await c.waitFor('\r\n\r\n');
  c.send('x'.repeat(64 * 1024)); // more than any buffer: read and dropped
  res.sse.send('still here');
  await c.waitFor('data: still here\n\n');
  res.sse.close();
  await c.waitForEnd();
  await closed.promise;
  assert.doesNotMatch(c.data, /should not run/);
  await sleep(20);
  assert.equal(server.connections, 0, 'the connection is gone once the stream ends');
});

test('a client that sent bytes after its SSE request and then leaves fires close', async (t) => {
  const closed = deferred();
  const { server, port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      res.sse.open();
      res.sse.send('opened');
      res.on('close', () => closed.resolve());
    }),
  );
  // Bytes left to read when the stream starts: read until none are left, then the FIN.
  const c = rawClient(port).send(`GET /e HTTP/1.1\r\nHost: x\r\n\r\n${'x'.repeat(20000)}`);
  await c.waitFor('data: opened\n\n');
  await sleep(50);
  c.socket.end();
  await closed.promise;
  await until(() => server.connections === 0);
  assert.equal(server.connections, 0);
});

test('many streams: each client leaving fires close once and frees its connection', async (t) => {
  const N = 40;
  let opened = 0;
  let closes = 0;
  const allOpen = deferred();
  const allClosed = deferred();
  const { server, port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      res.sse.open();
      res.on('close', () => {
        if (++closes === N) allClosed.resolve();
      });
      if (++opened === N) allOpen.resolve();
    }),
  );
  const clients = Array.from({ length: N }, () => rawGet(port, '/e'));
  await allOpen.promise;
  await Promise.all(clients.map((c) => c.waitFor('\r\n\r\n')));
  assert.equal(server.connections, N);
  clients.forEach((c, i) => (i % 2 ? c.socket.end() : c.socket.resetAndDestroy()));
  await allClosed.promise;
  await sleep(20);
  assert.equal(closes, N);
  assert.equal(server.connections, 0);
});

test('events written straight to the socket and events queued behind it arrive once each, in order', async (t) => {
  const { res, c } = await openStream(t);
  // Bursts (queued behind the first write) separated by pauses (the next first write
  // goes straight out), with payloads big enough that some writes are partial.
  let n = 0;
  for (let burst = 0; burst < 20; burst++) {
    for (let i = 0; i < 50; i++) res.sse.send(String(n), null, `${n++} ${'x'.repeat(i * 40)}`);
    await sleep(burst % 2 ? 8 : 1);
  }
  res.sse.close();
  await c.waitForEnd(10000);
  const ids = [...split(c.data).body.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  assert.deepEqual(ids, Array.from({ length: n }, (_, i) => i));
});

test('a heartbeat does not interrupt a stream that events keep busy', async (t) => {
  const { res, c } = await openStream(t, (r) => r.sse.heartbeat(60));
  for (let i = 0; i < 20; i++) {
    res.sse.send(`tick ${i}`);
    await sleep(15);
  }
  assert.doesNotMatch(split(c.data).body, /^:$/m, 'no comment while events flow every 15 ms');
  await c.waitFor((d) => /^:$/m.test(split(d).body), 2000);
  res.sse.close();
});

test('a publish to more streams than the direct-write budget reaches each one once, in order', async (t) => {
  const N = 1200; // above the 1024 writes per 10 ms that may go straight to sockets
  let opened = 0;
  const allOpen = deferred();
  const { server, port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      s.channel('all').subscribe(res);
      if (++opened === N) allOpen.resolve();
    }),
  );
  const clients = [];
  for (let i = 0; i < N; i++) clients.push(rawGet(port, '/e'));
  t.after(() => clients.forEach((c) => c.socket.destroy()));
  await allOpen.promise;
  await Promise.all(clients.map((c) => c.waitFor('\r\n\r\n')));
  const ch = server.channel('all');
  for (const data of ['one', 'two', 'three']) assert.equal(ch.publish(data), N);
  await Promise.all(clients.map((c) => c.waitFor('data: three\n\n')));
  for (const c of clients) assert.equal(split(c.data).body, 'data: one\n\ndata: two\n\ndata: three\n\n');
});

// A request body nobody reads keeps hyper reading the request: such a stream stays in
// hyper (chunked) instead of waiting forever to leave it.
const UNREAD_BODIES = {
  'a 300 KB body': ['Content-Length: 300000\r\n', 'x'.repeat(300000)],
  'a body not sent yet': ['Content-Length: 10\r\n', ''],
  'a chunked body still open': ['Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n'],
  'Expect: 100-continue': ['Content-Length: 5\r\nExpect: 100-continue\r\n', ''],
};
for (const [name, [headers, body]] of Object.entries(UNREAD_BODIES)) {
  test(`an Express-style event stream for a POST with ${name}, never read: events flow, and the client leaving fires close once`, async (t) => {
    const closes = [];
    const opened = deferred();
    const { server, port } = await serve(t, (s) =>
      s.post('/e', (req, res) => {
        res.on('close', () => closes.push(1));
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.write('data: first\n\n');
        opened.resolve(res);
      }),
      // Above the 300 KB body: a declared length over the limit never reaches the handler.
      { max_body_length: 1_000_000 },
    );
    const c = rawClient(port).send(`POST /e HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n${body}`);
    const res = await opened.promise;
    await c.waitFor('first');
    res.write('data: second\n\n');
    await c.waitFor('second');
    c.socket.destroy();
    await until(() => closes.length > 0 && server.connections === 0);
    await sleep(50);
    assert.equal(closes.length, 1, 'close fired once');
    assert.equal(server.connections, 0);
    assert.equal(server.stats().streams, 0);
    assert.doesNotMatch(c.data, /100 Continue/, 'no interim response inside the stream');
  });
}

test('a handler that opens the stream first and reads the body after gets the body', async (t) => {
  const { port } = await serve(t, (s) =>
    s.post('/e', async (req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('data: opened\n\n');
      const body = await req.text();
      res.end(`data: got ${body.length}\n\n`);
    }),
  );
  const c = rawClient(port).send('POST /e HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 200000\r\n\r\n');
  await c.waitFor('opened');
  c.send('y'.repeat(200000));
  await c.waitForEnd();
  assert.match(bodyOf(c.data), /data: opened\n\ndata: got 200000\n\n/);
});

test('a POST whose body the handler read first streams close-delimited like a GET', async (t) => {
  const { port } = await serve(t, (s) =>
    s.post('/e', async (req, res) => {
      const body = await req.json();
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(`data: hi ${body.name}\n\n`);
      res.end();
    }),
  );
  const payload = JSON.stringify({ name: 'ada' });
  const c = rawClient(port).send(`POST /e HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n${payload}`);
  await c.waitForEnd();
  const { head, body } = split(c.data);
  assert.doesNotMatch(head, /transfer-encoding/i);
  assert.equal(body, 'data: hi ada\n\n');
  assert.equal(c.eof, true);
});

test('a body larger than max_body_length under an open stream: the read gets a 413, the stream goes on', async (t) => {
  const { port } = await serve(
    t,
    (s) =>
      s.post('/e', async (req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.write('data: opened\n\n');
        await sleep(300); // the body is read early, before JS asks
        const status = await req.text().then(
          (text) => `read ${text.length}`,
          (e) => `failed ${e.status ?? e.statusCode}`,
        );
        res.write(`data: ${status}\n\n`);
        res.end();
      }),
    { max_body_length: 1000 },
  );
  // Chunked: a declared length over the limit would be refused before the handler runs.
  const c = rawClient(port).send('POST /e HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n');
  t.after(() => c.socket.destroy());
  await c.waitFor('opened');
  c.send('1388\r\n' + 'z'.repeat(5000) + '\r\n0\r\n\r\n');
  await c.waitForEnd();
  assert.match(c.data, /\r\ntransfer-encoding: chunked\r\n/, 'the body was unread when the stream opened');
  assert.match(bodyOf(c.data), /data: opened\n\ndata: failed 413\n\n/);
});

test('a body read early under a stream is kept for a later req.text()', async (t) => {
  const { port } = await serve(t, (s) =>
    s.post('/e', async (req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('data: opened\n\n');
      await sleep(200);
      res.end(`data: ${await req.text()}\n\n`);
    }),
  );
  const c = rawClient(port).send('POST /e HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello');
  await c.waitForEnd();
  assert.match(bodyOf(c.data), /data: opened\n\ndata: hello\n\n/);
});

test('a body JS asked for arrives even after the response was sent', async (t) => {
  const got = deferred();
  const { port } = await serve(t, (s) =>
    s.post('/p', (req, res) => {
      req.text().then(got.resolve, got.reject);
      res.send('ok');
    }),
  );
  const c = rawClient(port).send('POST /p HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n');
  await c.waitFor('ok');
  c.send('0123456789');
  assert.equal(await got.promise, '0123456789');
});

test('under a stream, a client that leaves while JS reads its body fires close once', async (t) => {
  const closes = [];
  const read = deferred();
  const { server, port } = await serve(t, (s) =>
    s.post('/e', (req, res) => {
      res.on('close', () => closes.push(1));
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('data: opened\n\n');
      req.text().then(read.resolve, (e) => read.resolve(e.status));
    }),
  );
  const c = rawClient(port).send('POST /e HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nabc');
  await c.waitFor('opened');
  c.socket.destroy();
  assert.equal(await read.promise, 400, 'the read fails: the body broke off');
  await until(() => closes.length > 0 && server.connections === 0);
  await sleep(50);
  assert.equal(closes.length, 1);
  assert.equal(server.connections, 0);
});

test('under a stream, a chunked body past the limit gives JS a 413 at once; the stream goes on and its close still fires', async (t) => {
  const closes = [];
  const status = deferred();
  const { server, port } = await serve(
    t,
    (s) =>
      s.post('/e', (req, res) => {
        res.on('close', () => closes.push(1));
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.write('data: opened\n\n');
        req.text().then(
          () => status.resolve('read'),
          (e) => {
            status.resolve(e.status);
            res.write('data: too large\n\n');
          },
        );
      }),
    { max_body_length: 100 },
  );
  const c = rawClient(port).send('POST /e HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n');
  await c.waitFor('opened');
  c.send(`c8\r\n${'q'.repeat(200)}\r\n`); // 200 bytes, the body still open
  assert.equal(await status.promise, 413);
  await c.waitFor('too large');
  c.socket.destroy();
  await until(() => closes.length > 0 && server.connections === 0);
  await sleep(50);
  assert.equal(closes.length, 1);
  assert.equal(server.connections, 0);
});
