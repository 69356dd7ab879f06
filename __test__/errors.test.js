'use strict';
// Bad handlers and bad values: a clear status or a clear Error, and the server lives on.
const test = require('node:test');
const assert = require('node:assert/strict');
const { serve, request, rawGet, deferred } = require('./helpers');

// The default error handler logs 5xx errors; keep test output readable.
function quietConsole(t) {
  const original = console.error;
  console.error = () => {};
  t.after(() => (console.error = original));
}

test('a handler that throws gets a 500 and the server keeps serving', async (t) => {
  quietConsole(t);
  const { port } = await serve(t, (s) => {
    s.get('/throw', () => {
      throw new Error('boom');
    });
    s.get('/throw-string', () => {
      throw 'not an error';
    });
    s.get('/ok', (req, res) => res.send('ok'));
  });
  for (let i = 0; i < 3; i++) {
    assert.equal((await request(port, { path: '/throw' })).status, 500);
    assert.equal((await request(port, { path: '/throw-string' })).status, 500);
    assert.equal((await request(port, { path: '/ok' })).body, 'ok');
  }
});

test('a handler that rejects gets a 500', async (t) => {
  quietConsole(t);
  const { port } = await serve(t, (s) => {
    s.get('/reject', async () => {
      await null;
      throw new Error('async boom');
    });
    s.get('/ok', (req, res) => res.send('ok'));
  });
  assert.equal((await request(port, { path: '/reject' })).status, 500);
  assert.equal((await request(port, { path: '/ok' })).body, 'ok');
});

test('a middleware that rejects reaches the error handler without crashing the process', async (t) => {
  const seen = [];
  const { port } = await serve(t, (s) => {
    s.use(async (req) => {
      if (req.path === '/bad') throw new Error('mw failed');
    });
    s.get('/bad', (req, res) => res.send('unreachable'));
    s.get('/good', (req, res) => res.send('good'));
    s.set_error_handler((req, res, err) => {
      seen.push(err.message);
      res.status(418).send('custom');
    });
  });
  const bad = await request(port, { path: '/bad' });
  assert.deepEqual([bad.status, bad.body], [418, 'custom']);
  assert.equal((await request(port, { path: '/good' })).body, 'good');
  assert.deepEqual(seen, ['mw failed']);
});

test('set_error_handler receives the error; a throwing error handler still gives a 500', async (t) => {
  quietConsole(t);
  const { port } = await serve(t, (s) => {
    s.get('/x', () => {
      throw new Error('first');
    });
    s.set_error_handler(() => {
      throw new Error('handler broke too');
    });
  });
  assert.equal((await request(port, { path: '/x' })).status, 500);
  assert.throws(() => new (require('..').Server)().set_error_handler('nope'), TypeError);
});

test('a throw after the SSE stream opened ends the stream instead of hanging', async (t) => {
  quietConsole(t);
  const closed = deferred();
  const { port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      res.on('close', () => closed.resolve());
      res.sse.send('first');
      throw new Error('after open');
    }),
  );
  const c = rawGet(port, '/e');
  const raw = await c.waitForEnd();
  assert.match(raw, /data: first\n\n/);
  await closed.promise;
  c.socket.destroy();
});

test('CR/LF in a header or a bad status throws a clear Error and never reaches the wire', async (t) => {
  const errors = [];
  const { port } = await serve(t, (s) =>
    s.get('/x', (req, res) => {
      for (const bad of [
        () => res.header('x-a', 'v\r\nset-cookie: evil=1'),
        () => res.header('x-a', 'v\nx'),
        () => res.header('bad name', 'v'),
        () => res.header('x\r\ny', 'v'),
        () => res.status(42),
        () => res.status(1000),
        () => res.status('200'),
      ]) {
        try {
          bad();
          errors.push('no error');
        } catch (e) {
          errors.push(`${e.constructor.name}:${e instanceof Error}`);
        }
      }
      res.header('x-good', 'yes').send('fine');
    }),
  );
  const res = await request(port, { path: '/x' });
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-good'], 'yes');
  assert.equal(res.headers['set-cookie'], undefined);
  assert.equal(res.headers['x-a'], undefined);
  assert.deepEqual(errors, ['TypeError:true', 'TypeError:true', 'TypeError:true', 'TypeError:true', 'RangeError:true', 'RangeError:true', 'RangeError:true']);
});

// Each value bypasses the JS checks to prove Rust refuses it too: a CR/LF, and a bare
// LF that would split the joined head into an extra header pair.
for (const [what, value] of [
  ['a forged header list is refused with an Error', 'a\r\nb'],
  ['a header smuggled in with a bare line feed is refused', 'a\nx-injected\nyes'],
]) {
  test(`the native layer re-checks heads: ${what}`, async (t) => {
    const result = deferred();
    const { port } = await serve(t, (s) =>
      s.get('/x', (req, res) => {
        res._headers.push('x-evil', value);
        try {
          res.send('never');
          result.resolve('sent');
        } catch (e) {
          result.resolve(e instanceof Error ? e.message : 'not an Error');
          res._headers = [];
          res.send('recovered');
        }
      }),
    );
    const res = await request(port, { path: '/x' });
    assert.match(await result.promise, /invalid value for header/i);
    assert.equal(res.headers['x-evil'], undefined);
    assert.equal(res.headers['x-injected'], undefined);
    assert.equal(res.body, 'recovered');
  });
}

test('writing after the end never throws and returns false', async (t) => {
  const out = deferred();
  const { port } = await serve(t, (s) =>
    s.get('/x', (req, res) => {
      res.send('done');
      out.resolve({ write: res.write('more'), sse: res.sse.send('x'), end: res.end('again') === res });
    }),
  );
  assert.equal((await request(port, { path: '/x' })).body, 'done');
  assert.deepEqual(await out.promise, { write: false, sse: false, end: true });
});
