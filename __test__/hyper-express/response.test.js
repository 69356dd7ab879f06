'use strict';
// HyperExpress's Response members (issue 12): cookie(), status text on the wire, vary(),
// stream(), attachment()/download()/file(), HEAD with a Content-Length, write() callbacks
// under backpressure, and one event larger than stream_max_buffer.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const net = require('net');
const { Readable } = require('stream');
const { serve, request, rawClient, rawGet, bodyOf, deferred, until } = require('../helpers');

test('cookie(): one Set-Cookie per name (the last call wins), null deletes, a secret signs', async (t) => {
  const { port } = await serve(t, (s) =>
    s.get('/', (req, res) => {
      res.cookie('a', 'first').cookie('a', 'second', 60_000);
      res.cookie('gone', null);
      res.cookie('signed', 'v', undefined, { secret: 'k', path: '/' });
      res.send('ok');
    }),
  );
  const r = await request(port);
  const set = r.headers['set-cookie'];
  assert.equal(set.length, 3);
  assert.match(set[0], /^a=second; Max-Age=60; Path=\/; Expires=.*; Secure; SameSite=None$/);
  assert.match(set[1], /^gone=; Max-Age=0$/);
  const signedValue = /^signed=([^;]+); Path=\/$/.exec(set[2])[1];
  assert.equal(require('cookie-signature').unsign(signedValue, 'k'), 'v');
});

test('status(code, message) and statusMessage put that reason phrase on the wire, any 3-digit code included', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/a', (req, res) => res.status(200, 'Some Message').send());
    s.get('/b', (req, res) => {
      res.statusMessage = 'User Moved to Another Server';
      res.status(609).send();
    });
    s.get('/stream', (req, res) => {
      res.writeHead(202, 'Working On It', { 'content-type': 'text/plain' });
      res.end('x');
    });
    s.get('/bad', (req, res) => {
      try {
        res.statusMessage = 'evil\r\nx-injected: 1';
      } catch (e) {
        return res.status(400).send(e.code);
      }
      res.send('accepted');
    });
  });
  for (const [p, line] of [['/a', 'HTTP/1.1 200 Some Message'], ['/b', 'HTTP/1.1 609 User Moved to Another Server'], ['/stream', 'HTTP/1.1 202 Working On It']]) {
    const c = rawGet(port, p);
    await c.waitFor('\r\n\r\n');
    assert.equal(c.data.split('\r\n')[0], line);
    c.socket.destroy();
  }
  assert.deepEqual(Object.values(await request(port, { path: '/bad' })).slice(0, 1), [400]);
});

test('vary() adds a name once; a HEAD reply keeps the handler\'s Content-Length', async (t) => {
  const { port } = await serve(t, (s) =>
    s.get('/', (req, res) => {
      res.vary('Accept').vary('accept').vary('Origin');
      res.header('content-length', '1234');
      res.send();
    }),
  );
  const c = rawClient(port).send('HEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
  t.after(() => c.socket.destroy());
  await c.waitFor('\r\n\r\n');
  assert.match(c.data, /\r\nvary: Accept, Origin\r\n/i);
  assert.match(c.data, /\r\ncontent-length: 1234\r\n/i);
});

test('stream(readable, total_size): with a size a Content-Length, without one chunked; every byte arrives', async (t) => {
  const data = crypto.randomBytes(900_000);
  const { port } = await serve(t, (s) => {
    s.get('/sized', (req, res) => res.stream(Readable.from([data.subarray(0, 300_000), data.subarray(300_000)]), data.length));
    s.get('/chunked', (req, res) => res.stream(Readable.from([data.subarray(0, 300_000), data.subarray(300_000)])));
  });
  for (const p of ['/sized', '/chunked']) {
    const r = await fetch(`http://127.0.0.1:${port}${p}`);
    const got = Buffer.from(await r.arrayBuffer());
    assert.ok(got.equals(data), p);
    if (p === '/sized') assert.equal(r.headers.get('content-length'), String(data.length));
    else assert.equal(r.headers.get('transfer-encoding'), 'chunked');
  }
});

test('file(), attachment() and download(): content type from the extension, the length, the disposition', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyper-sse-file-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'page.html');
  fs.writeFileSync(file, '<h1>hello</h1>');
  const { port } = await serve(t, (s) => {
    s.get('/file', (req, res) => res.file(file));
    s.get('/download', (req, res) => res.download(file, 'saved.html'));
    s.get('/missing', (req, res) => res.file(path.join(dir, 'nope.html')));
    s.set_error_handler((req, res, err) => res.status(404).send(err.code));
  });
  const f = await request(port, { path: '/file' });
  assert.deepEqual([f.headers['content-type'], f.headers['content-length'], f.body], ['text/html; charset=utf-8', '14', '<h1>hello</h1>']);
  const d = await request(port, { path: '/download' });
  assert.equal(d.headers['content-disposition'], 'attachment; filename="saved.html"');
  assert.equal(d.body, '<h1>hello</h1>');
  assert.deepEqual(Object.values(await request(port, { path: '/missing' })).slice(0, 1), [404]);
});

test('write(chunk, cb) under backpressure: false and a drain, the callback after it, never an error; a Readable piped in arrives whole', async (t) => {
  const data = crypto.randomBytes(8 * 1024 * 1024);
  const callbacks = [];
  const done = deferred();
  const { port } = await serve(t, (s) => {
    s.get('/burst', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let sawFalse = false;
      let pending = 0;
      for (let at = 0; at < data.length; at += 256 * 1024) {
        pending++;
        const ok = res.write(data.subarray(at, at + 256 * 1024), (err) => {
          callbacks.push(err ? err.message : 'ok');
          if (--pending === 0) res.end();
        });
        if (!ok) sawFalse = true;
      }
      done.resolve(sawFalse);
    });
    s.get('/piped', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      Readable.from((function* () {
        for (let at = 0; at < data.length; at += 64 * 1024) yield data.subarray(at, at + 64 * 1024);
      })()).pipe(res);
    });
  }, { stream_max_buffer: 64 * 1024 * 1024 }); // the burst ignores backpressure: let it queue
  const burst = await fetch(`http://127.0.0.1:${port}/burst`);
  assert.ok(Buffer.from(await burst.arrayBuffer()).equals(data));
  assert.equal(await done.promise, true, 'the burst met backpressure');
  assert.ok(callbacks.length === 32 && callbacks.every((c) => c === 'ok'), `callbacks: ${[...new Set(callbacks)]}`);
  const piped = await fetch(`http://127.0.0.1:${port}/piped`);
  assert.ok(Buffer.from(await piped.arrayBuffer()).equals(data));
});

test('one event larger than stream_max_buffer reaches a client that is not behind; one that never reads is still cut off', async (t) => {
  const big = 'x'.repeat(2 * 1024 * 1024);
  const opened = [];
  const { server, port } = await serve(
    t,
    (s) =>
      s.get('/e', (req, res) => {
        res.sse.open();
        opened.push(res);
      }),
    { stream_max_buffer: 1024 * 1024 },
  );
  const c = rawGet(port, '/e');
  t.after(() => c.socket.destroy());
  await until(() => opened.length === 1);
  await c.waitFor('\r\n\r\n');
  opened[0].sse.send(big);
  opened[0].sse.send('after');
  await c.waitFor('data: after\n\n', 10000);
  assert.equal(bodyOf(c.data), `data: ${big}\n\ndata: after\n\n`);
  assert.equal(server.stats().slow_client_disconnects, 0);

  // A client that never reads: the bound still holds.
  const stalled = net.connect(port, '127.0.0.1');
  t.after(() => stalled.destroy());
  stalled.on('error', () => {});
  stalled.write('GET /e HTTP/1.1\r\nHost: x\r\n\r\n');
  stalled.pause();
  await until(() => opened.length === 2);
  const res = opened[1];
  const closed = new Promise((r) => res.on('close', r));
  for (let i = 0; i < 200 && !res.completed; i++) {
    res.sse.send('y'.repeat(256 * 1024));
    await new Promise((r) => setImmediate(r));
  }
  await closed;
  assert.equal(server.stats().slow_client_disconnects, 1);
});

test('a status message with a control character is refused where it is set, and the server lives on', async (t) => {
  const { port } = await serve(t, (s) =>
    s.get('/', (req, res) => {
      try {
        res.status(200, 'x\x01y');
      } catch (e) {
        return res.status(400).send(e.code);
      }
      res.send('accepted');
    }),
  );
  const r = await request(port);
  assert.deepEqual([r.status, r.body], [400, 'ERR_INVALID_CHAR']);
  assert.equal((await request(port)).status, 400, 'still serving');
});

test('an error after the head went out cuts the response off: a chunked body never ends as if complete', async (t) => {
  const { port } = await serve(t, (s) =>
    s.get('/broken', (req, res) => {
      const source = new Readable({ read() {} });
      res.stream(source);
      source.push('partial');
      setTimeout(() => source.destroy(new Error('disk failed')), 20);
    }),
  );
  const c = rawGet(port, '/broken');
  t.after(() => c.socket.destroy());
  await c.closed;
  assert.match(c.data, /\r\n7\r\npartial\r\n/);
  assert.ok(!c.data.endsWith('\r\n0\r\n\r\n'), 'no final chunk: the client sees a cut body');
});

test('write() callbacks keep the order of their writes; one after end() gets an error; stream() leaves no listeners behind', async (t) => {
  const order = [];
  const done = deferred();
  const { port } = await serve(
    t,
    (s) => {
      s.get('/order', (req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.write(Buffer.alloc(256 * 1024), () => order.push('A'));
        res.write('b', () => order.push('B'));
        res.end();
        res.write('late', (err) => {
          order.push(err ? `late: ${err.message}` : 'late ok');
          done.resolve();
        });
      });
      s.get('/big', async (req, res) => {
        await res.stream(Readable.from((function* () {
          for (let i = 0; i < 64; i++) yield Buffer.alloc(256 * 1024, i);
        })()));
        order.push(`close listeners ${res.listenerCount('close')}, drain listeners ${res.listenerCount('drain')}`);
      });
    },
    { stream_high_water_mark: 16 * 1024 },
  );
  await fetch(`http://127.0.0.1:${port}/order`).then((r) => r.arrayBuffer());
  await done.promise;
  await until(() => order.length >= 3);
  assert.deepEqual(order.filter((o) => o !== 'late: write after end'), ['A', 'B'], 'in write order');
  assert.ok(order.includes('late: write after end'));
  const big = await fetch(`http://127.0.0.1:${port}/big`).then((r) => r.arrayBuffer());
  assert.equal(big.byteLength, 64 * 256 * 1024);
  await until(() => order.length === 4);
  assert.match(order[3], /^close listeners [01], drain listeners 0$/);
});
