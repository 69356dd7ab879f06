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
  assert.match(page.body, /watch\('clock', '\/events\?feed=clock'/);
  assert.match(page.body, /watch\('stats', '\/stats'/);

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

test('sse-demo over HTTPS: the page and the live stats stream over h2', async (t) => {
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const http2 = require('node:http2');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyper-sse-demo-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { key, cert } = require('./helpers').selfSignedCert(dir);
  const server = createDemo({ key_file_name: key, cert_file_name: cert });
  const port = await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  t.after(() => session.destroy());
  const read = (p, until) =>
    new Promise((resolve, reject) => {
      const req = session.request({ ':path': p });
      let head;
      let body = '';
      req.on('response', (h) => (head = h));
      req.setEncoding('utf8');
      req.on('data', (c) => {
        body += c;
        if (until && until.test(body)) {
          req.close();
          resolve({ head, body });
        }
      });
      req.on('end', () => resolve({ head, body }));
      req.on('error', reject);
    });
  const page = await read('/');
  assert.equal(page.head[':status'], 200);
  assert.match(page.body, /hyper-sse demo/);
  const stats = await read('/stats', /^data: .*\n\n/m);
  assert.match(stats.head['content-type'], /^text\/event-stream/);
  const data = JSON.parse(/^data: (.*)$/m.exec(stats.body)[1]);
  assert.equal(data.connections, 1);
  assert.ok(data.streams >= 1);
});
