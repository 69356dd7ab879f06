'use strict';
// Issue 16.2: the batch of events handed to JS was bounded by count, not bytes. With the
// JS thread blocked while thousands of requests with long targets arrived, its text
// passed V8's longest string (2^29 - 24 characters): the process died, or, with an
// uncaughtException handler, lived with every later reply stuck. Batches are cut by
// bytes now, and every request is answered.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');

// Each request puts its target and its one parameter (~64 KB each; http's URI limit is
// 64 KiB) into the batch text: 4,400 of them make ~570 M characters.
const REQUESTS = 4400;
const PARAM = 'x'.repeat(64000);

/** Sends a GET on a fresh connection; resolves `sent` once connected and written, and the
 * returned promise with { status, body }. */
function get(port, target, sent = () => {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`, sent));
    let data = '';
    s.setEncoding('latin1');
    s.on('data', (d) => {
      data += d;
      const m = /^HTTP\/1\.1 (\d+)[^]*?\r\n\r\n([^]*)$/.exec(data);
      if (m && /content-length: (\d+)/i.test(data) && m[2].length >= Number(/content-length: (\d+)/i.exec(data)[1])) {
        s.destroy();
        resolve({ status: Number(m[1]), body: m[2] });
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed; got ${JSON.stringify(data.slice(0, 100))}`)));
  });
}

test('thousands of long requests queued behind a blocked JS thread: batches are cut by bytes, all answered, the process lives', { timeout: 120000 }, async () => {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'fixtures', 'blocked-js-server.js'), String(REQUESTS)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  try {
    const port = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /ready (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error(`server exited: ${stderr}`)));
    });
    const blocked = get(port, '/block');
    const answers = [];
    // In waves, so the listen backlog never overflows.
    for (let i = 0; i < REQUESTS; i += 200) {
      const wave = [];
      for (let j = i; j < Math.min(i + 200, REQUESTS); j++) wave.push(new Promise((sent) => answers.push(get(port, `/p/${PARAM}`, sent))));
      await Promise.all(wave);
    }
    const results = await Promise.race([Promise.all(answers), exited.then((e) => Promise.reject(new Error(`server died (${JSON.stringify(e)}): ${stderr}`)))]);
    assert.deepEqual((await blocked).body, 'unblocked');
    assert.equal(results.length, REQUESTS);
    for (const r of results) assert.deepEqual(r, { status: 200, body: String(PARAM.length) });
    assert.equal(stderr, '', 'no uncaught error');
  } finally {
    child.stdin.end();
    const e = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 5000))]);
    if (e === null) child.kill('SIGKILL');
  }
});
