'use strict';
// Issue 16.4: a Content-Length set by a handler on an event stream made hyper fail the
// connection before the head went out (zero bytes, then `close` as aborted). An event
// stream has no length: it is dropped. And a sized non-SSE stream delivered in full
// ends normally ('close' without 'abort').
const test = require('node:test');
const assert = require('node:assert/strict');
const { serve, rawGet, bodyOf, deferred, once } = require('../helpers');

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
