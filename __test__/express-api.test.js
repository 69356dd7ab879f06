'use strict';
// The Express-style surface, member by member: hyper(), hyper.json(), hyper.urlencoded(),
// hyper.Router(), error middleware, listen()/close(), and the Node/Express names on
// req and res.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const hyper = require('..');
const { request, rawGet, bodyOf, deferred, sleep } = require('./helpers');

async function start(t, setup) {
  const app = hyper();
  setup(app);
  const server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  t.after(() => new Promise((r) => server.close(r)));
  return { app, server, port: server.address().port };
}

test('the module is callable and keeps the HyperExpress classes', () => {
  assert.equal(typeof hyper, 'function');
  assert.equal(typeof hyper.Server, 'function');
  assert.ok(hyper.Router() instanceof hyper.Router, 'hyper.Router() works without new');
  assert.ok(new hyper.Router() instanceof hyper.Router);
  assert.equal(typeof hyper.json(), 'function');
  assert.equal(typeof hyper.urlencoded(), 'function');
});

test('listen(port, host, callback) returns a handle with address() and close(callback)', async () => {
  const app = hyper();
  app.get('/', (req, res) => res.send('up'));
  const listening = deferred();
  const server = app.listen(0, '127.0.0.1', listening.resolve);
  await listening.promise;
  const { port, address } = server.address();
  assert.equal(address, '127.0.0.1');
  assert.equal((await request(port)).body, 'up');
  const closed = deferred();
  server.close(closed.resolve);
  await closed.promise;
  await assert.rejects(request(port), /ECONNREFUSED/);
});

test('a taken port emits error on the handle (as Node does)', async (t) => {
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  t.after(() => blocker.close());
  const server = hyper().listen(blocker.address().port, '127.0.0.1');
  const [err] = await new Promise((resolve) => server.once('error', (...a) => resolve(a)));
  assert.ok(err instanceof Error);
  assert.equal(err.code, 'EADDRINUSE');
});

test('res header methods: setHeader replaces, getHeader is case-insensitive, remove/has/getHeaders', async (t) => {
  const seen = deferred();
  const { port } = await start(t, (app) =>
    app.get('/h', (req, res) => {
      res.setHeader('X-One', 'a');
      res.setHeader('x-one', 'b');
      res.setHeader('Set-Cookie', ['c=1', 'd=2']);
      res.append('X-Two', '1');
      res.append('X-Two', '2');
      res.set({ 'X-Three': '3', 'X-Gone': 'soon' });
      res.removeHeader('X-GONE');
      seen.resolve({
        one: res.getHeader('X-ONE'),
        cookies: res.getHeader('set-cookie'),
        has: [res.hasHeader('x-three'), res.hasHeader('x-gone')],
        names: res.getHeaderNames().sort(),
        headersSent: res.headersSent,
      });
      res.status(201).end('ok');
    }),
  );
  const res = await request(port, { path: '/h' });
  assert.equal(res.status, 201);
  assert.equal(res.headers['x-one'], 'b');
  assert.deepEqual(res.headers['set-cookie'], ['c=1', 'd=2']);
  assert.equal(res.headers['x-two'], '1, 2');
  assert.equal(res.headers['x-three'], '3');
  assert.equal(res.headers['x-gone'], undefined);
  assert.deepEqual(await seen.promise, {
    one: 'b',
    cookies: ['c=1', 'd=2'],
    has: [true, false],
    names: ['set-cookie', 'x-one', 'x-three', 'x-two'],
    headersSent: false,
  });
});

test('writeHead(status, message, headers) then end() sends a complete response; flags follow', async (t) => {
  const flags = deferred();
  const { port } = await start(t, (app) =>
    app.get('/w', (req, res) => {
      res.writeHead(202, 'Accepted', { 'X-W': 'yes', 'Content-Type': 'text/plain' });
      const afterHead = res.headersSent;
      res.end('done');
      flags.resolve({ afterHead, ended: res.writableEnded, statusCode: res.statusCode });
    }),
  );
  const res = await request(port, { path: '/w' });
  assert.deepEqual([res.status, res.headers['x-w'], res.body], [202, 'yes', 'done']);
  assert.equal(res.headers['content-length'], '4');
  assert.deepEqual(await flags.promise, { afterHead: true, ended: true, statusCode: 202 });
});

test('raw frames from write() arrive byte for byte, each as soon as it is written', async (t) => {
  const ready = deferred();
  const { port } = await start(t, (app) =>
    app.get('/raw', (req, res) => {
      res.status(200).set('Content-Type', 'text/event-stream');
      res.flushHeaders();
      ready.resolve(res);
    }),
  );
  const c = rawGet(port, '/raw');
  const res = await ready.promise;
  await c.waitFor('\r\n\r\n');
  const frames = ['retry: 1000\n\n', 'id: 1\nevent: a\ndata: x\n\n', ': comment\r\n\r\n', 'data: é ✓\n\n'];
  for (const f of frames) {
    assert.equal(res.write(f), true);
    await c.waitFor((d) => Buffer.from(bodyOf(d), 'latin1').toString('utf8').endsWith(f));
  }
  res.write(Buffer.from('data: buf\n\n'));
  res.end();
  await c.waitForEnd();
  assert.equal(Buffer.from(bodyOf(c.data), 'latin1').toString('utf8'), frames.join('') + 'data: buf\n\n');
  c.socket.destroy();
});

test('req.on("close") fires once after a normal end; res.on("finish") and ("close") too', async (t) => {
  const got = deferred();
  const { port } = await start(t, (app) =>
    app.get('/x', (req, res) => {
      const events = [];
      req.on('close', () => events.push('req.close'));
      res.on('finish', () => events.push('res.finish'));
      res.on('close', () => events.push('res.close'));
      res.send('ok');
      setTimeout(() => got.resolve(events), 50);
    }),
  );
  assert.equal((await request(port, { path: '/x' })).body, 'ok');
  assert.deepEqual((await got.promise).sort(), ['req.close', 'res.close', 'res.finish']);
});

test('writing after the client left returns false and never throws', async (t) => {
  const result = deferred();
  const { port } = await start(t, (app) =>
    app.get('/e', (req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('data: hi\n\n');
      req.on('close', async () => {
        await sleep(5);
        result.resolve({ write: res.write('data: late\n\n'), ended: res.writableEnded });
        res.end();
      });
    }),
  );
  const c = rawGet(port, '/e');
  await c.waitFor('data: hi');
  c.socket.destroy();
  assert.deepEqual(await result.promise, { write: false, ended: true });
});

test('req fields: ip, query, params, body, headers, get(), path, originalUrl, socket', async (t) => {
  const seen = deferred();
  const { port } = await start(t, (app) => {
    app.use(hyper.urlencoded());
    app.post('/p/:name', (req, res) => {
      seen.resolve({
        ip: req.ip,
        query: { ...req.query },
        params: req.params,
        body: req.body,
        header: req.headers['x-h'],
        get: req.get('X-H'),
        path: req.path,
        originalUrl: req.originalUrl,
        socket: [req.socket.remoteAddress, typeof req.socket.remotePort, req.connection === req.socket, req.socket.setTimeout(0) === req.socket],
      });
      res.sendStatus(204);
    });
  });
  const res = await request(port, {
    method: 'POST',
    path: '/p/an%20a?x=1&x=2',
    headers: { 'x-h': 'v', 'content-type': 'application/x-www-form-urlencoded' },
    body: 'a=1&b=two',
  });
  assert.equal(res.status, 204);
  assert.deepEqual(await seen.promise, {
    ip: '127.0.0.1',
    query: { x: ['1', '2'] },
    params: { name: 'an a' },
    body: { a: '1', b: 'two' },
    header: 'v',
    get: 'v',
    path: '/p/an%20a',
    originalUrl: '/p/an%20a?x=1&x=2',
    socket: ['127.0.0.1', 'number', true, true],
  });
});

test('middleware order, next("route"), Router mounting and error middleware', async (t) => {
  const { port } = await start(t, (app) => {
    const order = [];
    app.use((req, res, next) => {
      order.length = 0;
      order.push('global');
      next();
    });
    const api = hyper.Router();
    api.use((req, res, next) => {
      order.push('api');
      next();
    });
    api.get('/items/:id', (req, res, next) => (req.params.id === 'skip' ? next('route') : res.json({ id: req.params.id, order })));
    api.get('/boom', () => {
      throw Object.assign(new Error('api broke'), { status: 503 });
    });
    app.use('/api', api);
    app.get('/outside', (req, res) => res.json({ order }));
    app.use((err, req, res, next) => {
      if (err.status === 503) return res.status(503).json({ caught: err.message });
      next(err);
    });
  });
  assert.deepEqual(JSON.parse((await request(port, { path: '/api/items/7' })).body), { id: '7', order: ['global', 'api'] });
  assert.deepEqual(JSON.parse((await request(port, { path: '/outside' })).body), { order: ['global'] });
  assert.equal((await request(port, { path: '/api/items/skip' })).status, 404);
  const boom = await request(port, { path: '/api/boom' });
  assert.deepEqual([boom.status, JSON.parse(boom.body)], [503, { caught: 'api broke' }]);
});

test('the HyperExpress res.sse works inside an Express-style app', async (t) => {
  const { port } = await start(t, (app) =>
    app.get('/sse', (req, res) => {
      res.sse.send('1', 'e', 'a\nb');
      res.sse.close();
    }),
  );
  const c = rawGet(port, '/sse');
  await c.waitForEnd();
  assert.equal(bodyOf(c.data), 'id: 1\nevent: e\ndata: a\ndata: b\n\n');
  c.socket.destroy();
});

test('the stack keeps Express order: middleware before a route runs, a route that calls next() reaches later middleware', async (t) => {
  const seen = [];
  const { port } = await start(t, (app) => {
    app.get('/a', (req, res) => res.send('a'));
    app.get('/b', (req, res, next) => {
      seen.push('b');
      next();
    });
    app.use((req, res, next) => {
      seen.push(`after ${req.path}`);
      res.status(418).send('late');
    });
    app.get('/c', (req, res) => res.send('c'));
    app.use((req, res) => res.status(404).send('none'));
  });
  assert.equal((await request(port, { path: '/a' })).body, 'a');
  const b = await request(port, { path: '/b' });
  assert.equal(b.status, 418);
  assert.deepEqual(seen, ['b', 'after /b']);
  // A route registered after a middleware runs behind it.
  const c = await request(port, { path: '/c' });
  assert.equal(c.status, 418);
  assert.deepEqual(seen, ['b', 'after /b', 'after /c']);
});
