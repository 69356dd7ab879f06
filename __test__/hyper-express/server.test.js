'use strict';
// HyperExpress's Server members and middleware model, as its apps rely on them
// (issue 12): locals, routes, '*', shutdown(), use() at any depth, registration order,
// double iteration, non-Error throws.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const { hyper, serve, request } = require('../helpers');

test('Server.locals reaches handlers as req.app.locals and res.app.locals', async (t) => {
  const { server, port } = await serve(t, (s) => {
    s.get('/', (req, res) => res.json({ req: req.app.locals.name, res: res.app.locals.name, same: req.app === s }));
  });
  server.locals.name = 'app-wide';
  assert.deepEqual(JSON.parse((await request(port)).body), { req: 'app-wide', res: 'app-wide', same: true });
});

test("Server.routes lists routes by method ('del' for DELETE) and pattern; '*' is taken as '/*'", async (t) => {
  const { server, port } = await serve(t, (s) => {
    const r = new hyper.Router();
    r.delete('/item/:id', (req, res) => res.send('deleted'));
    r.post('/item', (req, res) => res.send('posted'));
    s.use('/api', r);
    s.all('*', (req, res) => res.status(404).send('catch-all'));
  });
  assert.ok(server.routes.del['/api/item/:id']);
  assert.ok(server.routes.post['/api/item']);
  assert.ok(server.routes.any['/*']);
  assert.equal((await request(port, { method: 'DELETE', path: '/api/item/7' })).body, 'deleted');
  const other = await request(port, { path: '/no/such/page' });
  assert.deepEqual([other.status, other.body], [404, 'catch-all']);
});

test('shutdown() resolves true once requests in flight are answered, and refuses new connections', async () => {
  let release;
  const server = new hyper.Server();
  server.get('/slow', (req, res) => {
    release = () => res.send('done');
  });
  const port = await server.listen(0, '127.0.0.1');
  const inFlight = request(port, { path: '/slow' });
  while (!release) await new Promise((r) => setTimeout(r, 5));
  const shut = server.shutdown();
  // A new connection is refused meanwhile.
  await new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => reject(new Error('accepted during shutdown')));
    s.on('error', () => resolve());
  });
  release();
  assert.equal((await inFlight).body, 'done');
  assert.equal(await shut, true);
  assert.equal(await new hyper.Server().shutdown(), false, 'a server that never listened has nothing to shut down');
});

test('use() inside a mounted router applies to everything under its joined path, not found included', async (t) => {
  const { port } = await serve(t, (s) => {
    const inner = new hyper.Router();
    inner.use('/admin', (req, res, next) => {
      res.header('x-admin-guard', 'ran');
      next();
    });
    inner.get('/admin/page', (req, res) => res.send('page'));
    s.use('/app', inner);
    s.get('/app/admin/other', (req, res) => res.send('a route of the server itself'));
    s.set_not_found_handler((req, res) => res.status(404).send('nothing here'));
  });
  for (const path of ['/app/admin/page', '/app/admin/other', '/app/admin/missing']) {
    const r = await request(port, { path });
    assert.equal(r.headers['x-admin-guard'], 'ran', path);
  }
  assert.equal((await request(port, { path: '/app/public' })).headers['x-admin-guard'], undefined);
});

test('global and route middlewares run in registration order', async (t) => {
  const { port } = await serve(t, (s) => {
    const mark = (n) => (req, res, next) => {
      (req.locals.order ??= []).push(n);
      next();
    };
    s.use(mark(1));
    s.get('/x', mark(2), (req, res) => res.json(req.locals.order));
    s.use(mark(3));
  });
  assert.deepEqual(JSON.parse((await request(port, { path: '/x' })).body), [1, 2, 3]);
});

test('an async middleware that calls next() and also resolves is a double iteration: the error handler runs', async (t) => {
  const seen = [];
  const { port } = await serve(t, (s) => {
    s.set_error_handler((req, res, err) => {
      seen.push(err.message.split(':')[0]);
      res.status(501).send('double');
    });
    s.get(
      '/d',
      async (req, res, next) => next(),
      (req, res, next) => setTimeout(next, 10),
      (req, res) => res.send('handler'),
    );
  });
  const r = await request(port, { path: '/d' });
  assert.deepEqual([r.status, r.body], [501, 'double']);
  assert.deepEqual(seen, ['ERR_DOUBLE_MIDDLEWARE_EXEUCTION_DETECTED']);
});

test('a thrown or rejected non-Error reaches the error handler as ERR_CAUGHT_NON_ERROR_TYPE: <value>', async (t) => {
  const { port } = await serve(t, (s) => {
    s.set_error_handler((req, res, err) => res.status(500).send(`${err instanceof Error} ${err.message}`));
    s.get('/throw', () => {
      throw 'plain string';
    });
    s.get('/reject', async () => Promise.reject(42));
    s.get('/res-throw', (req, res) => res.throw({ toString: () => 'an object' }));
  });
  assert.equal((await request(port, { path: '/throw' })).body, 'true ERR_CAUGHT_NON_ERROR_TYPE: plain string');
  assert.equal((await request(port, { path: '/reject' })).body, 'true ERR_CAUGHT_NON_ERROR_TYPE: 42');
  assert.equal((await request(port, { path: '/res-throw' })).body, 'true ERR_CAUGHT_NON_ERROR_TYPE: an object');
});
