'use strict';
// Demo: a small live dashboard over Server-Sent Events: several streams at once (a
// clock, a chat, server stats as a live chart), each with its connection state and
// reconnect count, and the protocol the page came over.
//   npm start            then open http://localhost:3000
//   KEY=key.pem CERT=cert.pem npm start     HTTPS, h2 and HTTP/1.1 (see README)
//   curl -N localhost:3000/events
//   curl -XPOST localhost:3000/say -H 'content-type: application/json' -d '{"text":"hi"}'
const { Server } = require('..');

const PAGE = `<!doctype html><meta charset="utf-8"><title>hyper-sse demo</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}
.streams{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;min-width:14em}
.state{font-weight:bold}.open{color:#080}.connecting{color:#a60}.closed{color:#a00}
canvas{border:1px solid #ccc;width:100%;height:160px}ul{max-height:10em;overflow:auto}
</style>
<h1>hyper-sse demo</h1>
<p>Page loaded over <b id="proto">…</b>. Clock: <b id="clock">…</b></p>
<div class="streams" id="streams"></div>
<h2>Server stats (live)</h2><canvas id="chart" width="900" height="160"></canvas>
<p id="numbers"></p>
<h2>Chat</h2><ul id="log"></ul>
<form id="f"><input id="t" placeholder="say something" autofocus><button>send</button></form>
<script>
document.getElementById('proto').textContent = performance.getEntriesByType('navigation')[0].nextHopProtocol || '?';
const streams = document.getElementById('streams');
// One EventSource per card; the browser reconnects by itself, which the card counts.
function watch(name, url, handlers) {
  const card = document.createElement('div'); card.className = 'card';
  card.innerHTML = '<div><b>' + name + '</b> <code>' + url + '</code></div><div>state: <span class="state connecting">connecting</span></div><div>events: <span class="n">0</span>, reconnects: <span class="r">0</span></div>';
  streams.append(card);
  const state = card.querySelector('.state'), n = card.querySelector('.n'), r = card.querySelector('.r');
  let opened = 0, events = 0;
  const es = new EventSource(url);
  const show = () => { const s = ['connecting', 'open', 'closed'][es.readyState]; state.textContent = s; state.className = 'state ' + s; };
  es.onopen = () => { if (opened++) r.textContent = opened - 1; show(); };
  es.onerror = show;
  for (const [event, fn] of Object.entries(handlers)) es.addEventListener(event, (e) => { n.textContent = ++events; fn(e); });
}
watch('clock', '/events?feed=clock', { tick: (e) => (document.getElementById('clock').textContent = e.data) });
watch('chat', '/events?feed=chat', { say: (e) => { const li = document.createElement('li'); li.textContent = e.data; document.getElementById('log').append(li); } });
const points = [];
watch('stats', '/stats', { stats: (e) => { const s = JSON.parse(e.data); points.push(s); if (points.length > 120) points.shift(); draw(); } });
function draw() {
  const c = document.getElementById('chart'), g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  const rates = points.map((p, i) => (i ? p.events_sent - points[i - 1].events_sent : 0));
  const series = [[rates, '#06c', 'events/s'], [points.map((p) => p.streams), '#c60', 'open streams'], [points.map((p) => p.connections), '#090', 'connections']];
  series.forEach(([values, color, label], k) => {
    const max = Math.max(1, ...values);
    g.strokeStyle = color; g.beginPath();
    values.forEach((v, i) => { const x = (i / 119) * c.width, y = c.height - 10 - (v / max) * (c.height - 30); i ? g.lineTo(x, y) : g.moveTo(x, y); });
    g.stroke(); g.fillStyle = color; g.fillText(label + ' (max ' + max + ')', 10 + k * 200, 12);
  });
  const last = points[points.length - 1];
  document.getElementById('numbers').textContent = 'connections ' + last.connections + ', streams ' + last.streams + ', requests ' + last.requests + ', events sent ' + last.events_sent;
}
document.getElementById('f').onsubmit = (ev) => {
  ev.preventDefault();
  const t = document.getElementById('t');
  fetch('/say', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: t.value }) });
  t.value = '';
};
</script>`;

/** The demo server; `options` go to `new Server` (key_file_name/cert_file_name for HTTPS). */
function createDemo(options) {
  const server = new Server(options);
  const streams = new Set();
  const watchers = new Set();
  let nextId = 1;

  server.get('/', (req, res) => res.html(PAGE));

  server.get('/events', (req, res) => {
    res.sse.open();
    res.sse.send(String(nextId++), 'tick', new Date().toISOString());
    streams.add(res);
    res.on('close', () => streams.delete(res));
  });

  // server.stats() once a second, for the chart.
  server.get('/stats', (req, res) => {
    res.sse.open();
    res.sse.send(null, 'stats', JSON.stringify(server.stats()));
    watchers.add(res);
    res.on('close', () => watchers.delete(res));
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
    if (watchers.size) {
      const stats = JSON.stringify(server.stats());
      for (const w of watchers) w.sse.send(null, 'stats', stats);
    }
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
  const tls = process.env.KEY && process.env.CERT ? { key_file_name: process.env.KEY, cert_file_name: process.env.CERT } : undefined;
  const server = createDemo(tls);
  const scheme = tls ? 'https' : 'http';
  server.listen(port, host).then(
    (p) => console.log(`hyper-sse demo on ${scheme}://${host}:${p}${tls ? ' (h2 and HTTP/1.1)' : ''}  (events: /events, stats: /stats, post JSON {"text"} to /say)`),
    (err) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
