'use strict';
// HyperExpress's Request members (issue 12): cookies, sign/unsign, proxy_ip, app, and
// the request as a stream.Readable of its body, streamed from Rust with backpressure;
// multipart() with busboy.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const net = require('net');
const { Readable, Writable, pipeline } = require('stream');
const { hyper, serve, request, deferred, sleep, until } = require('../helpers');

test('req.cookies parses the Cookie header; sign() and unsign() round-trip, a forged value gives undefined', async (t) => {
  const { port } = await serve(t, (s) =>
    s.get('/', (req, res) => {
      const signed = req.sign('value', 'secret');
      res.json({
        cookies: req.cookies,
        back: req.unsign(signed, 'secret'),
        wrongSecret: req.unsign(signed, 'other') ?? null,
        forged: req.unsign('value.forged', 'secret') ?? null,
        proxy_ip: req.proxy_ip,
      });
    }),
  );
  const r = JSON.parse((await request(port, { headers: { cookie: 'a=1; session=x%20y' } })).body);
  assert.deepEqual(r, { cookies: { a: '1', session: 'x y' }, back: 'value', wrongSecret: null, forged: null, proxy_ip: '' });
});

/** POSTs `body` in pieces of `piece` bytes over a raw socket (chunked when `chunked`). */
function upload(port, path, body, { chunked = false, piece = 65536 } = {}) {
  const socket = net.connect(port, '127.0.0.1');
  let data = '';
  socket.setEncoding('latin1');
  socket.on('data', (d) => (data += d));
  const head = `POST ${path} HTTP/1.1\r\nHost: x\r\n${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`}\r\n\r\n`;
  socket.write(head);
  for (let at = 0; at < body.length; at += piece) {
    const part = body.subarray(at, at + piece);
    socket.write(chunked ? Buffer.concat([Buffer.from(part.length.toString(16) + '\r\n'), part, Buffer.from('\r\n')]) : part);
  }
  if (chunked) socket.write('0\r\n\r\n');
  return { socket, response: () => until(() => /\r\n\r\n[^]*$/.test(data) && data.includes('\r\n\r\n'), 10000).then(() => data) };
}

test("the request is a Readable: on('data'), pipe() and for await see every byte, chunked or sized", async (t) => {
  const body = crypto.randomBytes(3_000_000);
  const md5 = crypto.createHash('md5').update(body).digest('hex');
  const { port } = await serve(
    t,
    (s) => {
      s.post('/data', (req, res) => {
        const h = crypto.createHash('md5');
        req.on('data', (c) => h.update(c));
        req.on('end', () => res.send(h.digest('hex')));
      });
      s.post('/pipe', (req, res) => {
        const h = crypto.createHash('md5');
        pipeline(req, new Writable({ write: (c, e, cb) => (h.update(c), cb()) }), (err) => res.send(err ? err.message : h.digest('hex')));
      });
      s.post('/iter', async (req, res) => {
        assert.ok(req instanceof Readable);
        const h = crypto.createHash('md5');
        for await (const c of req) h.update(c);
        res.send(h.digest('hex'));
      });
    },
    { max_body_length: 10_000_000 },
  );
  for (const path of ['/data', '/pipe', '/iter']) {
    for (const chunked of [false, true]) {
      const u = upload(port, path, body, { chunked });
      t.after(() => u.socket.destroy());
      const raw = await u.response();
      await until(() => raw.endsWith(md5) || u.socket.destroyed, 100);
      assert.ok((await u.response()).endsWith(md5), `${path} chunked=${chunked}`);
    }
  }
});

test('backpressure: while the handler has paused the request, the body is not read, so the client stalls; resume gets it all', async (t) => {
  const body = crypto.randomBytes(32 * 1024 * 1024);
  const paused = deferred();
  let resume;
  const { port } = await serve(
    t,
    (s) =>
      s.post('/slow', (req, res) => {
        const h = crypto.createHash('md5');
        let n = 0;
        req.on('data', (c) => {
          h.update(c);
          n += c.length;
          if (resume === undefined && n > 1024 * 1024) {
            req.pause();
            resume = () => req.resume();
            paused.resolve(n);
          }
        });
        req.on('end', () => res.send(`${n} ${h.digest('hex')}`));
      }),
    { max_body_length: 64 * 1024 * 1024 },
  );
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  let data = '';
  socket.on('data', (d) => (data += d));
  await new Promise((r) => socket.on('connect', r));
  socket.write(`POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
  socket.write(body);
  await paused.promise;
  await sleep(300);
  // Kernel buffers take a few MB at most: the rest waits in the client.
  assert.ok(socket.writableLength > 16 * 1024 * 1024, `the client still holds ${socket.writableLength} bytes: the server stopped reading`);
  resume();
  await until(() => data.includes('\r\n\r\n') && data.endsWith(crypto.createHash('md5').update(body).digest('hex')), 20000);
  assert.ok(data.endsWith(`${body.length} ${crypto.createHash('md5').update(body).digest('hex')}`), data.slice(-80));
});

test('multipart(): fields and files in order, each handler awaited before the next field', async (t) => {
  const events = [];
  const done = deferred();
  const { port } = await serve(
    t,
    (s) =>
      s.post('/form', async (req, res) => {
        await req.multipart(async (field) => {
          if (field.file) {
            const chunks = [];
            for await (const c of field.file.stream) chunks.push(c);
            events.push(`file ${field.name} ${field.file.name} ${field.mime_type} ${Buffer.concat(chunks).length}`);
          } else {
            await sleep(20);
            events.push(`field ${field.name}=${field.value}`);
          }
        });
        res.send('ok');
        done.resolve();
      }),
    { max_body_length: 10_000_000 },
  );
  const form = new FormData();
  form.append('first', 'one');
  form.append('upload', new Blob([crypto.randomBytes(500_000)], { type: 'application/octet-stream' }), 'data.bin');
  form.append('second', 'two');
  const r = await fetch(`http://127.0.0.1:${port}/form`, { method: 'POST', body: form });
  assert.equal(await r.text(), 'ok');
  await done.promise;
  assert.deepEqual(events, ['field first=one', 'file upload data.bin application/octet-stream 500000', 'field second=two']);
});

test('multipart(): a handler that throws rejects the whole parse', async (t) => {
  const { port } = await serve(t, (s) =>
    s.post('/form', async (req, res) => {
      try {
        await req.multipart(() => {
          throw new Error('no thanks');
        });
        res.send('parsed');
      } catch (e) {
        res.status(400).send(e.message);
      }
    }),
  );
  const form = new FormData();
  form.append('a', '1');
  const r = await fetch(`http://127.0.0.1:${port}/form`, { method: 'POST', body: form });
  assert.deepEqual([r.status, await r.text()], [400, 'no thanks']);
});

test('a client that leaves mid-upload: the request stream says aborted and the response closes at once', async (t) => {
  const events = [];
  const closed = deferred();
  const { port } = await serve(
    t,
    (s) =>
      s.post('/up', (req, res) => {
        req.on('data', () => {});
        req.on('aborted', () => events.push('req aborted'));
        res.on('close', () => {
          events.push('res close');
          closed.resolve();
        });
      }),
    { max_body_length: 100_000_000 },
  );
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n');
  socket.write(Buffer.alloc(100_000));
  await sleep(100);
  const left = Date.now();
  socket.destroy();
  await closed.promise;
  assert.ok(Date.now() - left < 1000, `noticed after ${Date.now() - left} ms`);
  assert.deepEqual(events.sort(), ['req aborted', 'res close']);
});

test('a hyper() (Express) app streams a request body of any size: limits are its parsers\'', async (t) => {
  const app = hyper();
  app.post('/up', (req, res) => {
    let n = 0;
    req.on('data', (c) => (n += c.length));
    req.on('end', () => res.send(String(n)));
  });
  const handle = app.listen(0, '127.0.0.1');
  await new Promise((r) => handle.once('listening', r));
  t.after(() => new Promise((r) => handle.close(r)));
  const r = await fetch(`http://127.0.0.1:${handle.address().port}/up`, { method: 'POST', body: Buffer.alloc(3_000_000) });
  assert.equal(await r.text(), '3000000');
});
