'use strict';
// Routing: methods, patterns (params, wildcards), not-found, middleware (global, by
// path, per route, async), mounted Routers, route() chains and conflicting routes.
const test = require('node:test');
const assert = require('node:assert/strict');
const { hyper, serve, request, rawGet } = require('./helpers');

/** Answers with the method and path it saw, tagged with `tag`. */
const reply = (tag) => (req, res) => res.send(`${tag} ${req.method} ${req.path}`);

test('get/post/put/patch/delete/options each answer only their own method', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/m', reply('get'));
    s.post('/m', reply('post'));
    s.put('/m', reply('put'));
    s.patch('/m', reply('patch'));
    s.delete('/m', reply('delete'));
    s.options('/m', reply('options'));
    s.get('/only-get', reply('only'));
  });
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    const r = await request(port, { method, path: '/m' });
    assert.equal(r.status, 200, method);
    assert.equal(r.body, `${method.toLowerCase()} ${method} /m`);
  }
  // A method with no route on that path is not matched.
  const post = await request(port, { method: 'POST', path: '/only-get' });
  assert.equal(post.status, 404);
  assert.equal(post.body, '');
});

test('del() is delete(); trace() registers TRACE', async (t) => {
  const { port } = await serve(t, (s) => {
    s.del('/d', reply('del'));
    s.trace('/t', reply('trace'));
  });
  assert.equal((await request(port, { method: 'DELETE', path: '/d' })).body, 'del DELETE /d');
  assert.equal((await request(port, { method: 'TRACE', path: '/t' })).body, 'trace TRACE /t');
});

test('head() routes HEAD; a GET route also answers HEAD without a body', async (t) => {
  const seen = [];
  const { port } = await serve(t, (s) => {
    s.head('/h', (req, res) => {
      seen.push(`head-route ${req.method}`);
      res.header('x-head', 'yes').send();
    });
    s.get('/g', (req, res) => {
      seen.push(`get-route ${req.method}`);
      res.header('x-get', 'yes').send('body of get');
    });
  });
  const h = await request(port, { method: 'HEAD', path: '/h' });
  assert.equal(h.status, 200);
  assert.equal(h.headers['x-head'], 'yes');
  assert.equal(h.body, '');
  const g = await request(port, { method: 'HEAD', path: '/g' });
  assert.equal(g.status, 200);
  assert.equal(g.headers['x-get'], 'yes');
  assert.equal(g.body, '', 'HEAD responses carry no body');
  assert.deepEqual(seen, ['head-route HEAD', 'get-route HEAD']);
});

test('any() and all() match every method', async (t) => {
  const { port } = await serve(t, (s) => {
    s.any('/any', reply('any'));
    s.all('/all', reply('all'));
  });
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    assert.equal((await request(port, { method, path: '/any' })).body, `any ${method} /any`);
    assert.equal((await request(port, { method, path: '/all' })).body, `all ${method} /all`);
  }
});

test('a method-specific route wins over any() on the same path', async (t) => {
  const { port } = await serve(t, (s) => {
    s.any('/x', reply('any'));
    s.post('/x', reply('post'));
  });
  assert.equal((await request(port, { method: 'POST', path: '/x' })).body, 'post POST /x');
  assert.equal((await request(port, { method: 'GET', path: '/x' })).body, 'any GET /x');
});

test(':param segments with one-letter and long names', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/:a', (req, res) => res.json({ params: req.params, pp: req.path_parameters }));
    s.get('/one/:a/:b', (req, res) => res.json(req.params));
    s.get('/long/:a_rather_long_parameter_name/x/:id', (req, res) => res.json(req.params));
  });
  const single = await request(port, { path: '/hello' });
  assert.equal(single.status, 200);
  assert.deepEqual(JSON.parse(single.body), { params: { a: 'hello' }, pp: { a: 'hello' } });

  const two = await request(port, { path: '/one/x/y' });
  assert.deepEqual(JSON.parse(two.body), { a: 'x', b: 'y' });

  const long = await request(port, { path: '/long/value-1/x/42' });
  assert.deepEqual(JSON.parse(long.body), { a_rather_long_parameter_name: 'value-1', id: '42' });

  // A parameter spans exactly one segment.
  assert.equal((await request(port, { path: '/one/x' })).status, 404);
  assert.equal((await request(port, { path: '/one/x/y/z' })).status, 404);
});

test('one-letter parameter names next to static segments', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/u/:i', (req, res) => res.send(`i=${req.params.i}`));
    s.get('/u/:i/p/:j', (req, res) => res.send(`i=${req.params.i} j=${req.params.j}`));
  });
  assert.equal((await request(port, { path: '/u/7' })).body, 'i=7');
  assert.equal((await request(port, { path: '/u/7/p/9' })).body, 'i=7 j=9');
});

test('a trailing * wildcard matches everything below it', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/files/*', (req, res) => res.send(`files ${req.path}`));
    s.get('/static/:kind/*', (req, res) => res.send(`static ${req.params.kind} ${req.path}`));
  });
  assert.equal((await request(port, { path: '/files/a' })).body, 'files /files/a');
  assert.equal((await request(port, { path: '/files/a/b/c.txt' })).body, 'files /files/a/b/c.txt');
  assert.equal((await request(port, { path: '/files/' })).body, 'files /files/');
  assert.equal((await request(port, { path: '/static/img/x/y.png' })).body, 'static img /static/img/x/y.png');
  assert.equal((await request(port, { path: '/other/a' })).status, 404);
  assert.equal((await request(port, { method: 'POST', path: '/files/a' })).status, 404);
});

test('a * anywhere but the end is rejected at registration', (t) => {
  const s = new hyper.Server();
  t.after(() => s.close());
  assert.throws(() => s.get('/a/*/b', (req, res) => res.send()), Error);
});

test('a static route beats a parameter route, whatever the registration order', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/users/:id', (req, res) => res.send(`user ${req.params.id}`));
    s.get('/users/me', (req, res) => res.send('me'));
    s.get('/items/new', (req, res) => res.send('new item form'));
    s.get('/items/:id', (req, res) => res.send(`item ${req.params.id}`));
  });
  assert.equal((await request(port, { path: '/users/me' })).body, 'me');
  assert.equal((await request(port, { path: '/users/42' })).body, 'user 42');
  assert.equal((await request(port, { path: '/items/new' })).body, 'new item form');
  assert.equal((await request(port, { path: '/items/5' })).body, 'item 5');
});

test('an unmatched path gets 404 with an empty body by default', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/exists', (req, res) => res.send('yes'));
  });
  const r = await request(port, { path: '/does/not/exist?x=1' });
  assert.equal(r.status, 404);
  assert.equal(r.body, '');
  assert.equal((await request(port, { path: '/exists' })).body, 'yes');
});

test('with global middleware, an unmatched path still gets 404 with an empty body (after the middleware ran)', async (t) => {
  const ran = [];
  const { port } = await serve(t, (s) => {
    s.use((req, res, next) => {
      ran.push(req.path);
      next();
    });
    s.get('/exists', (req, res) => res.send('yes'));
  });
  const r = await request(port, { path: '/nope' });
  assert.equal(r.status, 404);
  assert.equal(r.body, '');
  assert.deepEqual(ran, ['/nope']);
});

test('set_not_found_handler answers unmatched paths', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/exists', (req, res) => res.send('yes'));
    s.set_not_found_handler((req, res) => res.status(404).json({ missing: req.path, method: req.method }));
  });
  const r = await request(port, { method: 'DELETE', path: '/missing/thing' });
  assert.equal(r.status, 404);
  assert.match(r.headers['content-type'], /application\/json/);
  assert.deepEqual(JSON.parse(r.body), { missing: '/missing/thing', method: 'DELETE' });
  assert.equal((await request(port, { path: '/exists' })).body, 'yes');
  const unlistened = new hyper.Server();
  t.after(() => unlistened.close());
  assert.throws(() => unlistened.set_not_found_handler('nope'), TypeError);
});

test('use(mw) runs for every request, in registration order, before the handler', async (t) => {
  const { port } = await serve(t, (s) => {
    s.use((req, res, next) => {
      req.locals = { order: ['first'] };
      next();
    });
    s.use((req, res, next) => {
      req.locals.order.push('second');
      res.header('x-mw', 'ran');
      next();
    });
    s.get('/a', (req, res) => res.json(req.locals.order.concat('handler')));
    s.post('/b/:id', (req, res) => res.json(req.locals.order.concat(`handler ${req.params.id}`)));
  });
  const a = await request(port, { path: '/a' });
  assert.deepEqual(JSON.parse(a.body), ['first', 'second', 'handler']);
  assert.equal(a.headers['x-mw'], 'ran');
  const b = await request(port, { method: 'POST', path: '/b/3' });
  assert.deepEqual(JSON.parse(b.body), ['first', 'second', 'handler 3']);
});

test('a middleware that answers stops the chain', async (t) => {
  let handlerRan = false;
  const { port } = await serve(t, (s) => {
    s.use((req, res, next) => {
      if (req.get('authorization') !== 'yes') return res.status(401).send('denied');
      next();
    });
    s.get('/secret', (req, res) => {
      handlerRan = true;
      res.send('secret');
    });
  });
  const denied = await request(port, { path: '/secret' });
  assert.deepEqual([denied.status, denied.body], [401, 'denied']);
  assert.equal(handlerRan, false);
  const ok = await request(port, { path: '/secret', headers: { authorization: 'yes' } });
  assert.deepEqual([ok.status, ok.body], [200, 'secret']);
});

test("use('/api', mw) matches '/api' and '/api/...' but not '/apix'", async (t) => {
  const { port } = await serve(t, (s) => {
    s.use('/api', (req, res, next) => {
      res.header('x-api-mw', 'yes');
      next();
    });
    for (const p of ['/api', '/api/x', '/api/x/y', '/apix', '/other']) s.get(p, (req, res) => res.send(p));
  });
  for (const [path, expected] of [
    ['/api', 'yes'],
    ['/api/x', 'yes'],
    ['/api/x/y', 'yes'],
    ['/api/x?q=1', 'yes'],
    ['/apix', undefined],
    ['/other', undefined],
  ]) {
    const r = await request(port, { path });
    assert.equal(r.status, 200, path);
    assert.equal(r.headers['x-api-mw'], expected, path);
  }
});

test("use('/api', mw) also runs for unmatched paths under /api", async (t) => {
  const { port } = await serve(t, (s) => {
    s.use('/api', (req, res) => res.status(403).send('api gate'));
    s.get('/open', (req, res) => res.send('open'));
  });
  const r = await request(port, { path: '/api/unknown' });
  assert.deepEqual([r.status, r.body], [403, 'api gate']);
  const outside = await request(port, { path: '/apiunknown' });
  assert.deepEqual([outside.status, outside.body], [404, '']);
  assert.equal((await request(port, { path: '/open' })).body, 'open');
});

test("a Router mounted with use('/r', router) serves its routes under /r, including ones added after mounting", async (t) => {
  const router = new hyper.Router();
  router.get('/', (req, res) => res.send('router root'));
  router.get('/x', (req, res) => res.send('router x'));
  router.post('/items/:id', (req, res) => res.send(`item ${req.params.id}`));
  const { server, port } = await serve(t, (s) => {
    s.use('/r', router);
    s.get('/x', (req, res) => res.send('server x'));
  });
  assert.equal((await request(port, { path: '/r/x' })).body, 'router x');
  assert.equal((await request(port, { path: '/r' })).body, 'router root');
  assert.equal((await request(port, { method: 'POST', path: '/r/items/9' })).body, 'item 9');
  assert.equal((await request(port, { path: '/x' })).body, 'server x');

  // Added after mounting (and after listen): still reachable.
  assert.equal((await request(port, { path: '/r/late' })).status, 404);
  router.get('/late', (req, res) => res.send('late route'));
  const late = await request(port, { path: '/r/late' });
  assert.deepEqual([late.status, late.body], [200, 'late route']);
  assert.ok(server.port > 0);
});

test('Router() without new works; its own middleware applies to its routes only', async (t) => {
  const router = hyper.Router();
  router.use((req, res, next) => {
    res.header('x-router-mw', 'yes');
    next();
  });
  router.get('/in', (req, res) => res.send('in'));
  const { port } = await serve(t, (s) => {
    s.use('/r', router);
    s.get('/out', (req, res) => res.send('out'));
  });
  const inside = await request(port, { path: '/r/in' });
  assert.deepEqual([inside.body, inside.headers['x-router-mw']], ['in', 'yes']);
  const outside = await request(port, { path: '/out' });
  assert.deepEqual([outside.body, outside.headers['x-router-mw']], ['out', undefined]);
});

test('nested Routers join their prefixes', async (t) => {
  const inner = new hyper.Router();
  inner.get('/leaf/:id', (req, res) => res.send(`leaf ${req.params.id}`));
  const outer = new hyper.Router();
  outer.use('/inner', inner);
  const { port } = await serve(t, (s) => s.use('/outer', outer));
  assert.equal((await request(port, { path: '/outer/inner/leaf/4' })).body, 'leaf 4');
  assert.equal((await request(port, { path: '/inner/leaf/4' })).status, 404);
});

test('next(new Error) goes to the error handler and skips the rest of the chain', async (t) => {
  const errors = [];
  let handlerRan = false;
  const { port } = await serve(t, (s) => {
    s.use((req, res, next) => next(new Error('mw says no')));
    s.get('/x', (req, res) => {
      handlerRan = true;
      res.send('x');
    });
    s.set_error_handler((req, res, err) => {
      errors.push(err.message);
      res.status(422).send(`handled: ${err.message}`);
    });
  });
  const r = await request(port, { path: '/x' });
  assert.deepEqual([r.status, r.body], [422, 'handled: mw says no']);
  assert.deepEqual(errors, ['mw says no']);
  assert.equal(handlerRan, false);
});

test('next(err) without an error handler gives 500', async (t) => {
  const original = console.error;
  console.error = () => {};
  t.after(() => (console.error = original));
  const { port } = await serve(t, (s) => {
    s.use((req, res, next) => next(new Error('nope')));
    s.get('/x', (req, res) => res.send('x'));
  });
  const r = await request(port, { path: '/x' });
  assert.equal(r.status, 500);
  assert.notEqual(r.body, 'x');
});

test('an async middleware (returning a promise) continues the chain when it resolves', async (t) => {
  let calls = 0;
  const { port } = await serve(t, (s) => {
    s.use(async (req) => {
      await new Promise((r) => setImmediate(r));
      req.locals = { fromAsync: 'resolved' };
    });
    // Calls next() itself and also returns a promise: the chain must continue once.
    s.use(async (req, res, next) => {
      await null;
      req.locals.second = true;
      next();
    });
    s.get('/x', (req, res) => {
      calls++;
      res.json(req.locals);
    });
  });
  const r = await request(port, { path: '/x' });
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { fromAsync: 'resolved', second: true });
  // A second request proves the handler ran exactly once per request.
  await request(port, { path: '/x' });
  assert.equal(calls, 2);
});

test('an async middleware that rejects goes to the error handler', async (t) => {
  const { port } = await serve(t, (s) => {
    s.use(async () => {
      await null;
      throw new Error('async mw failed');
    });
    s.get('/x', (req, res) => res.send('unreachable'));
    s.set_error_handler((req, res, err) => res.status(503).send(err.message));
  });
  const r = await request(port, { path: '/x' });
  assert.deepEqual([r.status, r.body], [503, 'async mw failed']);
});

test('route-level middlewares: get(path, mw1, mw2, handler) run in order', async (t) => {
  const mw = (name) => (req, res, next) => {
    (req.locals.order ??= []).push(name);
    next();
  };
  const { port } = await serve(t, (s) => {
    s.use(mw('global'));
    s.get('/x', mw('mw1'), mw('mw2'), (req, res) => res.json(req.locals.order));
    s.get('/arr', [mw('a1'), mw('a2')], (req, res) => res.json(req.locals.order));
    s.get('/plain', (req, res) => res.json(req.locals.order));
  });
  assert.deepEqual(JSON.parse((await request(port, { path: '/x' })).body), ['global', 'mw1', 'mw2']);
  assert.deepEqual(JSON.parse((await request(port, { path: '/arr' })).body), ['global', 'a1', 'a2']);
  // Route middlewares belong to their route only.
  assert.deepEqual(JSON.parse((await request(port, { path: '/plain' })).body), ['global']);
});

test('route-level middlewares via { middlewares: [...] } options', async (t) => {
  const { port } = await serve(t, (s) => {
    s.post(
      '/opt/:id',
      {
        middlewares: [
          (req, res, next) => {
            req.locals = { seen: [`opt1 ${req.params.id}`] };
            next();
          },
          async (req) => {
            await null;
            req.locals.seen.push('opt2');
          },
        ],
      },
      (req, res) => res.json(req.locals.seen),
    );
    s.get('/guarded', { middlewares: [(req, res) => res.status(401).send('stop')] }, (req, res) => res.send('unreachable'));
  });
  const r = await request(port, { method: 'POST', path: '/opt/5' });
  assert.deepEqual(JSON.parse(r.body), ['opt1 5', 'opt2']);
  const g = await request(port, { path: '/guarded' });
  assert.deepEqual([g.status, g.body], [401, 'stop']);
});

test('route() chains methods on one pattern', async (t) => {
  const { port } = await serve(t, (s) => {
    const chain = s.route('/c/:id');
    const returned = chain.get((req, res) => res.send(`get ${req.params.id}`)).post((req, res) => res.send(`post ${req.params.id}`));
    assert.equal(returned, chain);
    s.route('/any-chain').any((req, res) => res.send(`any ${req.method}`));
  });
  assert.equal((await request(port, { path: '/c/1' })).body, 'get 1');
  assert.equal((await request(port, { method: 'POST', path: '/c/2' })).body, 'post 2');
  assert.equal((await request(port, { method: 'PUT', path: '/c/3' })).status, 404);
  assert.equal((await request(port, { method: 'PATCH', path: '/any-chain' })).body, 'any PATCH');
});

test('registering a conflicting route throws a clear Error', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/dup', (req, res) => res.send('first'));
  });
  const handler = (req, res) => res.send('second');
  let err;
  try {
    // Same route, same method.
    const fresh = new hyper.Server();
    t.after(() => fresh.close());
    fresh.get('/dup', handler).get('/dup', handler);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error, 'a duplicate route throws an Error');
  assert.match(err.message, /\/dup/);
  assert.match(err.message, /conflict/i);

  // On a live server: the existing routes keep working.
  const live = await serve(t, (s) => s.get('/p/:a', (req, res) => res.send(`p ${req.params.a}`)));
  assert.throws(
    () => live.server.get('/p/:b', handler),
    (e) => e instanceof Error && /\/p\/:b/.test(e.message) && /conflict/i.test(e.message),
  );
  assert.equal((await request(live.port, { path: '/p/1' })).body, 'p 1');
  // Registering the same route twice on a live server throws too, and the first stays.
  assert.throws(() => live.server.get('/p/:a', handler), Error);
  assert.equal((await request(port, { path: '/dup' })).body, 'first');
});

test('a route added to a mounted Router that conflicts throws', async (t) => {
  const router = new hyper.Router();
  router.get('/a', (req, res) => res.send('a'));
  const { port } = await serve(t, (s) => {
    s.get('/r/b', (req, res) => res.send('server b'));
    s.use('/r', router);
  });
  assert.throws(() => router.get('/b', (req, res) => res.send('router b')), Error);
  assert.equal((await request(port, { path: '/r/b' })).body, 'server b');
  assert.equal((await request(port, { path: '/r/a' })).body, 'a');
});

test('bad registrations throw TypeErrors', (t) => {
  const s = new hyper.Server();
  t.after(() => s.close());
  assert.throws(() => s.get('/x'), TypeError);
  assert.throws(() => s.get(42, () => {}), TypeError);
  assert.throws(() => s.use(42), TypeError);
  assert.throws(() => s.get('no-slash', () => {}), Error);
});

test('percent-encoded paths reach the route with the raw path and decoded params', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/name/:n', (req, res) => res.json({ n: req.params.n, path: req.path }));
  });
  const c = rawGet(port, '/name/J%C3%BCrgen%20X', 'Connection: close\r\n');
  await c.closed;
  // rawClient reads latin1; the JSON body is UTF-8.
  const body = Buffer.from(c.data.slice(c.data.indexOf('\r\n\r\n') + 4), 'latin1').toString('utf8');
  assert.match(c.data, /^HTTP\/1\.1 200/);
  assert.deepEqual(JSON.parse(body), { n: 'Jürgen X', path: '/name/J%C3%BCrgen%20X' });
});

test('a router mounted on two servers still reaches the second when the first refuses a route', async (t) => {
  const router = new hyper.Router();
  const a = await serve(t, (s) => s.get('/m/c', (req, res) => res.send('a-own')));
  const b = await serve(t, () => {});
  a.server.use('/m', router);
  b.server.use('/m', router);
  assert.throws(() => router.get('/c', (req, res) => res.send('from-router')), /conflicts/);
  assert.equal((await request(b.port, { path: '/m/c' })).body, 'from-router');
  assert.equal((await request(a.port, { path: '/m/c' })).body, 'a-own');
});
