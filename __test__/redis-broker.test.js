'use strict';
// Channels shared across processes through Redis (issue 15): two workers on one port,
// a redis-server started here (persistence off) and stopped after.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const http = require('node:http');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const { sleep } = require('./helpers');

let hasRedis = true;
try {
  execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
} catch {
  hasRedis = false;
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startRedis(port) {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (up) return child;
    await sleep(20);
  }
  throw new Error('redis-server did not start');
}

async function waitFor(condition, ms, what) {
  for (let waited = 0; waited < ms; waited += 20) {
    if (await condition()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

function post(port, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/pub', agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** An SSE client; `events` fills with { id, data } as they arrive. */
function listen(port, lastEventId) {
  const client = { events: [], res: undefined };
  const headers = lastEventId ? { 'last-event-id': lastEventId } : {};
  client.req = http.get({ host: '127.0.0.1', port, path: '/sse', headers, agent: false }, (res) => {
    client.res = res;
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (c) => {
      buf += c;
      let end;
      while ((end = buf.indexOf('\n\n')) !== -1) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const id = /^id: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (data !== undefined) client.events.push({ id, data });
      }
    });
  });
  client.req.on('error', () => {});
  return client;
}

test('channels over Redis: two workers on one port, publishes from both reach every client once, in one order', { skip: hasRedis ? false : 'redis-server is not installed', timeout: 60000 }, async (t) => {
  const redisPort = await freePort();
  let redis = await startRedis(redisPort);
  t.after(() => redis.kill());
  const port = await freePort();
  const workers = [0, 1].map(() => {
    const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'broker-worker.js')], { env: { ...process.env, PORT: String(port), REDIS: `redis://127.0.0.1:${redisPort}/`, NODE_TEST_CONTEXT: '' }, stdio: ['pipe', 'pipe', 'inherit'] });
    child.out = '';
    child.stdout.on('data', (c) => (child.out += c));
    return child;
  });
  t.after(() => workers.forEach((w) => w.exitCode === null && w.kill('SIGKILL')));
  await waitFor(() => workers.every((w) => w.out.includes('ready')), 20000, 'workers');

  const clients = Array.from({ length: 8 }, () => listen(port));
  await sleep(300);
  const publishers = new Set();
  for (let i = 1; i <= 20; i++) {
    const r = await post(port, `event ${i}`);
    assert.equal(r.status, 200, r.text);
    publishers.add(r.text.split(' ')[1]);
  }
  assert.equal(publishers.size, 2, 'both workers published');
  await waitFor(() => clients.every((c) => c.events.length === 20), 5000, 'every client to get all 20');
  const order = clients[0].events;
  assert.deepEqual(order.map((e) => e.data), Array.from({ length: 20 }, (_, i) => `event ${i + 1}`));
  for (const c of clients) assert.deepEqual(c.events, order, 'the same events, ids and order everywhere');

  // A client that saw event 12 reconnects (to either worker): it gets 13..20.
  const back = listen(port, order[11].id);
  await waitFor(() => back.events.length === 8, 5000, 'the replay');
  assert.deepEqual(back.events, order.slice(12));

  // Redis goes away: publishes fail fast with an error, streams stay open.
  redis.kill('SIGKILL');
  await new Promise((resolve) => redis.once('exit', resolve));
  const started = Date.now();
  const down = await post(port, 'while down');
  assert.equal(down.status, 503);
  assert.match(down.text, /publish failed/);
  assert.ok(Date.now() - started < 3000);
  assert.ok(clients.every((c) => c.res && !c.res.destroyed), 'streams stay open');

  // Back (empty): delivery resumes by itself.
  redis = await startRedis(redisPort);
  await waitFor(async () => (await post(port, 'after')).status === 200, 10000, 'publishes to work again');
  await waitFor(() => clients.every((c) => c.events.some((e) => e.data === 'after')), 10000, 'delivery to resume');
  // Nothing published after the restart was lost or doubled anywhere.
  await sleep(300);
  for (const c of clients) assert.deepEqual(c.events, clients[0].events);
  for (const c of clients) c.req.destroy();
  back.req.destroy();
  for (const w of workers) w.stdin.end();
});

test('channels over Redis: one process publishes in call order; a closed channel refuses', { skip: hasRedis ? false : 'redis-server is not installed', timeout: 30000 }, async (t) => {
  const hyper = require('..');
  const redisPort = await freePort();
  const redis = await startRedis(redisPort);
  t.after(() => redis.kill());
  const server = new hyper.Server();
  const ch = server.channel('order', { history: 10, broker: `redis://127.0.0.1:${redisPort}/` });
  await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  const ids = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((d) => ch.publish(d)));
  assert.deepEqual(ids.map((id) => Number(id.split('-')[1])), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.ok(ids.every((id) => id.split('-')[0] === ids[0].split('-')[0]), 'one epoch');
  await assert.rejects(ch.publish({ id: 'mine', data: 'x' }), TypeError);
  ch.close();
  await assert.rejects(ch.publish('after close'), /channel is closed/);
});
