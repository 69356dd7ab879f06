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

function startWorker(t, port, redisPort, env = {}) {
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'broker-worker.js')], { env: { ...process.env, PORT: String(port), REDIS: `redis://127.0.0.1:${redisPort}/`, NODE_TEST_CONTEXT: '', ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
  child.out = '';
  child.stdout.on('data', (c) => (child.out += c));
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));
  return child;
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

/** An SSE client; `events` fills with { id, data } as they arrive (a gap notice: { id, gap }). */
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
        if (/^event: gap$/m.test(block)) client.events.push({ id, gap: JSON.parse(data) });
        else if (data !== undefined) client.events.push({ id, data });
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
  const workers = [0, 1].map(() => startWorker(t, port, redisPort));
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

  // Back (empty): delivery resumes by itself. The history the clients knew is gone:
  // each is told once (a gap notice, reason "reset"), then gets the new events.
  redis = await startRedis(redisPort);
  await waitFor(async () => (await post(port, 'after')).status === 200, 10000, 'publishes to work again');
  await waitFor(() => clients.every((c) => c.events.some((e) => e.data === 'after')), 10000, 'delivery to resume');
  await sleep(300);
  for (const c of clients) {
    const later = c.events.slice(20);
    const gaps = later.filter((e) => e.gap);
    assert.equal(gaps.length, 1, JSON.stringify(later));
    assert.deepEqual(gaps[0].gap, { reason: 'reset', last_event_id: order[19].id });
    assert.deepEqual(later.filter((e) => !e.gap).map((e) => e.data), ['after'], 'nothing lost or doubled after the restart');
    assert.ok(later.indexOf(gaps[0]) < later.findIndex((e) => e.data === 'after'), 'told before the new events');
  }

  // A worker dies: the other keeps serving (its clients keep streaming, new ones connect).
  workers[0].kill('SIGKILL');
  await new Promise((resolve) => workers[0].once('exit', resolve));
  await sleep(100);
  const survivors = clients.filter((c) => !c.res.destroyed && !c.res.complete);
  assert.ok(survivors.length > 0 && survivors.length < clients.length, `some clients were on the dead worker (${survivors.length} of ${clients.length} left)`);
  const fresh = listen(port);
  await waitFor(() => fresh.res !== undefined, 5000, 'a new client to connect');
  await sleep(100);
  const r = await post(port, 'one worker');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text.split(' ')[1], String(workers[1].pid));
  await waitFor(() => [...survivors, fresh].every((c) => c.events.some((e) => e.data === 'one worker')), 5000, 'the survivor to deliver');
  for (const c of [...clients, fresh]) c.req.destroy();
  back.req.destroy();
  workers[1].stdin.end();
});

test('channels over Redis: a process that never saw the events replays them from Redis; trimmed ones become a gap notice', { skip: hasRedis ? false : 'redis-server is not installed', timeout: 60000 }, async (t) => {
  const redisPort = await freePort();
  const redis = await startRedis(redisPort);
  t.after(() => redis.kill());
  // A keeps 500 events; B starts after them, so its local history has none of them.
  const portA = await freePort();
  const a = startWorker(t, portA, redisPort, { HISTORY: '500' });
  await waitFor(() => a.out.includes('ready'), 20000, 'worker A');
  const seen = listen(portA);
  await sleep(200);
  for (let i = 1; i <= 30; i++) assert.equal((await post(portA, `e${i}`)).status, 200);
  await waitFor(() => seen.events.length === 30, 5000, 'all 30');
  const ids = seen.events.map((e) => e.id);

  const portB = await freePort();
  const b = startWorker(t, portB, redisPort, { HISTORY: '500' });
  await waitFor(() => b.out.includes('ready'), 20000, 'worker B');
  // A client that saw e10 reconnects to B while publishes go on: e11..e30 from Redis,
  // then the live ones, each once, in order.
  const back = listen(portB, ids[9]);
  const live = (async () => {
    for (let i = 31; i <= 40; i++) assert.equal((await post(portA, `e${i}`)).status, 200);
  })();
  await live;
  await waitFor(() => back.events.length === 30, 5000, 'the replay and the live events');
  await sleep(200);
  assert.deepEqual(back.events.map((e) => e.data), Array.from({ length: 30 }, (_, i) => `e${i + 11}`));
  assert.deepEqual(back.events.slice(0, 20).map((e) => e.id), ids.slice(10), 'the same ids as everywhere');
  // An id Redis never gave: told (reason reset), then everything still kept.
  const stranger = listen(portB, 'zzz-3');
  await waitFor(() => stranger.events.length === 41, 5000, 'a gap notice and the 40 kept');
  assert.deepEqual(stranger.events[0].gap, { reason: 'reset', last_event_id: 'zzz-3' });

  // C keeps 5: publish far past what Redis keeps for it (its stream is trimmed near 5,
  // a little more: MAXLEN ~ trims whole nodes), then resume from e2 on C.
  const portC = await freePort();
  const c = startWorker(t, portC, redisPort, { HISTORY: '5' });
  await waitFor(() => c.out.includes('ready'), 20000, 'worker C');
  for (let i = 41; i <= 400; i++) assert.equal((await post(portC, `e${i}`)).status, 200);
  const late = listen(portC, ids[1]);
  await waitFor(() => late.events.some((e) => e.data === 'e400'), 5000, 'the kept events');
  await sleep(200);
  const [gap, ...kept] = late.events;
  assert.deepEqual(gap.gap, { reason: 'trimmed', last_event_id: ids[1] });
  const numbers = kept.map((e) => Number(e.data.slice(1)));
  assert.ok(numbers.length >= 5 && numbers.length < 399, `some kept, not all (${numbers.length})`);
  assert.deepEqual(numbers, Array.from({ length: numbers.length }, (_, i) => 401 - numbers.length + i), 'the newest, in order, each once');
  // The notice's id resumes right before the first kept event: a reconnect from it gets no second notice.
  assert.equal(Number(gap.id.split('-')[1]) + 1, Number(kept[0].id.split('-')[1]));
  const again = listen(portC, gap.id);
  await waitFor(() => again.events.length === numbers.length, 5000, 'the same kept events');
  assert.ok(again.events.every((e) => !e.gap));
  for (const cl of [seen, back, stranger, late, again]) cl.req.destroy();
  for (const w of [a, b, c]) w.stdin.end();
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
  // A burst goes out in pipelined round trips: all taken, in call order.
  const burst = await Promise.all(Array.from({ length: 5000 }, (_, i) => ch.publish(`b${i}`)));
  assert.deepEqual(burst.map((id) => Number(id.split('-')[1])), Array.from({ length: 5000 }, (_, i) => i + 9));
  // Connections killed mid-burst: publishes sent again are not published twice.
  const taken = [];
  const pending = Array.from({ length: 20000 }, (_, i) => ch.publish(`k${i}`).then((id) => taken.push(id), () => {}));
  for (let i = 0; i < 3; i++) {
    await sleep(20);
    execFileSync('redis-cli', ['-p', String(redisPort), 'CLIENT', 'KILL', 'TYPE', 'normal'], { stdio: 'ignore' });
  }
  await Promise.all(pending);
  const offset = Number(execFileSync('redis-cli', ['-p', String(redisPort), 'HGET', 'hyper-sse:{order}:meta', 'offset'], { encoding: 'utf8' }).trim());
  assert.equal(new Set(taken).size, taken.length, 'one id per publish');
  // Redis numbered no publish twice: at most one number per publish (exactly one each
  // when none was rejected; a rejection for no answer in time may still have been taken).
  assert.ok(offset - 5008 <= 20000, `${offset - 5008} numbers for 20000 publishes`);
  if (taken.length === 20000) assert.equal(offset - 5008, 20000);
  ch.close();
  await assert.rejects(ch.publish('after close'), /channel is closed/);
});

test('channels over Redis: a publish resolves once this process\'s subscribers have the event, also while Pub/Sub reconnects', { skip: hasRedis ? false : 'redis-server is not installed', timeout: 30000 }, async (t) => {
  const hyper = require('..');
  const redisPort = await freePort();
  const redis = await startRedis(redisPort);
  t.after(() => redis.kill());
  const server = new hyper.Server({ broker: `redis://127.0.0.1:${redisPort}/` });
  const ch = server.channel('served', { history: 100 });
  server.get('/sse', (req, res) => ch.subscribe(res));
  const port = await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  const clients = [listen(port), listen(port), listen(port)];
  await waitFor(() => ch.size === 3, 5000, 'three subscribers');
  await ch.publish('warm-up');
  await waitFor(() => clients.every((c) => c.events.length === 1), 5000, 'the warm-up event');
  for (let i = 0; i < 30; i++) {
    const before = server.stats().events_sent;
    await ch.publish(`e${i}`);
    assert.equal(server.stats().events_sent - before, 3, `publish ${i}: queued to every subscriber by the time it resolved`);
  }
  // Pub/Sub connection dropped: publishes still resolve (within a bound), and what was
  // published meanwhile reaches the subscribers from the history.
  execFileSync('redis-cli', ['-p', String(redisPort), 'CLIENT', 'KILL', 'TYPE', 'pubsub'], { stdio: 'ignore' });
  const started = Date.now();
  const ids = await Promise.all(['k0', 'k1', 'k2', 'k3', 'k4'].map((d) => ch.publish(d)));
  assert.ok(Date.now() - started < 1500, `resolved in ${Date.now() - started} ms`);
  await waitFor(() => clients.every((c) => c.events.length === 36), 5000, 'every event');
  for (const c of clients) {
    assert.deepEqual(c.events.map((e) => e.data), ['warm-up', ...Array.from({ length: 30 }, (_, i) => `e${i}`), 'k0', 'k1', 'k2', 'k3', 'k4']);
    assert.deepEqual(c.events.slice(31).map((e) => e.id), ids);
    c.req.destroy();
  }
});

test('channels over Redis: a channel made in a handler and published to at once reaches the stream it just subscribed', { skip: hasRedis ? false : 'redis-server is not installed', timeout: 30000 }, async (t) => {
  const hyper = require('..');
  const redisPort = await freePort();
  let redis = await startRedis(redisPort);
  t.after(() => redis.kill());
  // A broker with no connection yet (its first channel), then the same broker warm,
  // with 20 new channels at once, then right after Redis restarted empty (its command
  // connection broken): each first event was lost before its Pub/Sub subscription
  // took (it counted as published before this process listened).
  const server = new hyper.Server({ broker: `redis://127.0.0.1:${redisPort}` });
  server.get('/sse', async (req, res) => {
    const n = Number(new URL(req.url, 'http://x').searchParams.get('n'));
    const channels = Array.from({ length: n }, (_, i) => server.channel(`fresh-${n}-${i}`, { history: 10 }));
    for (const ch of channels) ch.subscribe(res);
    await Promise.all(channels.map((ch, i) => ch.publish(`first-${i}`)));
    await Promise.all(channels.map((ch, i) => ch.publish(`second-${i}`)));
  });
  const port = await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  for (const n of [1, 20, 2]) {
    if (n === 2) {
      redis.kill('SIGKILL');
      await new Promise((resolve) => redis.once('exit', resolve));
      redis = await startRedis(redisPort);
    }
    const client = { events: [] };
    await new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: `/sse?n=${n}`, agent: false }, (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          buf += chunk;
          for (const m of buf.matchAll(/^data: (.*)$/gm)) if (!client.events.includes(m[1])) client.events.push(m[1]);
          if (client.events.length === 2 * n) resolve();
        });
      });
      req.on('error', () => {});
      client.req = req;
      setTimeout(resolve, 5000);
    });
    client.req.destroy();
    const expected = Array.from({ length: n }, (_, i) => [`first-${i}`, `second-${i}`]).flat();
    assert.deepEqual([...client.events].sort(), [...expected].sort(), `${n} new channel(s): every event, the first ones too`);
  }
});

test('channels over Redis: two servers of one process share a channel name; history 0 replays nothing but tells', { skip: hasRedis ? false : 'redis-server is not installed', timeout: 30000 }, async (t) => {
  const hyper = require('..');
  const redisPort = await freePort();
  const redis = await startRedis(redisPort);
  t.after(() => redis.kill());
  const broker = `redis://127.0.0.1:${redisPort}/`;
  const servers = [new hyper.Server({ broker }), new hyper.Server({ broker })];
  const channels = servers.map((s) => s.channel('shared'));
  const ports = [];
  for (const [i, s] of servers.entries()) {
    s.get('/sse', (req, res) => channels[i].subscribe(res));
    ports.push(await s.listen(0, '127.0.0.1'));
    t.after(() => s.close());
  }
  const clients = ports.map((p) => listen(p));
  await sleep(300);
  const first = await channels[0].publish('one');
  await waitFor(() => clients.every((c) => c.events.length === 1), 5000, 'both servers to deliver');
  // Closing one server's channel leaves the other's delivering.
  channels[1].close();
  await channels[0].publish('two');
  await waitFor(() => clients[0].events.length === 2, 5000, 'the other to go on');
  await sleep(100);
  assert.equal(clients[1].events.length, 1);
  // history 0: a client that missed events gets no replay, only the notice (resume at the newest).
  const late = listen(ports[0], first);
  await waitFor(() => late.events.length === 1, 5000, 'the notice');
  assert.deepEqual(late.events[0].gap, { reason: 'trimmed', last_event_id: first });
  assert.equal(late.events[0].id, clients[0].events[1].id);
  for (const c of [...clients, late]) c.req.destroy();
});

test('channels over Redis: an awaited publish keeps Node alive until it settles; an idle broker never does', { skip: hasRedis ? false : 'redis-server is not installed', timeout: 30000 }, async (t) => {
  const redisPort = await freePort();
  const redis = await startRedis(redisPort);
  t.after(() => redis.kill());
  const downPort = await freePort();
  const script = (url) => `
    const hyper = require(${JSON.stringify(path.join(__dirname, '..'))});
    const ch = new hyper.Channel({ name: 'exit', broker: ${JSON.stringify(url)}, history: 5 });
    ch.publish('x').then((id) => console.log('resolved ' + id), (e) => console.log('rejected ' + e.message));`;
  const run = (url) =>
    new Promise((resolve) => {
      const started = Date.now();
      const child = spawn(process.execPath, ['-e', script(url)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, out, ms: Date.now() - started });
      });
    });
  // Nothing but the publish keeps these processes up: each exits by itself once it settles.
  const up = await run(`redis://127.0.0.1:${redisPort}/`);
  assert.equal(up.signal, null, 'exited by itself');
  assert.match(up.out, /^resolved \S+-1$/m);
  const down = await run(`redis://127.0.0.1:${downPort}/`);
  assert.equal(down.signal, null, 'exited by itself');
  assert.match(down.out, /^rejected publish failed/m);
  assert.ok(down.ms < 6000, `settled and exited in ${down.ms} ms`);
});
