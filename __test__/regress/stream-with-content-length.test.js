'use strict';
// Issue 16.4: a Content-Length set by a handler on an event stream made hyper fail the
// connection before the head went out (zero bytes, then `close` as aborted). An event
// stream has no length: it is dropped. And a sized non-SSE stream delivered in full
// ends normally ('close' without 'abort').
const test = require('node:test');
const assert = require('node:assert/strict');
const { serve, rawGet, request, bodyOf, deferred, once } = require('../helpers');

test("writeHead with Content-Length on an event stream: the length is dropped and events flow", async (t) => {
  const ready = deferred();
  const { port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Content-Length': '20', 'Cache-Control': 'no-cache' });
      ready.resolve(res);
    }),
  );
  const c = rawGet(port, '/e');
  t.after(() => c.socket.destroy());
  const res = await ready.promise;
  assert.equal(res.write('data: first\n\n'), true);
  await c.waitFor('data: first\n\n');
  res.write('data: second, past the 20 bytes once declared\n\n');
  await c.waitFor('second');
  const head = c.data.slice(0, c.data.indexOf('\r\n\r\n'));
  assert.match(head, /^HTTP\/1\.1 200 /);
  assert.doesNotMatch(head, /content-length/i);
  const aborted = [];
  res.on('abort', () => aborted.push('abort'));
  const closed = once(res, 'close');
  res.end();
  await closed;
  await c.waitForEnd();
  assert.equal(bodyOf(c.data), 'data: first\n\ndata: second, past the 20 bytes once declared\n\n');
  assert.deepEqual(aborted, []);
});

test("a sized stream that is delivered in full closes normally, not as aborted", async (t) => {
  const events = [];
  const closed = deferred();
  const { port } = await serve(t, (s) =>
    s.get('/sized', (req, res) => {
      res.on('abort', () => events.push('abort'));
      res.on('finish', () => events.push('finish'));
      res.on('close', () => {
        events.push('close');
        closed.resolve();
      });
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '10' });
      res.write('hello');
      setTimeout(() => res.end('world'), 20);
    }),
  );
  const c = rawGet(port, '/sized');
  t.after(() => c.socket.destroy());
  await c.waitFor('helloworld');
  await closed.promise;
  assert.match(c.data, /\r\ncontent-length: 10\r\n/i);
  assert.ok(c.data.endsWith('\r\n\r\nhelloworld'));
  assert.deepEqual(events, ['finish', 'close']);
});

test("a file piped into a response with its Content-Length: 'finish' then 'close', as on Node", async (t) => {
  const fs = require('fs');
  const os = require('os');
  const path = require('path');
  const file = path.join(os.tmpdir(), `hyper-sse-cl-${process.pid}.bin`);
  fs.writeFileSync(file, Buffer.alloc(1_000_000, 'f'));
  t.after(() => fs.rmSync(file, { force: true }));
  const events = [];
  const closed = deferred();
  const { port } = await serve(t, (s) =>
    s.get('/file', (req, res) => {
      for (const e of ['finish', 'abort', 'close']) res.on(e, () => (events.push(e), e === 'close' && closed.resolve()));
      res.setHeader('Content-Length', String(fs.statSync(file).size));
      fs.createReadStream(file).pipe(res);
    }),
  );
  const res = await request(port, { path: '/file' });
  assert.equal(res.body.length, 1_000_000);
  await closed.promise;
  assert.deepEqual(events, ['finish', 'close']);
});

test('a sized stream ended short of its length is reported as aborted: the client did not get it all', async (t) => {
  const events = [];
  const closed = deferred();
  const { port } = await serve(t, (s) =>
    s.get('/short', (req, res) => {
      for (const e of ['abort', 'close']) res.on(e, () => (events.push(e), e === 'close' && closed.resolve()));
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('only five');
      setTimeout(() => res.end(), 20);
    }),
  );
  const c = rawGet(port, '/short');
  t.after(() => c.socket.destroy());
  await closed.promise;
  assert.deepEqual(events, ['abort', 'close']);
});
