'use strict';
// Issue 16.1: when only worker threads load the addon, the thread that allocated after
// a worker exited crashed the process (SIGSEGV in mimalloc v3's thread setup). Run in a
// child process whose main thread never loads the addon, so a crash fails this test
// instead of the runner.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('child_process');
const path = require('path');

const ROOT = path.join(__dirname, '..', '..');

// The child: workers in turn, each loading the addon from scratch.
const CHILD = `
const { Worker } = require('worker_threads');
function run(code) {
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: ${JSON.stringify(ROOT)} });
    w.on('error', reject);
    w.on('message', (m) => { if (m === 'terminate') w.terminate(); else console.log(m); });
    w.on('exit', resolve);
  });
}
const serve = (then) => \`
  const { workerData, parentPort } = require('worker_threads');
  const http = require('http');
  const hyper = require(workerData);
  const server = new hyper.Server();
  server.get('/e', (req, res) => { res.sse.open(); res.sse.send('hi'); });
  server.listen(0, '127.0.0.1').then((port) => {
    http.get({ host: '127.0.0.1', port, path: '/e' }, (res) => {
      res.setEncoding('utf8');
      res.once('data', (d) => { parentPort.postMessage('event ' + JSON.stringify(d)); \${then} });
    });
  });\`;
(async () => {
  if (process.moduleLoadList.some((m) => m.includes('hyper-sse'))) throw new Error('main thread loaded the addon');
  for (let i = 0; i < 3; i++) {
    await run('const { workerData } = require("worker_threads"); new (require(workerData).Server)();');
    console.log('load ' + i);
  }
  await run(serve("parentPort.postMessage('terminate');"));
  console.log('terminated');
  await run(serve('server.close().then(() => process.exit(0));'));
  console.log('served again');
})().catch((e) => { console.error(e); process.exit(1); });
`;

test('three workers in turn load the addon and exit; a worker serves SSE, is terminated, and another serves again', () => {
  const r = spawnSync(process.execPath, ['-e', CHILD], { encoding: 'utf8', timeout: 30000 });
  assert.equal(r.signal, null, `the process died of ${r.signal}; stderr:\n${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['load 0', 'load 1', 'load 2', 'event "data: hi\\n\\n"', 'terminated', 'event "data: hi\\n\\n"', 'served again']);
});
