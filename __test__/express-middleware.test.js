'use strict';
// Issue 13's acceptance: one app built from real npm middleware (fixtures/middleware/app.js)
// is run on Express 5 and on hyper-sse, and the same requests must get the same answers
// from both. HYPER_SSE_LIB points the hyper-sse side at another copy (to measure a
// before/after); by default it is this checkout. MIDDLEWARE_ONLY=<text> runs only the
// subtests whose names hold it (one library per process, when an old copy crashes).
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const zlib = require('node:zlib');
const { build } = require('./fixtures/middleware/app');

const TARGETS = {
  'Express 5': () => require('express'),
  'hyper-sse': () => require(process.env.HYPER_SSE_LIB ? path.resolve(process.env.HYPER_SSE_LIB) : '..'),
};

/** A plain node:http upstream for the proxy: echoes method, url and body as JSON. */
async function startUpstream() {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-upstream', 'yes');
      res.end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString() }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** One request (no connection reuse). Resolves { status, headers, body (Buffer), text }. */
function call(port, { method = 'GET', path: p = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: buf, text: buf.toString() });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const json = (r) => JSON.parse(r.text);
const only = process.env.MIDDLEWARE_ONLY;

for (const [name, load] of Object.entries(TARGETS)) {
  test(`npm middleware on ${name}`, async (t) => {
    const express = load();
    const upstream = await startUpstream();
    const { app } = build(express, `http://127.0.0.1:${upstream.address().port}`);
    const server = await new Promise((resolve, reject) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    const port = server.address().port;
    if (only) {
      const run = t.test.bind(t);
      t.test = (title, fn) => run(title, { skip: !title.includes(only) }, fn);
    }
    t.after(async () => {
      await new Promise((resolve) => server.close(resolve));
      if (server.closeAllConnections) server.closeAllConnections();
      upstream.close();
      upstream.closeAllConnections();
    });

    await t.test('body-parser: json, urlencoded, raw, text', async () => {
      let r = await call(port, { method: 'POST', path: '/body/json', headers: { 'content-type': 'application/json' }, body: '{"a":[1,2]}' });
      assert.equal(r.status, 200);
      assert.deepEqual(json(r), { got: { a: [1, 2] } });
      r = await call(port, { method: 'POST', path: '/body/form', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'x=1&y=two+words' });
      assert.deepEqual(json(r), { got: { x: '1', y: 'two words' } });
      r = await call(port, { method: 'POST', path: '/body/raw', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(3000, 7) });
      assert.deepEqual(json(r), { bytes: 3000, isBuffer: true });
      r = await call(port, { method: 'POST', path: '/body/text', headers: { 'content-type': 'text/plain' }, body: 'plain words' });
      assert.deepEqual(json(r), { got: 'plain words' });
      r = await call(port, { method: 'POST', path: '/body/express-raw', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(10) });
      assert.deepEqual(json(r), { bytes: 10 });
    });

    await t.test('body-parser: 413 from Content-Length, 400 for malformed JSON; the server goes on', async () => {
      let r = await call(port, { method: 'POST', path: '/body/json', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(5000) }) });
      assert.equal(r.status, 413);
      assert.deepEqual(json(r), { error: 'entity.too.large' });
      r = await call(port, { method: 'POST', path: '/body/json', headers: { 'content-type': 'application/json' }, body: '{"a":' });
      assert.equal(r.status, 400);
      assert.deepEqual(json(r), { error: 'entity.parse.failed' });
      r = await call(port, { method: 'POST', path: '/body/json', headers: { 'content-type': 'application/json' }, body: '{"ok":true}' });
      assert.deepEqual(json(r), { got: { ok: true } });
    });

    await t.test('body-parser: a client that gives up mid-body; the server goes on', async () => {
      const socket = net.connect(port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write('POST /body/json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"partial":');
      await new Promise((resolve) => setTimeout(resolve, 100));
      socket.destroy();
      // body-parser turns the abort into a 400 'request.aborted' error for the error middleware.
      let log = [];
      for (let i = 0; i < 50 && !log.includes('error 400 request.aborted'); i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        log = json(await call(port, { path: '/log' }));
      }
      assert.ok(log.includes('error 400 request.aborted'), JSON.stringify(log));
      const r = await call(port, { method: 'POST', path: '/body/json', headers: { 'content-type': 'application/json' }, body: '{"after":1}' });
      assert.deepEqual(json(r), { got: { after: 1 } });
    });

    await t.test('multer: a file and a field', async () => {
      const boundary = 'XyZ123';
      const body = [
        `--${boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nmy upload\r\n`,
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\nContent-Type: text/plain\r\n\r\nfile contents here\r\n`,
        `--${boundary}--\r\n`,
      ].join('');
      const r = await call(port, { method: 'POST', path: '/upload', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(json(r), { field: 'my upload', name: 'notes.txt', size: 18, text: 'file contents here' });
    });

    await t.test('express-session + passport-local: log in, then the cookie authenticates', async () => {
      let r = await call(port, { path: '/auth/me' });
      assert.equal(r.status, 401);
      r = await call(port, { method: 'POST', path: '/auth/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=ada&password=wrong' });
      assert.equal(r.status, 302);
      assert.equal(r.headers.location, '/auth/denied');
      r = await call(port, { method: 'POST', path: '/auth/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=ada&password=lovelace' });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(json(r), { user: 'ada' });
      const setCookie = r.headers['set-cookie'];
      assert.ok(setCookie && /^connect\.sid=/.test(setCookie[0]), `Set-Cookie: ${setCookie}`);
      const cookie = setCookie[0].split(';')[0];
      r = await call(port, { path: '/auth/me', headers: { cookie } });
      assert.equal(r.status, 200);
      assert.deepEqual(json(r), { user: 'ada' });
    });

    await t.test('compression: a JSON route compressed', async () => {
      const r = await call(port, { path: '/gz/json', headers: { 'accept-encoding': 'gzip' } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-encoding'], 'gzip');
      assert.match(r.headers.vary, /Accept-Encoding/i);
      const data = JSON.parse(zlib.gunzipSync(r.body).toString());
      assert.equal(data.items.length, 500);
      assert.ok(r.body.length < 2000, `compressed to ${r.body.length} bytes`);
    });

    await t.test('compression: SSE with res.flush() delivers each event at once', async () => {
      const res = await new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/gz/events', headers: { 'accept-encoding': 'gzip' }, agent: false }, resolve).on('error', reject);
      });
      assert.equal(res.headers['content-encoding'], 'gzip');
      assert.match(res.headers['content-type'], /^text\/event-stream/);
      const gunzip = zlib.createGunzip();
      res.pipe(gunzip);
      let text = '';
      const seen = (want) =>
        new Promise((resolve, reject) => {
          const check = () => {
            if (text.includes(want)) {
              gunzip.off('data', onData);
              resolve();
            }
          };
          const onData = (c) => {
            text += c;
            check();
          };
          gunzip.on('data', onData);
          gunzip.once('error', reject);
          check();
        });
      // The first event arrives while the handler still holds the stream open.
      await seen('data: one\n\n');
      assert.ok(!text.includes('two'));
      assert.deepEqual(json(await call(port, { path: '/gz/next' })), { sent: true });
      await seen('data: two\n\n');
      await new Promise((resolve) => gunzip.on('end', resolve).resume());
      assert.equal(text, 'data: one\n\ndata: two\n\n');
    });

    await t.test('serve-static under /static: ETag, 304, Range, HEAD', async () => {
      let r = await call(port, { path: '/static/hello.txt' });
      assert.equal(r.status, 200);
      assert.equal(r.text, 'hello, static world\n');
      assert.match(r.headers['content-type'], /^text\/plain/);
      assert.ok(r.headers.etag);
      assert.ok(r.headers['last-modified']);
      const etag = r.headers.etag;
      r = await call(port, { path: '/static/hello.txt', headers: { 'if-none-match': etag } });
      assert.equal(r.status, 304);
      assert.equal(r.body.length, 0);
      r = await call(port, { path: '/static/hello.txt', headers: { range: 'bytes=0-4' } });
      assert.equal(r.status, 206);
      assert.equal(r.text, 'hello');
      assert.equal(r.headers['content-range'], 'bytes 0-4/20');
      r = await call(port, { method: 'HEAD', path: '/static/hello.txt' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-length'], '20');
      assert.equal(r.body.length, 0);
      r = await call(port, { path: '/static/missing.txt' });
      assert.equal(r.status, 404);
    });

    await t.test('http-proxy-middleware: GET and POST to a local upstream, mount path stripped', async () => {
      let r = await call(port, { path: '/proxy/echo?q=1' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-upstream'], 'yes');
      assert.deepEqual(json(r), { method: 'GET', url: '/echo?q=1', body: '' });
      r = await call(port, { method: 'POST', path: '/proxy/submit', headers: { 'content-type': 'text/plain' }, body: 'payload 123' });
      assert.deepEqual(json(r), { method: 'POST', url: '/submit', body: 'payload 123' });
    });

    await t.test('on-finished and finalhandler', async () => {
      let r = await call(port, { path: '/finished' });
      assert.equal(r.text, 'done');
      let log = [];
      for (let i = 0; i < 50 && log.filter((l) => l.endsWith('finished ok')).length < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        log = json(await call(port, { path: '/log' }));
      }
      assert.ok(log.includes('res finished ok') && log.includes('req finished ok'), JSON.stringify(log));
      r = await call(port, { path: '/finalhandler/404' });
      assert.equal(r.status, 404);
      assert.match(r.text, /Cannot GET \/finalhandler\/404/);
      assert.equal(r.headers['content-security-policy'], "default-src 'none'");
      r = await call(port, { path: '/finalhandler/error' });
      assert.equal(r.status, 503);
      assert.match(r.text, /Service Unavailable/);
      assert.ok(json(await call(port, { path: '/log' })).includes('finalhandler saw boom'));
    });

    await t.test('ejs through res.render and app.render', async () => {
      let r = await call(port, { path: '/view?name=Grace' });
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'], /^text\/html/);
      assert.equal(r.text.trim(), '<h1>Greeting</h1><p>Hello, Grace!</p><footer>middleware-app</footer>');
      r = await call(port, { path: '/view/callback' });
      assert.equal(r.text.trim(), '<h1>App render</h1><p>Hello, app!</p><footer>middleware-app</footer>');
    });

    await t.test("Node's request and response: instanceof, mount paths", async () => {
      let r = await call(port, { path: '/node' });
      assert.deepEqual(json(r), { incoming: true, readable: true, serverResponse: true, httpVersion: '1.1', remote: 'string', baseUrl: '', originalUrl: '/node' });
      r = await call(port, { path: '/mnt/where?x=1' });
      assert.deepEqual(json(r), { baseUrl: '/mnt', url: '/where?x=1', originalUrl: '/mnt/where?x=1', path: '/where' });
      r = await call(port, { path: '/mw/deep/er' });
      assert.deepEqual(json(r), { baseUrl: '/mw', url: '/deep/er', originalUrl: '/mw/deep/er' });
    });
  });
}
