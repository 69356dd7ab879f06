'use strict';
// Found by an outside review of issue 13's change (req/res as Node's objects under npm
// middleware); each case is compared with what Express 5 does.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { execFile } = require('node:child_process');
const path = require('node:path');
const hyper = require('../..');
const { until, sleep } = require('../helpers');

async function listen(t, app) {
  const handle = await new Promise((resolve) => {
    const h = app.listen(0, '127.0.0.1', () => resolve(h));
  });
  t.after(() => new Promise((resolve) => handle.close(resolve)));
  return handle.address().port;
}

function get(port, p, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    }).on('error', reject);
  });
}

test('req.destroy(err) with nobody listening for errors does not crash the process', async (t) => {
  const app = hyper();
  app.post('/y', (req, res) => {
    req.destroy(new Error('stop reading'));
    res.status(400).send('rejected');
  });
  const port = await listen(t, app);
  const res = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/y', agent: false, headers: { 'content-length': 5 } }, resolve);
    req.on('error', reject);
    req.end('hello');
  });
  assert.equal(res.statusCode, 400);
  res.resume();
});

test('compression in front of res.sse: the native events go out as they are, unannounced encoding never', async (t) => {
  const compression = require('compression');
  const app = hyper();
  app.use(compression());
  app.get('/events', (req, res) => {
    res.setHeader('Content-Type', 'text/event-stream');
    res.sse.send('hello');
    setTimeout(() => res.sse.close(), 30);
  });
  const port = await listen(t, app);
  const r = await get(port, '/events', { 'accept-encoding': 'gzip' });
  assert.equal(r.headers['content-encoding'], undefined);
  assert.equal(r.body, 'data: hello\n\n');
});

test('mount paths: parameters, the mount path as the whole path, and url restored after next()', async (t) => {
  const app = hyper();
  const r = hyper.Router();
  r.get('/x', (req, res, next) => {
    req.seen = { url: req.url, baseUrl: req.baseUrl, path: req.path };
    next();
  });
  app.use('/u/:id', r);
  app.use('/m/:id', (req, res, next) => {
    req.seen = { url: req.url, baseUrl: req.baseUrl };
    next();
  });
  app.use('/api', (req, res, next) => next());
  app.get('/api', (req, res) => res.json({ url: req.url, path: req.path }));
  app.use((req, res) => res.json({ seen: req.seen, url: req.url, baseUrl: req.baseUrl }));
  const port = await listen(t, app);
  assert.deepEqual(JSON.parse((await get(port, '/u/12345/x?q=1')).body), { seen: { url: '/x?q=1', baseUrl: '/u/12345', path: '/x' }, url: '/u/12345/x?q=1', baseUrl: '' });
  assert.deepEqual(JSON.parse((await get(port, '/m/7/y')).body), { seen: { url: '/y', baseUrl: '/m/7' }, url: '/m/7/y', baseUrl: '' });
  assert.deepEqual(JSON.parse((await get(port, '/api')).body), { url: '/api', path: '/api' });
  assert.deepEqual(JSON.parse((await get(port, '/api?x=1')).body), { url: '/api?x=1', path: '/api' });
});

test("listeners added after send() still hear 'close' (res, req, req.socket) and 'finish'", async (t) => {
  const app = hyper();
  const log = [];
  app.get('/x', (req, res) => {
    res.send('hi');
    res.on('finish', () => log.push('res finish'));
    res.on('close', () => log.push('res close'));
    req.on('close', () => log.push('req close'));
    req.socket.on('close', () => log.push('socket close'));
    res.on('abort', () => log.push('abort (wrong)'));
  });
  const port = await listen(t, app);
  assert.equal((await get(port, '/x')).body, 'hi');
  await until(() => log.length >= 4);
  await sleep(20);
  assert.deepEqual(log.sort(), ['req close', 'res close', 'res finish', 'socket close']);
});

test("a handler that runs after its client left still gets 'close' (its timer is not leaked)", async (t) => {
  const app = hyper();
  let closes = 0;
  let handled;
  const ran = new Promise((resolve) => (handled = resolve));
  app.get('/late', async (req, res) => {
    await sleep(150);
    res.sse.open();
    const timer = setInterval(() => res.sse.send('x'), 5);
    res.on('close', () => {
      clearInterval(timer);
      closes++;
    });
    handled();
  });
  const port = await listen(t, app);
  const socket = net.connect(port, '127.0.0.1');
  socket.write('GET /late HTTP/1.1\r\nHost: x\r\n\r\n');
  await sleep(30);
  socket.destroy();
  await ran;
  await until(() => closes === 1);
});

test('res.end(callback), end(data, callback), end(data, encoding, callback)', async (t) => {
  const app = hyper();
  const called = [];
  app.get('/a', (req, res) => res.end(() => called.push('a')));
  app.get('/b', (req, res) => res.end('body', () => called.push('b')));
  app.get('/c', (req, res) => res.end('body', 'utf8', () => called.push('c')));
  const port = await listen(t, app);
  assert.equal((await get(port, '/a')).body, '');
  assert.equal((await get(port, '/b')).body, 'body');
  assert.equal((await get(port, '/c')).body, 'body');
  await until(() => called.length === 3);
  assert.deepEqual(called.sort(), ['a', 'b', 'c']);
});

test("a throwing 'finish' listener surfaces uncaught, and every 'close' still fires", async () => {
  const script = `
    const hyper = require(${JSON.stringify(path.resolve(__dirname, '../..'))});
    const app = hyper();
    const log = [];
    process.on('uncaughtException', (e) => log.push('uncaught: ' + e.message));
    app.get('/x', (req, res) => {
      res.on('finish', () => { throw new Error('bug in finish listener'); });
      res.on('close', () => log.push('res close'));
      req.on('close', () => log.push('req close'));
      res.send('ok');
      log.push('handler went on');
    });
    const h = app.listen(0, '127.0.0.1', () => {
      require('http').get({ host: '127.0.0.1', port: h.address().port, path: '/x', agent: false }, (res) => {
        res.resume();
        res.on('end', () => setTimeout(() => {
          console.log(JSON.stringify({ log: log.sort(), live: app._server._live.size }));
          h.close(() => process.exit(0));
        }, 100));
      });
    });`;
  const out = await new Promise((resolve, reject) => execFile(process.execPath, ['-e', script], { timeout: 15000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))));
  assert.deepEqual(JSON.parse(out), { log: ['handler went on', 'req close', 'res close', 'uncaught: bug in finish listener'], live: 0 });
});
