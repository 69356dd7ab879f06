'use strict';
// The Response a handler drives: status, headers (and their checks), body helpers,
// streaming with write()/end(), the initiated/completed flags, events and res.sse.
const test = require('node:test');
const assert = require('node:assert/strict');
const { hyper, serve, request, rawGet, bodyOf, deferred } = require('./helpers');

// The default error handler logs 5xx errors; keep test output readable.
function quietConsole(t) {
  const original = console.error;
  console.error = () => {};
  t.after(() => (console.error = original));
}

/** The [name, value] pairs of rawHeaders whose name is `name` (case-insensitive). */
function rawValues(rawHeaders, name) {
  const out = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) out.push(rawHeaders[i + 1]);
  return out;
}

/** Full raw response (head and body) for GET `path`, read until the server closes. */
async function rawResponse(port, path) {
  const c = rawGet(port, path, 'Connection: close\r\n');
  await c.closed;
  const split = c.data.indexOf('\r\n\r\n');
  return { raw: c.data, head: c.data.slice(0, split), body: c.data.slice(split + 4) };
}

test('status() sets the status code and chains', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/201', (req, res) => {
      const same = res.status(201);
      assert.equal(same, res);
      res.send('created');
    });
    s.get('/418', (req, res) => res.status(418).send());
    s.get('/999', (req, res) => res.status(599).send('edge'));
    s.get('/code', (req, res) => {
      res.statusCode = 202;
      res.send(String(res.statusCode));
    });
  });
  const a = await request(port, { path: '/201' });
  assert.deepEqual([a.status, a.body], [201, 'created']);
  assert.equal((await request(port, { path: '/418' })).status, 418);
  assert.equal((await request(port, { path: '/999' })).status, 599);
  const c = await request(port, { path: '/code' });
  assert.deepEqual([c.status, c.body], [202, '202']);
});

test('an invalid status throws a RangeError, leaves the status as it was, and the server keeps serving', async (t) => {
  quietConsole(t);
  const results = [];
  const { port } = await serve(t, (s) => {
    s.get('/caught', (req, res) => {
      res.status(201);
      for (const bad of [42, 1000, 99, -1, 200.5, NaN]) {
        try {
          res.status(bad);
          results.push(`${bad}: no throw`);
        } catch (e) {
          results.push(`${bad}: ${e instanceof RangeError ? 'RangeError' : e && e.name}`);
        }
      }
      res.send(`status was kept: ${res.statusCode}`);
    });
    s.get('/uncaught', (req, res) => {
      res.status(1000).send('unreachable');
    });
    s.get('/ok', (req, res) => res.send('still serving'));
  });
  const r = await request(port, { path: '/caught' });
  assert.deepEqual([r.status, r.body], [201, 'status was kept: 201']);
  assert.deepEqual(results, ['42: RangeError', '1000: RangeError', '99: RangeError', '-1: RangeError', '200.5: RangeError', 'NaN: RangeError']);
  const u = await request(port, { path: '/uncaught' });
  assert.equal(u.status, 500, 'an uncaught RangeError gives a 500');
  assert.notEqual(u.body, 'unreachable');
  const ok = await request(port, { path: '/ok' });
  assert.deepEqual([ok.status, ok.body], [200, 'still serving']);
});

test('header() appends: two values give two header lines', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/h', (req, res) => {
      res.header('x-multi', 'one').header('X-Multi', 'two');
      res.header('set-cookie', 'a=1').header('set-cookie', 'b=2');
      res.header('x-arr', ['p', 'q']);
      res.header('x-num', 42);
      res.send('ok');
    });
  });
  const r = await request(port, { path: '/h' });
  assert.equal(r.status, 200);
  assert.deepEqual(rawValues(r.rawHeaders, 'x-multi'), ['one', 'two']);
  assert.deepEqual(rawValues(r.rawHeaders, 'set-cookie'), ['a=1', 'b=2']);
  assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
  assert.deepEqual(rawValues(r.rawHeaders, 'x-arr'), ['p', 'q']);
  assert.deepEqual(rawValues(r.rawHeaders, 'x-num'), ['42']);
});

test('header(name, value, true) overwrites every earlier value', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/h', (req, res) => {
      res.header('x-over', 'one').header('X-Over', 'two');
      res.header('x-over', 'final', true);
      res.header('x-keep', 'a').header('x-keep', 'b', false);
      res.send('ok');
    });
  });
  const r = await request(port, { path: '/h' });
  assert.deepEqual(rawValues(r.rawHeaders, 'x-over'), ['final']);
  assert.deepEqual(rawValues(r.rawHeaders, 'x-keep'), ['a', 'b']);
});

test('header() with CR/LF in the value or the name throws a TypeError; the handler can recover and nothing bad reaches the wire', async (t) => {
  const errors = [];
  const { port } = await serve(t, (s) => {
    s.get('/bad', (req, res) => {
      const attempts = [
        () => res.header('x-evil', 'a\r\nx-injected: 1'),
        () => res.header('x-evil', 'line\nx-injected: 2'),
        () => res.header('x-evil', 'cr\rx-injected: 3'),
        () => res.header('x-evil\r\nx-injected', '4'),
        () => res.header('x-evil\n', '5'),
        () => res.header('x-evil', 'nul\0'),
        () => res.header('bad name', '6'),
      ];
      for (const attempt of attempts) {
        try {
          attempt();
          errors.push('no throw');
        } catch (e) {
          errors.push(e instanceof TypeError ? 'TypeError' : String(e));
        }
      }
      res.header('x-safe', 'yes').send('recovered');
    });
  });
  const { head, body } = await rawResponse(port, '/bad');
  assert.deepEqual(errors, Array(7).fill('TypeError'));
  assert.match(head, /^HTTP\/1\.1 200/);
  assert.match(head, /\r\nx-safe: yes/i);
  assert.doesNotMatch(head, /x-evil/i);
  assert.doesNotMatch(head, /x-injected/i);
  assert.equal(body, 'recovered');
});

test('an uncaught header TypeError gives a 500 without the header', async (t) => {
  quietConsole(t);
  const { port } = await serve(t, (s) => {
    s.get('/bad', (req, res) => {
      res.header('x-before', 'set before the error');
      res.header('x-evil', 'a\r\nx-injected: 1').send('unreachable');
    });
  });
  const { head, body } = await rawResponse(port, '/bad');
  assert.match(head, /^HTTP\/1\.1 500/);
  assert.doesNotMatch(head, /x-evil|x-injected/i);
  assert.doesNotMatch(head, /x-before/i, 'the error response starts with a fresh head');
  assert.notEqual(body, 'unreachable');
});

test('a rejected header(name, value, true) / setHeader() / type() leaves the earlier value in place', async (t) => {
  const threw = deferred();
  const { port } = await serve(t, (s) => {
    s.get('/h', (req, res) => {
      res.header('x-kept', 'original');
      res.setHeader('x-set', 'original');
      res.type('text');
      const kinds = [];
      for (const attempt of [
        () => res.header('x-kept', 'bad\r\nx-injected: 1', true),
        () => res.setHeader('x-set', 'bad\nx-injected: 2'),
        () => res.type('text/plain\r\nx-injected: 3'),
      ]) {
        try {
          attempt();
          kinds.push('no throw');
        } catch (e) {
          kinds.push(e instanceof TypeError ? 'TypeError' : String(e));
        }
      }
      threw.resolve(kinds);
      res.send('ok');
    });
  });
  const r = await request(port, { path: '/h' });
  assert.deepEqual(await threw.promise, ['TypeError', 'TypeError', 'TypeError']);
  assert.equal(r.headers['x-injected'], undefined);
  // A call that throws must not change the headers (Node's setHeader validates before it mutates).
  assert.deepEqual(
    {
      'x-kept': rawValues(r.rawHeaders, 'x-kept'),
      'x-set': rawValues(r.rawHeaders, 'x-set'),
      'content-type': rawValues(r.rawHeaders, 'content-type'),
    },
    { 'x-kept': ['original'], 'x-set': ['original'], 'content-type': ['text/plain; charset=utf-8'] },
  );
});

test('a rejected array value for header() adds none of its values', async (t) => {
  const threw = deferred();
  const { port } = await serve(t, (s) => {
    s.get('/h', (req, res) => {
      try {
        res.header('x-list', ['fine', 'bad\nx-injected: 1']);
        threw.resolve(false);
      } catch (e) {
        threw.resolve(e instanceof TypeError);
      }
      res.send('ok');
    });
  });
  const r = await request(port, { path: '/h' });
  assert.equal(await threw.promise, true);
  assert.equal(r.headers['x-injected'], undefined);
  assert.deepEqual(rawValues(r.rawHeaders, 'x-list'), [], 'a call that throws must not change the headers');
});

test("type('json'/'html'/'text') and full MIME types set content-type (replacing it)", async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/json', (req, res) => res.type('json').send('{"a":1}'));
    s.get('/html', (req, res) => res.type('html').send('<p>hi</p>'));
    s.get('/text', (req, res) => res.type('text').send('plain'));
    s.get('/mime', (req, res) => res.type('image/svg+xml').send('<svg/>'));
    s.get('/twice', (req, res) => res.type('html').type('json').send('{}'));
  });
  const cases = [
    ['/json', 'application/json; charset=utf-8', '{"a":1}'],
    ['/html', 'text/html; charset=utf-8', '<p>hi</p>'],
    ['/text', 'text/plain; charset=utf-8', 'plain'],
    ['/mime', 'image/svg+xml', '<svg/>'],
  ];
  for (const [path, type, body] of cases) {
    const r = await request(port, { path });
    assert.equal(r.headers['content-type'], type, path);
    assert.equal(r.body, body, path);
  }
  const twice = await request(port, { path: '/twice' });
  assert.deepEqual(rawValues(twice.rawHeaders, 'content-type'), ['application/json; charset=utf-8']);
});

test('send() with a string, a Buffer, a Uint8Array and nothing', async (t) => {
  const binary = Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255]);
  const { port } = await serve(t, (s) => {
    s.get('/string', (req, res) => res.send('héllo'));
    s.get('/buffer', (req, res) => res.send(binary));
    s.get('/u8', (req, res) => res.send(new Uint8Array([104, 105])));
    s.get('/empty', (req, res) => res.send());
  });
  const str = await request(port, { path: '/string' });
  assert.equal(str.body, 'héllo');
  assert.equal(str.headers['content-length'], String(Buffer.byteLength('héllo')));

  const buf = await rawResponse(port, '/buffer');
  assert.match(buf.head, /\r\ncontent-length: 9/i);
  assert.deepEqual(Buffer.from(buf.body, 'latin1'), binary);

  assert.equal((await request(port, { path: '/u8' })).body, 'hi');
  const empty = await request(port, { path: '/empty' });
  assert.deepEqual([empty.status, empty.body], [200, '']);
});

test('json() sends JSON with a JSON content-type; html() sends HTML', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/json', (req, res) => res.json({ a: [1, 'two', null], b: { c: true } }));
    s.get('/json-typed', (req, res) => res.type('application/vnd.api+json').json({ x: 1 }));
    s.get('/html', (req, res) => res.html('<h1>Title</h1>'));
  });
  const j = await request(port, { path: '/json' });
  assert.match(j.headers['content-type'], /^application\/json/);
  assert.deepEqual(JSON.parse(j.body), { a: [1, 'two', null], b: { c: true } });
  const jt = await request(port, { path: '/json-typed' });
  assert.equal(jt.headers['content-type'], 'application/vnd.api+json', 'json() keeps a content-type set earlier');
  const h = await request(port, { path: '/html' });
  assert.match(h.headers['content-type'], /^text\/html/);
  assert.equal(h.body, '<h1>Title</h1>');
});

test('redirect() answers 302 with a location header', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/old', (req, res) => res.redirect('/new?x=1'));
    s.get('/moved', (req, res) => res.status(301).redirect('https://example.test/'));
    s.get('/express', (req, res) => res.redirect(307, '/tmp'));
  });
  const r = await request(port, { path: '/old' });
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, '/new?x=1');
  const m = await request(port, { path: '/moved' });
  assert.deepEqual([m.status, m.headers.location], [301, 'https://example.test/']);
  const e = await request(port, { path: '/express' });
  assert.deepEqual([e.status, e.headers.location], [307, '/tmp']);
});

test('write() returns true while connected and the body arrives chunked; end() finishes it', async (t) => {
  const results = deferred();
  const { port } = await serve(t, (s) => {
    s.get('/stream', (req, res) => {
      res.header('x-streamed', 'yes');
      const flags = [[res.initiated, res.completed]];
      const first = res.write('first,');
      flags.push([res.initiated, res.completed]);
      const second = res.write(Buffer.from('second,'));
      const third = res.write('74686972642c', 'hex');
      res.end('last');
      flags.push([res.initiated, res.completed]);
      const afterEnd = res.write('too late');
      results.resolve({ first, second, third, afterEnd, flags });
    });
  });
  const { head, body } = await rawResponse(port, '/stream');
  assert.match(head, /^HTTP\/1\.1 200/);
  assert.match(head, /\r\ntransfer-encoding: chunked/i);
  assert.doesNotMatch(head, /\r\ncontent-length:/i);
  assert.match(head, /\r\nx-streamed: yes/i);
  assert.equal(bodyOf(head + '\r\n\r\n' + body), 'first,second,third,last');
  const got = await results.promise;
  assert.deepEqual([got.first, got.second, got.third], [true, true, true]);
  assert.equal(got.afterEnd, false, 'write() after end() returns false');
  assert.deepEqual(got.flags, [
    [false, false],
    [true, false],
    [true, true],
  ]);
});

test('write() callback is called; end() without writes sends a whole response', async (t) => {
  const cb = deferred();
  const { port } = await serve(t, (s) => {
    s.get('/cb', (req, res) => {
      res.write('x', (err) => {
        cb.resolve(err);
        res.end();
      });
    });
    s.get('/end', (req, res) => res.end('ended body'));
    s.get('/end-empty', (req, res) => res.status(204).end());
  });
  const r = await request(port, { path: '/cb' });
  assert.equal(r.body, 'x');
  assert.equal(await cb.promise, undefined);
  const e = await request(port, { path: '/end' });
  assert.deepEqual([e.status, e.body, e.headers['content-length']], [200, 'ended body', '10']);
  const ee = await request(port, { path: '/end-empty' });
  assert.deepEqual([ee.status, ee.body], [204, '']);
});

test('initiated and completed flags around send()', async (t) => {
  const flags = deferred();
  const { port } = await serve(t, (s) => {
    s.get('/f', (req, res) => {
      const before = { initiated: res.initiated, completed: res.completed, aborted: res.aborted };
      res.send('done');
      const after = { initiated: res.initiated, completed: res.completed, aborted: res.aborted };
      // A second send is ignored.
      res.send('ignored');
      flags.resolve({ before, after });
    });
  });
  const r = await request(port, { path: '/f' });
  assert.equal(r.body, 'done');
  assert.deepEqual(await flags.promise, {
    before: { initiated: false, completed: false, aborted: false },
    after: { initiated: true, completed: true, aborted: false },
  });
});

/** Records the response events for one request; resolves with them after 'close'. */
function recordEvents(res, log) {
  for (const ev of ['prepare', 'finish', 'close', 'abort']) {
    res.on(ev, (req, r) => {
      log.push(ev);
      assert.equal(r, res, `'${ev}' passes the response`);
      assert.equal(req, res.req, `'${ev}' passes the request`);
    });
  }
}

test("events for send(): 'prepare', 'finish', 'close', each exactly once; prepare can still set headers", async (t) => {
  const log = [];
  const closed = deferred();
  const { port } = await serve(t, (s) => {
    s.get('/e', (req, res) => {
      recordEvents(res, log);
      res.once('prepare', () => res.header('x-from-prepare', 'yes'));
      res.once('close', () => closed.resolve());
      res.send('evented');
    });
    s.get('/next', (req, res) => res.send('next'));
  });
  const r = await request(port, { path: '/e' });
  assert.equal(r.body, 'evented');
  assert.equal(r.headers['x-from-prepare'], 'yes');
  await closed.promise;
  // Another full round trip, so any late duplicate event would have arrived.
  await request(port, { path: '/next' });
  assert.deepEqual(log, ['prepare', 'finish', 'close']);
});

test("events for write() + end(): 'prepare', 'finish', 'close', each exactly once", async (t) => {
  const log = [];
  const closed = deferred();
  const state = deferred();
  const { port } = await serve(t, (s) => {
    s.get('/e', (req, res) => {
      recordEvents(res, log);
      res.once('prepare', () => res.header('x-from-prepare', 'stream'));
      res.once('close', () => {
        state.resolve({ completed: res.completed, aborted: res.aborted });
        closed.resolve();
      });
      res.write('a');
      res.write('b');
      res.end('c');
    });
    s.get('/next', (req, res) => res.send('next'));
  });
  const r = await request(port, { path: '/e' });
  assert.equal(r.body, 'abc');
  assert.equal(r.headers['x-from-prepare'], 'stream');
  await closed.promise;
  await request(port, { path: '/next' });
  assert.deepEqual(log, ['prepare', 'finish', 'close']);
  assert.deepEqual(await state.promise, { completed: true, aborted: false });
});

test("events for a redirect and for the default 404 also end with one 'close'", async (t) => {
  const log = [];
  const { port } = await serve(t, (s) => {
    s.use((req, res, next) => {
      res.on('close', () => log.push(`close ${req.path}`));
      next();
    });
    s.get('/r', (req, res) => res.redirect('/x'));
  });
  assert.equal((await request(port, { path: '/r' })).status, 302);
  assert.equal((await request(port, { path: '/missing' })).status, 404);
  assert.deepEqual(log, ['close /r', 'close /missing']);
});

test('res.sse is undefined for POST and the same SSEventStream on every access for GET', async (t) => {
  const seen = [];
  const { port } = await serve(t, (s) => {
    s.post('/s', (req, res) => {
      seen.push({ method: req.method, sse: res.sse, again: res.sse });
      res.send('post');
    });
    s.get('/s', (req, res) => {
      const a = res.sse;
      const b = res.sse;
      seen.push({ method: req.method, same: a === b, isStream: a instanceof hyper.SSEventStream, initiated: res.initiated });
      res.send('get');
    });
  });
  assert.equal((await request(port, { method: 'POST', path: '/s' })).body, 'post');
  const g = await request(port, { path: '/s' });
  assert.equal(g.body, 'get', 'touching res.sse does not open the stream');
  assert.deepEqual(seen, [
    { method: 'POST', sse: undefined, again: undefined },
    { method: 'GET', same: true, isStream: true, initiated: false },
  ]);
});

test('res.sse streams events on a GET', async (t) => {
  const closed = deferred();
  const { port } = await serve(t, (s) => {
    s.get('/events', (req, res) => {
      res.once('close', () => closed.resolve());
      assert.equal(res.sse.send('hello'), true);
      assert.equal(res.sse.send('greeting', 'hi'), true);
      res.sse.close();
    });
  });
  const c = rawGet(port, '/events', 'Connection: close\r\n');
  await c.closed;
  await closed.promise;
  assert.match(c.data, /^HTTP\/1\.1 200/);
  assert.match(c.data, /\r\ncontent-type: text\/event-stream/i);
  const body = bodyOf(c.data);
  assert.equal(body, 'data: hello\n\nevent: greeting\ndata: hi\n\n');
});

test('getHeader/hasHeader/removeHeader reflect header() calls', async (t) => {
  const seen = deferred();
  const { port } = await serve(t, (s) => {
    s.get('/h', (req, res) => {
      res.header('X-One', '1').header('x-two', 'a').header('x-two', 'b').header('x-gone', 'bye');
      res.removeHeader('X-GONE');
      seen.resolve({
        one: res.getHeader('x-one'),
        two: res.getHeader('X-Two'),
        hasOne: res.hasHeader('X-ONE'),
        hasGone: res.hasHeader('x-gone'),
      });
      res.send('ok');
    });
  });
  const r = await request(port, { path: '/h' });
  assert.deepEqual(await seen.promise, { one: '1', two: ['a', 'b'], hasOne: true, hasGone: false });
  assert.equal(r.headers['x-gone'], undefined);
  assert.equal(r.headers['x-one'], '1');
});
