'use strict';
// The demo in examples/ works as README says.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventSource } = require('eventsource');
const { request, deferred } = require('./helpers');
const { createDemo } = require('../examples/sse-demo');

test('sse-demo: the page loads, /events ticks, /say reaches every stream', async (t) => {
  const server = createDemo();
  const port = await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  const page = await request(port);
  assert.match(page.headers['content-type'], /text\/html/);
  assert.match(page.body, /new EventSource\('\/events'\)/);

  const es = new EventSource(`http://127.0.0.1:${port}/events`);
  t.after(() => es.close());
  const tick = deferred();
  const said = deferred();
  es.addEventListener('tick', (e) => tick.resolve(e.data));
  es.addEventListener('say', (e) => said.resolve(e.data));
  es.onerror = (e) => tick.reject(new Error(e.message));
  assert.ok(!Number.isNaN(Date.parse(await tick.promise)));
  const res = await request(port, { method: 'POST', path: '/say', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'hi\nthere' }) });
  assert.equal(res.status, 202);
  assert.deepEqual(JSON.parse(res.body), { delivered: 1 });
  assert.equal(await said.promise, 'hi\nthere');
});
