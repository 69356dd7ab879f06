'use strict';
// Issue 16.3: under slow_client 'drop', an event whose first bytes went straight to
// the socket was "dropped" with its rest, so the next event was glued onto a cut one.
// Once any byte of an event is on the wire, the rest must follow.
const test = require('node:test');
const assert = require('node:assert/strict');
const { serve, rawGet, bodyOf, deferred, sleep, until } = require('../helpers');

const EVENT_BYTES = 1024 * 1024;
const EVENTS = 30;

test('slow_client drop: every event that reaches the client is whole; dropped ones are counted', async (t) => {
  const done = deferred();
  const { server, port } = await serve(
    t,
    (s) =>
      s.get('/e', async (req, res) => {
        res.sse.open();
        for (let i = 0; i < EVENTS; i++) {
          // Spaced past the direct-write gap, so each send tries the socket first.
          await sleep(10);
          res.sse.send(String(i), 'big', `${i}:` + 'x'.repeat(EVENT_BYTES));
        }
        res.sse.close();
        done.resolve();
      }),
    { slow_client: 'drop', stream_high_water_mark: 1024, stream_max_buffer: 1024 },
  );
  const c = rawGet(port, '/e');
  t.after(() => c.socket.destroy());
  await c.waitFor('\r\n\r\n');
  c.socket.pause(); // a client that stops reading: the socket buffers fill, writes go partial
  await done.promise;
  c.socket.resume();
  await c.waitForEnd(20000);

  const body = bodyOf(c.data);
  assert.ok(body.endsWith('\n\n'), 'the stream ends on an event boundary');
  const events = body.split('\n\n').slice(0, -1);
  const seen = [];
  for (const ev of events) {
    const m = /^id: (\d+)\nevent: big\ndata: (\d+):(x*)$/.exec(ev);
    assert.ok(m, `a whole event, not a cut or glued one: ${JSON.stringify(ev.slice(0, 80))}... (${ev.length} chars)`);
    assert.equal(m[1], m[2]);
    assert.equal(m[3].length, EVENT_BYTES, `event ${m[1]} carries all its data`);
    seen.push(Number(m[1]));
  }
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'in order');
  await until(() => server.stats().events_sent + server.stats().events_dropped === EVENTS);
  const stats = server.stats();
  assert.ok(stats.events_dropped > 0, 'the client fell behind, so some events were dropped');
  assert.equal(seen.length, EVENTS - stats.events_dropped, 'every event not counted as dropped arrived whole');
});
