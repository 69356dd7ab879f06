'use strict';
// A real browser (headless Chromium through playwright-core) on one origin: over h2 (TLS,
// self-signed) 20 EventSources all receive events on one connection; the same page over
// HTTP/1.1 gets six (the browser's per-origin connection limit), the limit h2 removes.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { selfSignedCert } = require('./helpers');
const hyper = require('..');

const CHROMIUM = '/usr/bin/chromium';
const skip = fs.existsSync(CHROMIUM) ? false : 'needs Debian chromium (.ci/run installs it)';

const PAGE = `<!DOCTYPE html><meta charset="utf-8"><title>20 streams</title>
<script>
window.counts = new Array(20).fill(0);
for (let i = 0; i < 20; i++) {
  const es = new EventSource('/sse?n=' + i);
  es.onmessage = () => window.counts[i]++;
}
</script>`;

function app(options) {
  const server = new hyper.Server(options);
  server.get('/', (req, res) => res.type('html').send(PAGE));
  server.get('/sse', (req, res) => {
    res.sse.open();
    const timer = setInterval(() => res.sse.send(`tick for ${req.query.n}`), 50);
    res.on('close', () => clearInterval(timer));
  });
  return server;
}

test('Chromium: 20 EventSources on one origin over h2, six over HTTP/1.1', { skip, timeout: 60000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyper-sse-browser-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { key, cert } = selfSignedCert(dir);

  const secure = app({ key_file_name: key, cert_file_name: cert });
  const plain = app();
  const securePort = await secure.listen(0, '127.0.0.1');
  const plainPort = await plain.listen(0, '127.0.0.1');
  t.after(() => Promise.all([secure.close({ timeout: 500 }), plain.close({ timeout: 500 })]));

  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--ignore-certificate-errors'] });
  t.after(() => browser.close());
  const context = await browser.newContext({ ignoreHTTPSErrors: true });

  const h2 = await context.newPage();
  await h2.goto(`https://127.0.0.1:${securePort}/`);
  await h2.waitForFunction(() => window.counts.every((c) => c >= 2), null, { timeout: 15000 });
  assert.equal(await h2.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol), 'h2');
  assert.equal(secure.stats().connections, 1, 'all 20 streams share one connection');
  assert.equal(secure.stats().streams, 20);
  await h2.close();

  const h1 = await context.newPage();
  await h1.goto(`http://127.0.0.1:${plainPort}/`);
  await h1.waitForFunction(() => window.counts.filter((c) => c > 0).length >= 6, null, { timeout: 15000 });
  // Give the other 14 time they would need, had they a connection.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const counts = await h1.evaluate(() => window.counts);
  assert.equal(counts.filter((c) => c > 0).length, 6, `HTTP/1.1: ${JSON.stringify(counts)}`);
  assert.equal(await h1.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol), 'http/1.1');
  await h1.close();
});
