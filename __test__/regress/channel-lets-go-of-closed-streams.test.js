'use strict';
// Issue 16.5: a quiet channel kept every closed stream (its queue, and through it the
// server's runtime) until its next publish or `size`; stats().streams kept counting
// them. A stream that closes leaves its channels at once.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const { hyper, serve, rawGet, until } = require('../helpers');

/** Open eventpoll and eventfd descriptors of this process (a tokio runtime holds one of each). */
function runtimeFds() {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (/eventpoll|eventfd/.test(fs.readlinkSync(`/proc/self/fd/${fd}`))) n++;
    } catch {}
  }
  return n;
}

test('streams that close leave a quiet channel at once: stats().streams falls to 0 with no publish', async (t) => {
  let opened = 0;
  const { server, port } = await serve(t, (s) => {
    const ch = s.channel('quiet');
    s.get('/e', (req, res) => {
      ch.subscribe(res);
      opened++;
    });
  });
  const N = 200;
  for (let round = 0; round < 4; round++) {
    const clients = [];
    for (let i = 0; i < N / 4; i++) clients.push(rawGet(port, '/e'));
    await Promise.all(clients.map((c) => c.waitFor('\r\n\r\n')));
    for (const c of clients) c.socket.destroy();
  }
  assert.equal(opened, N);
  await until(() => server.stats().streams === 0 && server.connections === 0, 5000);
  assert.equal(server.stats().streams, 0, 'no closed stream is still held');
  assert.equal(server.connections, 0);
});

test('a channel shared by servers keeps nothing of a closed server: its runtime handles are freed with no publish', async (t) => {
  const shared = new hyper.Channel();
  t.after(() => shared.close());
  const before = runtimeFds();
  for (let i = 0; i < 3; i++) {
    const { server, port } = await serve(null, (s) => s.get('/e', (req, res) => shared.subscribe(res)));
    const c = rawGet(port, '/e');
    await c.waitFor('\r\n\r\n');
    await server.close();
    await c.closed;
  }
  // The runtime thread ends asynchronously after close(): allow it a moment.
  await until(() => runtimeFds() <= before, 3000);
  assert.equal(runtimeFds(), before, 'eventpoll/eventfd descriptors back to where they were');
});
