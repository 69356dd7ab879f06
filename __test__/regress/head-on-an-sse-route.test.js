'use strict';
// Issue 16.8: HEAD falls back to the GET route, but `res.sse` was undefined for HEAD,
// so an unchanged HyperExpress SSE handler threw (500, an error on stderr). HEAD gets
// the stream's head and no body; the stream is over at once and 'close' fires.
const test = require('node:test');
const assert = require('node:assert/strict');
const { serve, rawClient, deferred } = require('../helpers');

test('HEAD on an SSE route: the event-stream head, no body, close fires, the connection stays usable', async (t) => {
  const seen = [];
  const closed = deferred();
  const { port } = await serve(t, (s) =>
    s.get('/events', (req, res) => {
      res.sse.open();
      seen.push(res.sse.send('hello'));
      res.on('close', () => {
        seen.push(`close ${req.method}`);
        if (req.method === 'HEAD') closed.resolve();
      });
    }),
  );
  const c = rawClient(port);
  t.after(() => c.socket.destroy());
  c.send('HEAD /events HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.waitFor('\r\n\r\n');
  await closed.promise;
  const head = c.data;
  assert.match(head, /^HTTP\/1\.1 200 /);
  assert.match(head, /\r\ncontent-type: text\/event-stream\r\n/i);
  assert.match(head, /\r\ncache-control: no-cache\r\n/i);
  assert.deepEqual(seen, [false, 'close HEAD'], 'a send after a HEAD head reports nothing sent');
  // No body followed: the next request on the same connection is answered.
  c.send('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.waitFor('data: hello\n\n');
  assert.equal(c.data.slice(head.length).indexOf('HTTP/1.1 200 '), 0, 'the GET answer follows the HEAD head directly');
});
