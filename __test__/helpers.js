'use strict';
// Shared test plumbing: every test talks to the real built addon over real sockets
// on 127.0.0.1.

const net = require('net');
const http = require('http');
const hyper = require('..');

/** Starts a Server on a free port; `setup(server)` registers routes. Closes on test end. */
async function serve(t, setup, options) {
  const server = new hyper.Server(options);
  setup(server);
  const port = await server.listen(0, '127.0.0.1');
  if (t) t.after(() => server.close());
  return { server, port, url: `http://127.0.0.1:${port}` };
}

/** One HTTP request with node:http (no connection reuse). Resolves { status, headers, body, rawHeaders }. */
function request(port, { method = 'GET', path = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * Opens a raw TCP connection and sends `text`; collects everything received.
 * `until(data)` resolves `waitFor`. Keeps the socket so tests can end or destroy it.
 */
function rawClient(port) {
  const socket = net.connect(port, '127.0.0.1');
  let data = '';
  let eof = false;
  const waiters = [];
  const closed = new Promise((resolve) => socket.on('close', resolve));
  const recheck = () => {
    for (const w of waiters.splice(0)) {
      if (w.test(data)) w.resolve(data);
      else waiters.push(w);
    }
  };
  socket.setEncoding('latin1');
  socket.on('data', (chunk) => {
    data += chunk;
    recheck();
  });
  socket.on('end', () => {
    eof = true;
    recheck();
  });
  socket.on('error', () => {});
  return {
    socket,
    closed,
    get data() {
      return data;
    },
    /** True once the server closed its side cleanly (FIN, not a reset). */
    get eof() {
      return eof;
    },
    send(text) {
      socket.write(text);
      return this;
    },
    /** Resolves once the received bytes satisfy `test` (a string to include, a RegExp, or a function). */
    waitFor(test, ms = 5000) {
      const fn = typeof test === 'string' ? (d) => d.includes(test) : test instanceof RegExp ? (d) => test.test(d) : test;
      if (fn(data)) return Promise.resolve(data);
      return new Promise((resolve, reject) => {
        const tail = () => (data.length > 600 ? `...(${data.length - 600} bytes)...${data.slice(-600)}` : data);
        const timer = setTimeout(() => reject(new Error(`timed out waiting; received so far:\n${tail()}`)), ms);
        waiters.push({ test: fn, resolve: (d) => (clearTimeout(timer), resolve(d)) });
      });
    },
    /**
     * Resolves once the response body has ended cleanly: the last chunk of a chunked
     * body, or the server's FIN after a close-delimited one (an event stream).
     */
    waitForEnd(ms = 5000) {
      return this.waitFor((d) => eof || d.endsWith('\r\n0\r\n\r\n'), ms);
    },
  };
}

/** Sends a GET for `path` on a raw socket (HTTP/1.1). */
function rawGet(port, path, extraHeaders = '') {
  return rawClient(port).send(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extraHeaders}\r\n`);
}

/**
 * The body of a raw response: decoded if it is chunked, else everything after the
 * head (an event stream is close-delimited).
 */
function bodyOf(raw) {
  const start = raw.indexOf('\r\n\r\n');
  let rest = raw.slice(start + 4);
  if (!/\r\ntransfer-encoding: chunked\r\n/i.test(raw.slice(0, start + 2))) return rest;
  let out = '';
  for (;;) {
    const nl = rest.indexOf('\r\n');
    if (nl === -1) break;
    const size = parseInt(rest.slice(0, nl), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 2 + size + 2);
  }
  return out;
}

/**
 * Serves GET /e opening an SSE stream (then `prepare(res)`, if given), connects a raw
 * client and waits for the head. Resolves { res, c, server, port }.
 */
async function openStream(t, prepare, options) {
  const ready = deferred();
  const { server, port } = await serve(
    t,
    (s) =>
      s.get('/e', (req, res) => {
        res.sse.open();
        if (prepare) prepare(res);
        ready.resolve(res);
      }),
    options,
  );
  const c = rawGet(port, '/e');
  const res = await ready.promise;
  await c.waitFor('\r\n\r\n');
  return { res, c, server, port };
}

/** Resolves after `ms`. */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `condition()` holds, checking every 10 ms, or after `ms` (the test's asserts then tell). */
async function until(condition, ms = 2000) {
  for (let waited = 0; waited < ms && !condition(); waited += 10) await sleep(10);
}

/** Resolves when `emitter` emits `event` (with its arguments), or rejects after `ms`. */
function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

/** A promise plus its resolve, for handing values out of handlers. */
function deferred() {
  let resolve, reject;
  const promise = new Promise((a, b) => ((resolve = a), (reject = b)));
  return { promise, resolve, reject };
}

/**
 * A self-signed certificate for localhost and 127.0.0.1 (common name `cn`), made with the
 * openssl CLI in `dir`; returns { key, cert } file paths.
 */
function selfSignedCert(dir, cn = 'localhost', dnsNames = []) {
  const path = require('path');
  const key = path.join(dir, `${cn}.key`);
  const cert = path.join(dir, `${cn}.crt`);
  require('child_process').execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${['localhost', ...dnsNames].map((n) => `DNS:${n}`).join(',')},IP:127.0.0.1`], { stdio: 'ignore' });
  return { key, cert };
}

module.exports = { selfSignedCert, hyper, serve, request, rawClient, rawGet, bodyOf, openStream, sleep, until, once, deferred };
