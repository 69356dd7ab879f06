'use strict';
// Faults and bad input over real sockets: each gets a clear status or a clean close,
// and the server keeps serving everyone else.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { spawn } = require('child_process');
const { hyper, serve, request, rawClient, rawGet, bodyOf, deferred, sleep } = require('./helpers');

function okServer(t, options) {
  return serve(
    t,
    (s) => {
      s.get('/', (req, res) => res.send('ok'));
      s.get('/e', (req, res) => {
        res.sse.send('1', 'e', 'hello');
      });
      s.post('/body', async (req, res) => res.send(await req.text()));
      s.get('/e10', (req, res) => {
        res.sse.send('x');
        res.sse.close();
      });
    },
    options,
  );
}

for (const [name, bytes] of [
  ['a malformed request line', 'GARBAGE\r\n\r\n'],
  ['a header line without a colon', 'GET / HTTP/1.1\r\nHost: x\r\nBroken header\r\n\r\n'],
  ['a bad header name', 'GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n'],
  ['an invalid Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n'],
  ['a bad chunk size in a body being read', 'POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n'],
]) {
  test(`${name} gets 400 and the server keeps serving`, async (t) => {
    const { port } = await okServer(t);
    const c = rawClient(port).send(bytes);
    await c.waitFor(/^HTTP\/1\.1 400 /);
    await c.closed;
    assert.equal((await request(port)).body, 'ok');
  });
}

test('pipelined requests are answered in order on one connection', async (t) => {
  const { port } = await serve(t, (s) => {
    s.get('/a', (req, res) => setTimeout(() => res.send('first'), 20));
    s.get('/b', (req, res) => res.send('second'));
  });
  const c = rawClient(port).send('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
  const data = await c.waitFor((d) => d.includes('second'));
  assert.ok(data.indexOf('first') < data.indexOf('second'));
  assert.equal(data.match(/HTTP\/1\.1 200 OK/g).length, 2);
  c.socket.destroy();
});

test('HTTP/1.0: plain responses work, and an SSE stream is close-delimited', async (t) => {
  const { port } = await okServer(t);
  const plain = rawClient(port).send('GET / HTTP/1.0\r\n\r\n');
  await plain.closed;
  assert.match(plain.data, /^HTTP\/1\.0 200 OK\r\n[\s\S]*\r\n\r\nok$/);
  const sse = rawClient(port).send('GET /e10 HTTP/1.0\r\n\r\n');
  await sse.closed;
  assert.match(sse.data, /^HTTP\/1\.0 200 OK\r\n/);
  assert.doesNotMatch(sse.data, /transfer-encoding|connection: keep-alive/i);
  assert.ok(sse.data.endsWith('\r\n\r\ndata: x\n\n'), JSON.stringify(sse.data.slice(-40)));
});

test('a client that half-closes after its request still gets a plain response, or a clean close', async (t) => {
  const { port } = await okServer(t);
  const c = rawClient(port).send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  c.socket.end();
  await c.closed;
  assert.ok(c.data === '' || /^HTTP\/1\.1 200 OK[\s\S]*ok$/.test(c.data), c.data);
  assert.equal((await request(port)).body, 'ok');
});

test('an abrupt RST mid-stream loses nothing for the other clients', async (t) => {
  const subs = [];
  const { server, port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      s.channel('all').subscribe(res);
      subs.push(res);
    }),
  );
  const victim = rawGet(port, '/e');
  const others = [rawGet(port, '/e'), rawGet(port, '/e')];
  while (subs.length < 3) await sleep(2);
  const ch = server.channel('all');
  for (let i = 0; i < 100; i++) {
    ch.publish(String(i));
    if (i === 50) victim.socket.resetAndDestroy();
  }
  for (const c of others) {
    await c.waitFor('data: 99\n\n');
    const got = bodyOf(c.data).match(/data: \d+/g).map((l) => Number(l.slice(6)));
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i));
    c.socket.destroy();
  }
});

test('a Rust panic in the request path becomes a 500; Node and the server live on', async (t) => {
  process.env.HYPER_SSE_TEST_PANIC_HOOK = '1';
  let server;
  try {
    server = new hyper.Server();
  } finally {
    delete process.env.HYPER_SSE_TEST_PANIC_HOOK;
  }
  server.get('/', (req, res) => res.send('ok'));
  const port = await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  const panicked = await request(port, { headers: { 'x-hyper-sse-test-panic': '1' } });
  assert.equal(panicked.status, 500);
  assert.equal((await request(port)).body, 'ok');
});

test('the process exits cleanly when it calls process.exit() with streams open', async () => {
  const script = `
    const { Server } = require(${JSON.stringify(path.join(__dirname, '..'))});
    const http = require('http');
    const s = new Server();
    s.get('/e', (req, res) => { res.sse.send('x'); });
    s.listen(0, '127.0.0.1').then((port) => {
      let open = 0;
      for (let i = 0; i < 5; i++) http.get({ host: '127.0.0.1', port, path: '/e', agent: false }, (r) => r.once('data', () => { if (++open === 5) process.exit(0); }));
    });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
  const [code, signal] = await new Promise((r) => child.on('exit', (...a) => r(a)));
  clearTimeout(timer);
  assert.deepEqual({ code, signal, stderr }, { code: 0, signal: null, stderr: '' });
});

test('writes with CR/LF in SSE fields or headers from JS never reach the wire as new lines', async (t) => {
  const { port } = await serve(t, (s) =>
    s.get('/e', (req, res) => {
      assert.throws(() => res.header('x-a', 'b\r\nx-injected: 1'));
      res.sse.send('1\r\nevent: injected', 'e\nid: 2', 'd');
      res.sse.comment('c\r\ndata: injected');
      res.sse.close();
    }),
  );
  const c = rawGet(port, '/e');
  await c.waitForEnd();
  assert.doesNotMatch(c.data, /x-injected/);
  assert.equal(bodyOf(c.data), 'id: 1event: injected\nevent: eid: 2\ndata: d\n\n: c\n: data: injected\n\n');
  c.socket.destroy();
});
