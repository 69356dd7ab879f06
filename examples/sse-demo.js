'use strict';
// Demo: a live clock and a chat-style broadcast over Server-Sent Events.
//   npm start            then open http://localhost:3000
//   curl -N localhost:3000/events
//   curl -XPOST localhost:3000/say -H 'content-type: application/json' -d '{"text":"hi"}'
const { Server } = require('..');

const PAGE = `<!doctype html><meta charset="utf-8"><title>hyper-sse demo</title>
<h1>hyper-sse demo</h1><p>Clock: <b id="clock">…</b></p><ul id="log"></ul>
<form id="f"><input id="t" placeholder="say something" autofocus><button>send</button></form>
<script>
const es = new EventSource('/events');
es.addEventListener('tick', (e) => (document.getElementById('clock').textContent = e.data));
es.addEventListener('say', (e) => {
  const li = document.createElement('li'); li.textContent = e.data; document.getElementById('log').append(li);
});
document.getElementById('f').onsubmit = (ev) => {
  ev.preventDefault();
  const t = document.getElementById('t');
  fetch('/say', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: t.value }) });
  t.value = '';
};
</script>`;

function createDemo() {
  const server = new Server();
  const streams = new Set();
  let nextId = 1;

  server.get('/', (req, res) => res.html(PAGE));

  server.get('/events', (req, res) => {
    res.sse.open();
    res.sse.send(String(nextId++), 'tick', new Date().toISOString());
    streams.add(res);
    res.on('close', () => streams.delete(res));
  });

  server.post('/say', async (req, res) => {
    const { text } = await req.json();
    const id = String(nextId++);
    for (const s of streams) s.sse.send(id, 'say', String(text ?? ''));
    res.status(202).json({ delivered: streams.size });
  });

  const clock = setInterval(() => {
    const id = String(nextId++);
    const now = new Date().toISOString();
    for (const s of streams) s.sse.send(id, 'tick', now);
  }, 1000);
  clock.unref();

  const close = server.close.bind(server);
  server.close = (options) => {
    clearInterval(clock);
    return close(options);
  };
  return server;
}

module.exports = { createDemo };

if (require.main === module) {
  const port = Number(process.env.PORT || 3000);
  const host = process.env.HOST || '127.0.0.1';
  const server = createDemo();
  server.listen(port, host).then(
    (p) => console.log(`hyper-sse demo on http://${host}:${p}  (events: /events, post JSON {"text"} to /say)`),
    (err) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
