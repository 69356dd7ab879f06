'use strict';
// HTTPS and HTTP/2 (issue 14): rustls on the listening port, ALPN h2 and http/1.1, SSE
// through hyper's body path on both. Certificates are made here with the openssl CLI;
// clients are curl, node's http2 and https modules, and raw TCP.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const tls = require('node:tls');
const https = require('node:https');
const http2 = require('node:http2');
const { execFileSync, spawn } = require('node:child_process');
const hyper = require('..');
const { until, sleep, selfSignedCert } = require('./helpers');

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'hyper-sse-tls-'));
test.after(() => fs.rmSync(DIR, { recursive: true, force: true }));

/** A self-signed certificate for localhost/127.0.0.1 with common name `cn`; returns file paths. */
function makeCert(cn, { passphrase } = {}) {
  const { key, cert } = selfSignedCert(DIR, cn);
  if (passphrase) {
    const encrypted = path.join(DIR, `${cn}.enc.key`);
    execFileSync('openssl', ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', key, '-out', encrypted, '-passout', `pass:${passphrase}`], { stdio: 'ignore' });
    return { key: encrypted, cert };
  }
  return { key, cert };
}

const A = makeCert('cert-a');
const B = makeCert('cert-b');

/** A TLS server with an SSE route (/sse: `count` events 10 ms apart, or endless) and /. */
async function tlsServer(t, options = {}, setup) {
  const server = new hyper.Server({ key_file_name: A.key, cert_file_name: A.cert, ...options });
  const closes = { n: 0 };
  server.get('/', (req, res) => res.json({ version: req.httpVersion, protocol: req.protocol, secure: req.secure }));
  server.get('/sse', (req, res) => {
    // Express-style SSE code sets HTTP/1 connection headers; on h2 they must vanish quietly.
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('Keep-Alive', 'timeout=60');
    res.sse.open();
    const count = Number(req.query.count || 0);
    let i = 0;
    const timer = setInterval(() => {
      res.sse.send(String(++i), 'tick', `event ${i}`);
      if (count && i >= count) res.sse.close();
    }, 10);
    res.on('close', () => {
      clearInterval(timer);
      closes.n++;
    });
  });
  if (setup) setup(server);
  const port = await server.listen(0, '127.0.0.1');
  t.after(() => server.close({ timeout: 1000 }));
  return { server, port, closes };
}

function run(cmd, args, ms = 15000) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`));
    });
  });
}

/** The common name of the certificate a new TLS connection is given (asking for `servername`, if given). */
function peerName(port, servername) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.destroy();
      resolve(cn);
    });
    socket.on('error', reject);
  });
}

test('curl over TLS: events stream on HTTP/2 and on HTTP/1.1', async (t) => {
  const { port } = await tlsServer(t);
  for (const [flag, version] of [['--http2', '2.0'], ['--http1.1', '1.1']]) {
    assert.deepEqual(JSON.parse(await run('curl', ['-sk', flag, `https://127.0.0.1:${port}/`])), { version, protocol: 'https', secure: true });
    const out = await run('curl', ['-sk', flag, '-N', '-D', '-', `https://127.0.0.1:${port}/sse?count=3`]);
    const [head, body] = out.split('\r\n\r\n');
    assert.match(head, flag === '--http2' ? /^HTTP\/2 200/ : /^HTTP\/1\.1 200/);
    assert.match(head, /content-type: text\/event-stream/i);
    if (flag === '--http2') assert.doesNotMatch(head, /^(connection|keep-alive):/im, 'HTTP/1 connection headers are dropped on h2');
    assert.equal(body, 'id: 1\nevent: tick\ndata: event 1\n\nid: 2\nevent: tick\ndata: event 2\n\nid: 3\nevent: tick\ndata: event 3\n\n');
  }
});

test('h2: 50 SSE streams on one connection all flow; ending the session closes every one', async (t) => {
  const { server, port, closes } = await tlsServer(t);
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  t.after(() => session.destroy());
  const streams = [];
  for (let i = 0; i < 50; i++) {
    const req = session.request({ ':path': '/sse' });
    const s = { events: 0, status: 0 };
    req.on('response', (h) => (s.status = h[':status']));
    req.setEncoding('utf8');
    req.on('data', (c) => (s.events += (c.match(/^data: /gm) || []).length));
    req.on('error', () => {});
    streams.push(s);
  }
  await until(() => streams.every((s) => s.events >= 3), 5000);
  assert.ok(streams.every((s) => s.events >= 3), 'every stream flows');
  assert.ok(streams.every((s) => s.status === 200));
  assert.equal(server.stats().connections, 1, 'one connection carries all 50 streams');
  assert.equal(server.stats().streams, 50);
  session.destroy();
  await until(() => closes.n === 50, 5000);
  await sleep(50);
  assert.equal(closes.n, 50, "each stream's close fired exactly once");
  await until(() => server.stats().streams === 0);
  assert.equal(server.stats().streams, 0);
});

test('h2 rapid reset: thousands of streams opened and cancelled leave the server serving', async (t) => {
  const { server, port } = await tlsServer(t);
  for (let round = 0; round < 4; round++) {
    const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    await new Promise((resolve) => session.once('connect', resolve));
    for (let i = 0; i < 1000 && !session.destroyed && !session.closed; i++) {
      const req = session.request({ ':path': '/sse' });
      req.on('error', () => {});
      req.close(http2.constants.NGHTTP2_CANCEL);
    }
    await new Promise((resolve) => {
      session.once('close', resolve);
      setTimeout(resolve, 300);
    });
    session.destroy();
  }
  const out = await run('curl', ['-sk', '--http2', `https://127.0.0.1:${port}/`]);
  assert.deepEqual(JSON.parse(out), { version: '2.0', protocol: 'https', secure: true });
  await until(() => server.stats().streams === 0 && server.stats().connections === 0, 5000);
  assert.deepEqual([server.stats().streams, server.stats().connections], [0, 0], 'no stream or connection left open');
});

test('plaintext on the TLS port closes that connection only', async (t) => {
  const { port } = await tlsServer(t);
  const socket = net.connect(port, '127.0.0.1');
  let got = '';
  socket.on('data', (c) => (got += c.toString('latin1')));
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((resolve) => socket.on('close', resolve));
  assert.doesNotMatch(got, /^HTTP\//, 'no plaintext HTTP answer');
  assert.deepEqual(JSON.parse(await run('curl', ['-sk', `https://127.0.0.1:${port}/`])), { version: '2.0', protocol: 'https', secure: true });
});

test('certificate swap: new connections get the new one, an open stream keeps flowing', async (t) => {
  const { server, port } = await tlsServer(t);
  assert.equal(await peerName(port), 'cert-a');
  const res = await new Promise((resolve, reject) => https.get({ host: '127.0.0.1', port, path: '/sse', rejectUnauthorized: false, agent: false }, resolve).on('error', reject));
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (c) => (text += c));
  await until(() => text.includes('data: event 2'));
  assert.match(text, /data: event 2/);
  server.setCertificate({ key_file_name: B.key, cert_file_name: B.cert });
  assert.equal(await peerName(port), 'cert-b');
  const seen = (text.match(/^data: /gm) || []).length;
  await until(() => text.includes(`data: event ${seen + 3}\n`));
  assert.ok(text.includes(`data: event ${seen + 3}\n`), 'the old stream keeps flowing after the swap');
  res.destroy();
  assert.throws(() => server.setCertificate({ key_file_name: A.key, cert_file_name: B.cert }), /do not belong together/);
  assert.equal(await peerName(port), 'cert-b', 'a refused swap changes nothing');
  assert.throws(() => server.setCertificate({ key_file_name: B.key, cert_file_name: B.cert, ca_file_name: B.cert }), /client CA is fixed/);
});

test('hosts (SNI): a certificate per host name, wildcards, removal, and missing names reported', async (t) => {
  const H = selfSignedCert(DIR, 'cert-host', ['a.example.test']);
  const C = makeCert('cert-c');
  const missing = [];
  const { server, port } = await tlsServer(t, {}, (s) => {
    // Before listen, as HyperExpress apps do it.
    s.hosts.add('a.example.test', { key_file_name: H.key, cert_file_name: H.cert });
  });
  assert.equal(await peerName(port, 'a.example.test'), 'cert-host');
  assert.equal(await peerName(port, 'A.Example.Test'), 'cert-host', 'host names match whatever their case');
  assert.equal(await peerName(port), 'cert-a', 'no SNI: the server certificate');
  assert.equal(await peerName(port, 'other.test'), 'cert-a', 'an unknown name: the server certificate');

  server.hosts.add('*.wild.test', { key: fs.readFileSync(C.key), cert: fs.readFileSync(C.cert) });
  assert.equal(await peerName(port, 'x.wild.test'), 'cert-c');
  assert.equal(await peerName(port, 'x.y.wild.test'), 'cert-a', 'a wildcard covers one label');
  assert.deepEqual(Object.keys(server.hosts.registered).sort(), ['*.wild.test', 'a.example.test']);

  // h2 and HTTP/1.1 with the host's certificate (curl checks it against its CA file).
  for (const proto of ['--http2', '--http1.1']) {
    const out = await run('curl', ['-sS', proto, '--cacert', H.cert, '--resolve', `a.example.test:${port}:127.0.0.1`, '-w', '\n%{http_version}', `https://a.example.test:${port}/`]);
    const [body, version] = out.split('\n');
    assert.equal(JSON.parse(body).secure, true);
    assert.equal(version, proto === '--http2' ? '2' : '1.1');
  }

  server.hosts.on('missing', (name) => missing.push(name));
  await peerName(port, 'nobody.test');
  await until(() => missing.length > 0);
  assert.deepEqual(missing, ['nobody.test']);
  await peerName(port, 'a.example.test');
  server.hosts.removeAllListeners('missing');
  await peerName(port, 'quiet.test');
  await sleep(50);
  assert.deepEqual(missing, ['nobody.test'], 'registered names, and any once no one listens, are not reported');

  server.hosts.remove('a.example.test');
  assert.equal(await peerName(port, 'a.example.test'), 'cert-a', 'a removed host gets the server certificate');
  assert.throws(() => server.hosts.add('bad.test', { key_file_name: A.key, cert_file_name: B.cert }), /do not belong together/);
  assert.throws(() => server.hosts.add('half.test', { key_file_name: A.key }), /certificate/);
  assert.throws(() => server.hosts.add('', { key_file_name: A.key, cert_file_name: A.cert }), TypeError);
  assert.equal(await peerName(port, 'bad.test'), 'cert-a', 'a refused host changes nothing');
  const plain = new hyper.Server();
  assert.throws(() => plain.hosts.add('a.test', { key_file_name: A.key, cert_file_name: A.cert }), /need a TLS server/);
  // Names as SNI matches them: one entry whatever the case or a trailing dot.
  server.hosts.add('Mixed.Test.', { key_file_name: H.key, cert_file_name: H.cert });
  server.hosts.add('mixed.test', { key_file_name: H.key, cert_file_name: H.cert });
  assert.ok(Object.keys(server.hosts.registered).includes('mixed.test'));
  assert.equal(Object.keys(server.hosts.registered).filter((n) => n.startsWith('mixed')).length, 1);
  assert.equal(await peerName(port, 'mixed.test'), 'cert-host');
  server.hosts.remove('MIXED.TEST');
  assert.equal(await peerName(port, 'mixed.test'), 'cert-a');
  assert.ok(!Object.keys(server.hosts.registered).includes('mixed.test'));
});

test('hosts added before a listen that failed still serve after the next one', async (t) => {
  const H = selfSignedCert(DIR, 'cert-early', ['early.test']);
  const taken = new hyper.Server();
  const busy = await taken.listen(0, '127.0.0.1');
  t.after(() => taken.close());
  const server = new hyper.Server({ key_file_name: A.key, cert_file_name: A.cert });
  server.hosts.add('early.test', { key_file_name: H.key, cert_file_name: H.cert });
  await assert.rejects(server.listen(busy, '127.0.0.1'), { code: 'EADDRINUSE' });
  const port = await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  assert.equal(await peerName(port, 'early.test'), 'cert-early');
});

test('TLS options: Node names, passphrase-protected keys, and half configs rejected', async (t) => {
  // Node's names with PEM text.
  const inline = new hyper.Server({ key: fs.readFileSync(A.key, 'utf8'), cert: fs.readFileSync(A.cert) });
  inline.get('/', (req, res) => res.send(req.protocol));
  const p1 = await inline.listen(0, '127.0.0.1');
  t.after(() => inline.close());
  assert.equal(await run('curl', ['-sk', `https://127.0.0.1:${p1}/`]), 'https');

  const E = makeCert('cert-e', { passphrase: 'open sesame' });
  const encrypted = new hyper.Server({ key_file_name: E.key, cert_file_name: E.cert, passphrase: 'open sesame', dh_params_file_name: '/nonexistent', ssl_prefer_low_memory_usage: true });
  encrypted.get('/', (req, res) => res.send('ok'));
  const p2 = await encrypted.listen(0, '127.0.0.1');
  t.after(() => encrypted.close());
  assert.equal(await run('curl', ['-sk', `https://127.0.0.1:${p2}/`]), 'ok');

  const refused = async (options, pattern) => {
    const s = new hyper.Server(options);
    await assert.rejects(s.listen(0, '127.0.0.1'), pattern);
    assert.equal(s.port, undefined, 'no plaintext fallback');
    await s.close();
  };
  await refused({ key_file_name: A.key }, /cert \(or cert_file_name\) is missing/);
  await refused({ cert: fs.readFileSync(A.cert) }, /key \(or key_file_name\) is missing/);
  await refused({ key_file_name: path.join(DIR, 'nope.key'), cert_file_name: A.cert }, /cannot read key_file_name .*nope\.key/);
  await refused({ key_file_name: A.key, cert_file_name: B.cert }, /do not belong together/);
  await refused({ key_file_name: E.key, cert_file_name: E.cert }, /encrypted; give its passphrase/);
  await refused({ key_file_name: E.key, cert_file_name: E.cert, passphrase: 'wrong' }, /wrong passphrase/);
  await refused({ key: 'not pem', cert: 'not pem' }, /TLS: /);
});

// -- found by an outside review of the HTTPS/h2 change ---------------------------------

function h2get(session, headers) {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    let head;
    let body = '';
    req.on('response', (h) => (head = h));
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => resolve({ head, body, rstCode: req.rstCode }));
    req.on('error', reject);
  });
}

test('h2 requests read as HTTP/1.1: cookies joined with "; ", Host from :authority', async (t) => {
  const { port } = await tlsServer(t, {}, (s) => s.get('/who', (req, res) => res.json({ cookie: req.get('cookie'), cookies: req.cookies, host: req.get('host'), hostname: req.hostname })));
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  t.after(() => session.destroy());
  // Two cookie fields, as browsers send them over h2.
  const r = await h2get(session, { ':path': '/who', cookie: ['session=abc', 'theme=dark'] });
  assert.deepEqual(JSON.parse(r.body), { cookie: 'session=abc; theme=dark', cookies: { session: 'abc', theme: 'dark' }, host: `127.0.0.1:${port}`, hostname: '127.0.0.1' });
});

test('h2 HEAD, 204 and 304 replies carry no body (curl and node accept them)', async (t) => {
  const { port } = await tlsServer(t, {}, (s) => {
    s.get('/none', (req, res) => res.status(204).send('ignored'));
    s.get('/same', (req, res) => res.status(304).send('ignored'));
  });
  for (const args of [['-I'], ['-o', '/dev/null', '-w', '%{http_code}']]) {
    for (const p of ['/', '/none', '/same']) await run('curl', ['-sk', '--http2', ...args, `https://127.0.0.1:${port}${p}`]);
  }
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  t.after(() => session.destroy());
  const head = await h2get(session, { ':path': '/', ':method': 'HEAD' });
  assert.equal(head.head[':status'], 200);
  assert.equal(head.body, '');
  assert.equal(head.rstCode, 0);
});

test('h2: a stream reset before its reply leaves the connection subject to the idle timeout', async (t) => {
  const { server, port } = await tlsServer(t, { header_timeout_ms: 400 }, (s) => s.get('/slow', async (req, res) => {
    await sleep(200);
    res.send('late');
  }));
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  session.on('error', () => {});
  t.after(() => session.destroy());
  const req = session.request({ ':path': '/slow' });
  req.on('error', () => {});
  await sleep(50);
  req.close(http2.constants.NGHTTP2_CANCEL);
  const closed = new Promise((resolve) => session.once('close', resolve));
  await until(() => server.stats().connections === 0, 3000);
  assert.equal(server.stats().connections, 0, 'the idle connection was closed');
  await closed;
});

test('h2: one stream past its buffer bound does not take its connection siblings down', async (t) => {
  const { server, port } = await tlsServer(t, { stream_max_buffer: 100000 }, (s) => s.get('/flood', (req, res) => {
    res.sse.open();
    const payload = 'x'.repeat(8000);
    // ~1.6 MB/s per stream: a reading client keeps up, the paused one falls behind.
    const timer = setInterval(() => {
      res.sse.send(payload);
      res.sse.send(payload);
    }, 10);
    res.on('close', () => clearInterval(timer));
  }));
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  session.on('error', () => {});
  t.after(() => session.destroy());
  const got = [0, 0, 0];
  const reqs = got.map((_, i) => {
    const req = session.request({ ':path': '/flood' });
    req.on('error', () => {});
    req.on('data', (c) => (got[i] += c.length));
    return req;
  });
  reqs[0].pause();
  await until(() => server.stats().slow_client_disconnects >= 1, 5000);
  assert.equal(server.stats().slow_client_disconnects, 1, 'the paused stream went past its bound');
  const before = got[1] + got[2];
  await until(() => got[1] + got[2] > before + 500000, 5000);
  assert.ok(got[1] + got[2] > before + 500000, 'its siblings keep flowing');
  assert.ok(!session.closed && !session.destroyed, 'the connection lives on');
});

test('TLS HTTP/1.1: an upload answered unread still gets its reply (staged close)', async (t) => {
  const { port } = await tlsServer(t, { max_body_length: 10 * 1024 * 1024 }, (s) => s.post('/upload', (req, res) => res.status(401).send('no')));
  const body = Buffer.alloc(5 * 1024 * 1024, 1);
  const status = await new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method: 'POST', path: '/upload', rejectUnauthorized: false, agent: false, headers: { 'content-length': body.length } }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', reject);
    req.end(body);
  });
  assert.equal(status, 401);
});

test('close() does not wait for a TLS connection that never finished its handshake', async (t) => {
  const server = new hyper.Server({ key_file_name: A.key, cert_file_name: A.cert });
  const port = await server.listen(0, '127.0.0.1');
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  t.after(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  await until(() => server.stats().connections === 1);
  assert.equal(server.stats().connections, 1);
  const started = Date.now();
  await server.close({ timeout: 3000 });
  assert.ok(Date.now() - started < 1000, `close() took ${Date.now() - started} ms`);
});

test('h2: a body reset short of its Content-Length is not taken as whole', async (t) => {
  const seen = [];
  const { port } = await tlsServer(t, {}, (s) => s.post('/json', async (req, res) => {
    try {
      seen.push(await req.text());
    } catch (e) {
      seen.push(`error ${e.status}`);
    }
    res.end();
  }));
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  session.on('error', () => {});
  t.after(() => session.destroy());
  const req = session.request({ ':path': '/json', ':method': 'POST', 'content-length': '1000' });
  req.on('error', () => {});
  req.write('{"partial":');
  await sleep(50);
  req.close(http2.constants.NGHTTP2_NO_ERROR);
  await until(() => seen.length === 1);
  assert.deepEqual(seen, ['error 400']);
});

test('TLS HTTP/1.1: events sent alone and in bursts arrive whole, in order, then a clean end', async (t) => {
  const N = 1500;
  const { port } = await tlsServer(t, { stream_high_water_mark: 4096 }, (s) =>
    s.get('/order', (req, res) => {
      res.sse.open();
      let i = 0;
      // Single sends in turns of their own go straight out from this thread; bursts queue
      // for the writer task; both must interleave without a byte out of place.
      const next = () => {
        for (let k = i % 7 === 0 ? 20 : 1; k > 0 && i < N; k--) {
          i++;
          res.sse.send(String(i), null, 'x'.repeat(i % 300) + '#' + i);
        }
        if (i < N) setImmediate(next);
        else res.sse.close();
      };
      next();
    }),
  );
  const results = await Promise.all(
    Array.from({ length: 10 }, (_, c) =>
      new Promise((resolve, reject) => {
        const sock = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => sock.write('GET /order HTTP/1.1\r\nHost: x\r\n\r\n'));
        let text = '';
        sock.setEncoding('utf8');
        sock.on('data', (d) => {
          text += d;
          if (c % 3 === 0 && text.length < 5000) {
            sock.pause();
            setTimeout(() => sock.resume(), 30);
          }
        });
        sock.on('end', () => resolve(text));
        sock.on('error', reject);
      }),
    ),
  );
  for (const text of results) {
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    const events = text.slice(text.indexOf('\r\n\r\n') + 4).split('\n\n').filter(Boolean);
    assert.equal(events.length, N);
    events.forEach((e, i) => assert.equal(e, `id: ${i + 1}\ndata: ${'x'.repeat((i + 1) % 300)}#${i + 1}`));
  }
});
