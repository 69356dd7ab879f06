'use strict';
// Channels: one publish, encoded once in Rust, reaches every subscriber exactly once;
// a reconnect with Last-Event-ID gets exactly what it missed.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventSource } = require('eventsource');
const hyper = require('..');
const { serve, rawGet, bodyOf, deferred, sleep } = require('./helpers');

function parseEvents(text) {
  return text
    .split('\n\n')
    .filter((block) => block.length)
    .map((block) => {
      const ev = {};
      for (const line of block.split('\n')) {
        const i = line.indexOf(': ');
        const [k, v] = i === -1 ? [line.replace(/:$/, ''), ''] : [line.slice(0, i), line.slice(i + 2)];
        ev[k] = ev[k] === undefined ? v : `${ev[k]}\n${v}`;
      }
      return ev;
    });
}

test('a publish reaches N subscribers exactly once each, in order', async (t) => {
  const N = 25;
  let subscribed = 0;
  const all = deferred();
  const { server, port } = await serve(t, (s) =>
    s.get('/feed', (req, res) => {
      s.channel('feed').subscribe(res);
      if (++subscribed === N) all.resolve();
    }),
  );
  const feed = server.channel('feed');
  assert.equal(server.channel('feed'), feed, 'channel(name) returns the same channel');
  const clients = Array.from({ length: N }, () => rawGet(port, '/feed'));
  t.after(() => clients.forEach((c) => c.socket.destroy()));
  await all.promise;
  await Promise.all(clients.map((c) => c.waitFor('\r\n\r\n')));
  assert.equal(feed.size, N);
  for (let i = 1; i <= 20; i++) assert.equal(feed.publish({ id: String(i), event: 'n', data: `line ${i}\nsecond` }), N);
  feed.publish(Buffer.from('from a buffer'));
  feed.publish({ data: { json: true } });
  feed.publish('done');
  await Promise.all(clients.map((c) => c.waitFor((d) => bodyOf(d).endsWith('data: done\n\n'))));
  const expected = [];
  for (let i = 1; i <= 20; i++) expected.push({ id: String(i), event: 'n', data: `line ${i}\nsecond` });
  expected.push({ data: 'from a buffer' }, { data: '{"json":true}' }, { data: 'done' });
  for (const c of clients) assert.deepEqual(parseEvents(bodyOf(c.data)), expected);
  const st = server.stats();
  assert.ok(st.events_sent >= N * 23, `events_sent ${st.events_sent}`);
  for (const c of clients) c.socket.destroy();
});

test('disconnected subscribers leave by themselves; unsubscribe and close work', async (t) => {
  const subs = [];
  let count = 0;
  const got = deferred();
  const { server, port } = await serve(t, (s) =>
    s.get('/feed', (req, res) => {
      s.channel('c').subscribe(res.sse);
      subs[Number(req.query.n)] = res;
      if (++count === 3) got.resolve();
    }),
  );
  const ch = server.channel('c');
  const clients = [0, 1, 2].map((n) => rawGet(port, `/feed?n=${n}`));
  t.after(() => clients.forEach((c) => c.socket.destroy()));
  await got.promise;
  clients[0].socket.destroy();
  await new Promise((r) => subs[0].once('close', r));
  assert.equal(ch.publish('x'), 2);
  assert.equal(ch.size, 2);
  assert.equal(ch.unsubscribe(subs[1]), true);
  assert.equal(ch.publish('y'), 1);
  await clients[2].waitFor('data: y\n\n');
  assert.doesNotMatch(bodyOf(await clients[1].waitFor('data: x\n\n')), /data: y/);
  ch.close();
  assert.equal(ch.publish('z'), 0);
  assert.equal(ch.size, 0);
  for (const c of clients) c.socket.destroy();
});

test('reconnect with Last-Event-ID: exactly the missed events, then live ones', async (t) => {
  const { server, port } = await serve(t, (s) =>
    s.get('/feed', (req, res) => {
      s.channel('h', { history: 100 }).subscribe(res);
    }),
  );
  const ch = server.channel('h', { history: 100 });
  const first = rawGet(port, '/feed');
  await first.waitFor('\r\n\r\n');
  await sleep(10);
  for (let i = 1; i <= 3; i++) ch.publish(`before ${i}`);
  await first.waitFor('data: before 3\n\n');
  assert.deepEqual(parseEvents(bodyOf(first.data)).map((e) => e.id), ['1', '2', '3']);
  first.socket.destroy();
  await sleep(20);
  for (let i = 4; i <= 6; i++) ch.publish(`missed ${i}`);
  const again = rawGet(port, '/feed', 'Last-Event-ID: 3\r\n');
  await again.waitFor('data: missed 6\n\n');
  ch.publish('live 7');
  await again.waitFor('data: live 7\n\n');
  assert.deepEqual(parseEvents(bodyOf(again.data)), [
    { id: '4', data: 'missed 4' },
    { id: '5', data: 'missed 5' },
    { id: '6', data: 'missed 6' },
    { id: '7', data: 'live 7' },
  ]);
  again.socket.destroy();
});

test('an EventSource that reconnects by itself resumes with no gap and no duplicate', async (t) => {
  let connections = 0;
  const { server, port } = await serve(t, (s) =>
    s.get('/feed', (req, res) => {
      connections++;
      const ch = s.channel('r', { history: 50, retry: 20 });
      ch.subscribe(res);
      assert.equal(res.sse.last_event_id, connections === 1 ? undefined : res.sse.last_event_id);
    }),
  );
  const ch = server.channel('r', { history: 50, retry: 20 });
  const es = new EventSource(`http://127.0.0.1:${port}/feed`);
  t.after(() => es.close());
  const seen = [];
  const done = deferred();
  es.onmessage = (e) => {
    seen.push(`${e.lastEventId}:${e.data}`);
    if (e.data === 'end') done.resolve();
  };
  await new Promise((r) => (es.onopen = r));
  ch.publish('a');
  ch.publish('b');
  while (seen.length < 2) await sleep(5);
  // Cut every stream from the server side; the client reconnects with Last-Event-ID.
  for (const res of [...server._live.values()]) res.sse.close();
  ch.publish('c'); // published while the client is away
  ch.publish('d');
  while (connections < 2 || ch.size < 1) await sleep(5);
  ch.publish('end');
  await done.promise;
  assert.deepEqual(seen, ['1:a', '2:b', '3:c', '4:d', '5:end']);
});

test('a standalone hyper.Channel works across servers and validates options', async (t) => {
  const ch = new hyper.Channel({ history: 2 });
  const a = await serve(t, (s) => s.get('/e', (req, res) => ch.subscribe(res)));
  const b = await serve(t, (s) => s.get('/e', (req, res) => ch.subscribe(res)));
  const ca = rawGet(a.port, '/e');
  const cb = rawGet(b.port, '/e');
  await Promise.all([ca.waitFor('\r\n\r\n'), cb.waitFor('\r\n\r\n')]);
  while (ch.size < 2) await sleep(5);
  assert.equal(ch.publish({ event: 'x', data: 'both', retry: 1000 }), 2);
  await Promise.all([ca.waitFor('data: both\n\n'), cb.waitFor('data: both\n\n')]);
  assert.match(bodyOf(ca.data), /^id: 1\nevent: x\nretry: 1000\ndata: both\n\n$/);
  assert.throws(() => new hyper.Channel({ history: -1 }), RangeError);
  assert.throws(() => ch.subscribe({}), TypeError);
  ca.socket.destroy();
  cb.socket.destroy();
});
