'use strict';
// An independent client: the `eventsource` package (a WHATWG EventSource for Node)
// reads our stream.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventSource } = require('eventsource');
const { serve, deferred } = require('./helpers');

test('EventSource receives ids, event names and multi-line data', async (t) => {
  const { url } = await serve(t, (s) =>
    s.get('/events', (req, res) => {
      res.sse.open();
      res.sse.send('plain');
      res.sse.send('1', 'greeting', 'hello\nworld');
      res.sse.comment('ignored by clients');
      res.sse.send('2', 'greeting', 'line1\r\nline2\rline3');
      res.sse.send('3', 'done', '');
    }),
  );
  const es = new EventSource(`${url}/events`);
  t.after(() => es.close());
  const got = [];
  const done = deferred();
  es.onopen = () => got.push({ type: 'open' });
  es.onmessage = (e) => got.push({ type: e.type, data: e.data, id: e.lastEventId });
  es.addEventListener('greeting', (e) => got.push({ type: e.type, data: e.data, id: e.lastEventId }));
  es.addEventListener('done', (e) => {
    got.push({ type: e.type, data: e.data, id: e.lastEventId });
    done.resolve();
  });
  es.onerror = (e) => done.reject(new Error(`EventSource error: ${e.message || e.type}`));
  await done.promise;
  assert.deepEqual(got, [
    { type: 'open' },
    { type: 'message', data: 'plain', id: '' },
    { type: 'greeting', data: 'hello\nworld', id: '1' },
    { type: 'greeting', data: 'line1\nline2\nline3', id: '2' },
    { type: 'done', data: '', id: '3' },
  ]);
});

test('EventSource fires open as soon as open() is called, before any event', async (t) => {
  const closeIt = deferred();
  const { url } = await serve(t, (s) =>
    s.get('/events', (req, res) => {
      res.sse.open();
      closeIt.promise.then(() => res.sse.close());
    }),
  );
  const es = new EventSource(`${url}/events`);
  t.after(() => es.close());
  await new Promise((resolve, reject) => {
    es.onopen = resolve;
    es.onerror = (e) => reject(new Error(e.message));
  });
  assert.equal(es.readyState, EventSource.OPEN);
  closeIt.resolve();
});

test('an injected id/event line cannot forge an event for EventSource', async (t) => {
  const { url } = await serve(t, (s) =>
    s.get('/events', (req, res) => {
      res.sse.send('x\n\nevent: forged\ndata: evil', 'real', 'payload\n\nid: 99');
      res.sse.send('end', 'end', 'end');
    }),
  );
  const es = new EventSource(`${url}/events`);
  t.after(() => es.close());
  const events = [];
  const done = deferred();
  es.addEventListener('forged', () => events.push('forged'));
  es.addEventListener('real', (e) => events.push(['real', e.data, e.lastEventId]));
  es.addEventListener('end', () => done.resolve());
  es.onerror = (e) => done.reject(new Error(e.message));
  await done.promise;
  assert.deepEqual(events, [['real', 'payload\n\nid: 99', 'xevent: forgeddata: evil']]);
});
