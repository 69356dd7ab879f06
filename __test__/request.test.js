'use strict';
// The Request a handler sees: method, url pieces, query, params, headers, ip and the
// body readers (with their limits).
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('http');
const { serve, request, rawClient, deferred } = require('./helpers');

/** Serves one route whose handler hands `req` to `inspect` and answers 'ok'; returns what inspect returned. */
async function inspectOne(t, method, pattern, path, inspect, { headers, body } = {}) {
  const seen = deferred();
  const { port } = await serve(t, (s) => {
    s[method.toLowerCase()](pattern, (req, res) => {
      try {
        seen.resolve(inspect(req));
      } catch (e) {
        seen.reject(e);
      }
      res.send('ok');
    });
  });
  const r = await request(port, { method, path, headers, body });
  assert.equal(r.status, 200);
  return seen.promise;
}

/** Sends a body with Transfer-Encoding: chunked, in the given pieces. */
function chunkedRequest(port, path, pieces) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, agent: false, headers: { 'content-type': 'text/plain' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // The server may answer 413 and close before reading everything: that is fine.
    req.on('error', reject);
    assert.equal(req.getHeader('content-length'), undefined);
    for (const p of pieces) req.write(p);
    req.end();
  });
}

test('method is the upper-case method', async (t) => {
  const seen = [];
  const { port } = await serve(t, (s) => {
    s.any('/m', (req, res) => {
      seen.push(req.method);
      res.send(req.method);
    });
  });
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    assert.equal((await request(port, { method, path: '/m' })).body, method);
  }
  assert.deepEqual(seen, ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
});

test('url is path and query; path has no query; path_query has no "?"', async (t) => {
  const got = await inspectOne(t, 'GET', '/a/b', '/a/b?x=1&y=two', (req) => ({
    url: req.url,
    path: req.path,
    path_query: req.path_query,
    originalUrl: req.originalUrl,
  }));
  assert.deepEqual(got, { url: '/a/b?x=1&y=two', path: '/a/b', path_query: 'x=1&y=two', originalUrl: '/a/b?x=1&y=two' });
});

test('without a query: path_query is "" and query is empty', async (t) => {
  const got = await inspectOne(t, 'GET', '/plain', '/plain', (req) => ({
    url: req.url,
    path: req.path,
    path_query: req.path_query,
    query: { ...req.query },
  }));
  assert.deepEqual(got, { url: '/plain', path: '/plain', path_query: '', query: {} });
});

test('query and query_parameters: repeated keys give arrays, values are decoded', async (t) => {
  const got = await inspectOne(t, 'GET', '/q', '/q?a=1&a=2&a=3&b=hello%20world&c=x+y&d=%C3%BC%26%3D&e=&f', (req) => ({
    query: { ...req.query },
    same: JSON.stringify(req.query_parameters) === JSON.stringify(req.query),
  }));
  assert.deepEqual(got.query, { a: ['1', '2', '3'], b: 'hello world', c: 'x y', d: 'ü&=', e: '', f: '' });
  assert.equal(got.same, true);
});

test('params and path_parameters: by name, URL-decoded', async (t) => {
  const got = await inspectOne(t, 'GET', '/users/:id/files/:file_name', '/users/42/files/my%20file%2Fv2.txt', (req) => ({
    params: { ...req.params },
    path_parameters: { ...req.path_parameters },
    path: req.path,
  }));
  assert.deepEqual(got.params, { id: '42', file_name: 'my file/v2.txt' });
  assert.deepEqual(got.path_parameters, got.params);
  assert.equal(got.path, '/users/42/files/my%20file%2Fv2.txt', 'path is not URL-decoded');
});

test('a route without parameters has empty params', async (t) => {
  const got = await inspectOne(t, 'GET', '/none', '/none', (req) => ({ ...req.params }));
  assert.deepEqual(got, {});
});

test('headers have lower-case names; get()/header() are case-insensitive', async (t) => {
  const got = await inspectOne(
    t,
    'GET',
    '/h',
    '/h',
    (req) => ({
      headers: { ...req.headers },
      get: req.get('X-Custom-Thing'),
      getLower: req.get('x-custom-thing'),
      getUpper: req.get('X-CUSTOM-THING'),
      header: req.header('X-CuStOm-ThInG'),
      missing: req.get('x-not-sent'),
      referrer: req.get('Referrer'),
      multi: req.get('X-Multi'),
    }),
    { headers: { 'X-Custom-Thing': 'Mixed Case Value', Referer: 'http://example.test/page', 'X-Multi': ['one', 'two'] } },
  );
  for (const name of Object.keys(got.headers)) assert.equal(name, name.toLowerCase(), `header name ${name} is lower-case`);
  assert.equal(got.headers['x-custom-thing'], 'Mixed Case Value', 'values keep their case');
  assert.equal(got.headers.host, `127.0.0.1:${got.headers.host.split(':')[1]}`);
  assert.equal(got.get, 'Mixed Case Value');
  assert.equal(got.getLower, 'Mixed Case Value');
  assert.equal(got.getUpper, 'Mixed Case Value');
  assert.equal(got.header, 'Mixed Case Value');
  assert.equal(got.missing, undefined);
  assert.equal(got.referrer, 'http://example.test/page', "get('Referrer') reads Referer");
  assert.equal(got.multi, 'one, two', 'a repeated header is joined with ", "');
});

test('ip is 127.0.0.1 for a local client', async (t) => {
  const got = await inspectOne(t, 'GET', '/ip', '/ip', (req) => ({
    ip: req.ip,
    remoteAddress: req.socket.remoteAddress,
    family: req.socket.remoteFamily,
    port: req.socket.remotePort,
  }));
  assert.equal(got.ip, '127.0.0.1');
  assert.equal(got.remoteAddress, '127.0.0.1');
  assert.equal(got.family, 'IPv4');
  assert.ok(Number.isInteger(got.port) && got.port > 0);
});

test('json(), text() and buffer() read the body', async (t) => {
  const { port } = await serve(t, (s) => {
    s.post('/json', async (req, res) => {
      const body = await req.json();
      res.json({ got: body, type: typeof body });
    });
    s.post('/text', async (req, res) => res.send(`text:${await req.text()}`));
    s.post('/buffer', async (req, res) => {
      const buf = await req.buffer();
      res.json({ isBuffer: Buffer.isBuffer(buf), bytes: [...buf] });
    });
    s.post('/twice', async (req, res) => {
      const a = await req.text();
      const b = await req.text();
      res.json([a, b]);
    });
  });
  const j = await request(port, { method: 'POST', path: '/json', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: [1, 2], b: 'ü' }) });
  assert.equal(j.status, 200);
  assert.deepEqual(JSON.parse(j.body), { got: { a: [1, 2], b: 'ü' }, type: 'object' });

  const tx = await request(port, { method: 'POST', path: '/text', body: 'hello wörld' });
  assert.equal(tx.body, 'text:hello wörld');

  const bin = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13]);
  const bf = await request(port, { method: 'POST', path: '/buffer', body: bin });
  assert.deepEqual(JSON.parse(bf.body), { isBuffer: true, bytes: [...bin] });

  const tw = await request(port, { method: 'POST', path: '/twice', body: 'again' });
  assert.deepEqual(JSON.parse(tw.body), ['again', 'again'], 'reading the body twice gives it twice');
});

test('a request without a body reads as empty', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/empty', async (req, res) => {
      const buf = await req.buffer();
      res.json({ length: buf.length, json: await req.json() });
    });
  });
  const r = await request(port, { path: '/empty' });
  assert.deepEqual(JSON.parse(r.body), { length: 0, json: {} });
});

test('json() on a malformed body gives the default {} (or the given default)', async (t) => {
  const { port } = await serve(t, (s) => {
    s.post('/default', async (req, res) => res.json({ got: await req.json() }));
    s.post('/custom', async (req, res) => res.json({ got: await req.json({ fallback: true }) }));
  });
  const r = await request(port, { method: 'POST', path: '/default', body: '{not json' });
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { got: {} });
  const c = await request(port, { method: 'POST', path: '/custom', body: '[1, 2' });
  assert.deepEqual(JSON.parse(c.body), { got: { fallback: true } });
});

test('json(null) on a malformed body rejects with status 400 (default error handler answers 400)', async (t) => {
  const caught = deferred();
  const { port } = await serve(t, (s) => {
    s.post('/strict', async (req, res) => res.json(await req.json(null)));
    s.post('/inspect', async (req, res) => {
      try {
        await req.json(null);
        caught.resolve(null);
      } catch (e) {
        caught.resolve({ isError: e instanceof Error, status: e.status });
      }
      res.send('inspected');
    });
  });
  const r = await request(port, { method: 'POST', path: '/strict', body: '{"a":' });
  assert.equal(r.status, 400);
  assert.notEqual(r.body, '');
  const ok = await request(port, { method: 'POST', path: '/strict', body: '{"a":1}' });
  assert.deepEqual([ok.status, JSON.parse(ok.body)], [200, { a: 1 }]);
  await request(port, { method: 'POST', path: '/inspect', body: 'nope' });
  assert.deepEqual(await caught.promise, { isError: true, status: 400 });
});

test('urlencoded() parses a form body', async (t) => {
  const { port } = await serve(t, (s) => {
    s.post('/form', async (req, res) => res.json(await req.urlencoded()));
  });
  const r = await request(port, { method: 'POST', path: '/form', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&a=2&b=x+y%21' });
  assert.deepEqual(JSON.parse(r.body), { a: ['1', '2'], b: 'x y!' });
});

const LIMIT = 64;

async function limitServer(t) {
  const errors = [];
  const served = await serve(
    t,
    (s) => {
      s.post('/body', async (req, res) => res.send(`len=${(await req.buffer()).length}`));
      s.post('/inspect', async (req, res) => {
        try {
          await req.text();
          res.send('no error');
        } catch (e) {
          errors.push({ isError: e instanceof Error, status: e.status });
          res.status(599).send('caught');
        }
      });
    },
    { max_body_length: LIMIT },
  );
  return { ...served, errors };
}

test('a body over max_body_length (with Content-Length) gives 413', async (t) => {
  const { port, errors } = await limitServer(t);
  const big = 'x'.repeat(LIMIT + 1);
  const r = await request(port, { method: 'POST', path: '/body', headers: { 'content-length': String(big.length) }, body: big });
  assert.equal(r.status, 413);
  // As HyperExpress: a declared length over the limit is refused before the handler runs.
  const i = await request(port, { method: 'POST', path: '/inspect', headers: { 'content-length': String(big.length) }, body: big });
  assert.equal(i.status, 413);
  assert.deepEqual(errors, [], 'the handler never ran');
  // Far over the limit: still a clean 413, not a reset connection.
  const huge = Buffer.alloc(100000, 0x61);
  const h = await request(port, { method: 'POST', path: '/body', headers: { 'content-length': String(huge.length) }, body: huge });
  assert.equal(h.status, 413);
  // The server keeps serving.
  const ok = await request(port, { method: 'POST', path: '/body', body: 'small' });
  assert.deepEqual([ok.status, ok.body], [200, 'len=5']);
});

test('a chunked body larger than max_body_length gives 413', async (t) => {
  const { port, errors } = await limitServer(t);
  const r = await chunkedRequest(port, '/body', ['a'.repeat(40), 'b'.repeat(40)]);
  assert.equal(r.status, 413);
  // The handler's read rejects with a 413 error, and the framework has answered 413
  // already (HyperExpress's behaviour), whatever the handler then sends.
  const i = await chunkedRequest(port, '/inspect', ['a'.repeat(40), 'b'.repeat(40)]);
  assert.equal(i.status, 413);
  const far = await chunkedRequest(port, '/body', Array.from({ length: 50 }, () => 'c'.repeat(2000)));
  assert.equal(far.status, 413);
  const ok = await chunkedRequest(port, '/body', ['a'.repeat(10), 'b'.repeat(10)]);
  assert.deepEqual([ok.status, ok.body], [200, 'len=20']);
  assert.deepEqual(errors, [{ isError: true, status: 413 }]);
});

test('a chunked body over the limit by a raw client gets 413', async (t) => {
  const { port } = await limitServer(t);
  const c = rawClient(port);
  const piece = 'z'.repeat(50);
  c.send(`POST /body HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`);
  c.send(`${piece.length.toString(16)}\r\n${piece}\r\n${piece.length.toString(16)}\r\n${piece}\r\n0\r\n\r\n`);
  await c.waitFor((d) => /^HTTP\/1\.1 \d{3}/.test(d));
  assert.match(c.data, /^HTTP\/1\.1 413/);
  c.socket.destroy();
});

test('a body exactly at max_body_length is accepted (Content-Length and chunked)', async (t) => {
  const { port } = await limitServer(t);
  const exact = 'y'.repeat(LIMIT);
  const r = await request(port, { method: 'POST', path: '/body', headers: { 'content-length': String(LIMIT) }, body: exact });
  assert.deepEqual([r.status, r.body], [200, `len=${LIMIT}`]);
  const c = await chunkedRequest(port, '/body', [exact.slice(0, 30), exact.slice(30)]);
  assert.deepEqual([c.status, c.body], [200, `len=${LIMIT}`]);
});

test('the default max_body_length accepts a 200 kB body', async (t) => {
  const { port } = await serve(t, (s) => {
    s.post('/body', async (req, res) => res.send(`len=${(await req.buffer()).length}`));
  });
  const body = Buffer.alloc(200 * 1000, 0x61);
  const r = await request(port, { method: 'POST', path: '/body', headers: { 'content-length': String(body.length) }, body });
  assert.deepEqual([r.status, r.body], [200, `len=${body.length}`]);
});
