'use strict';
// SSE bench server: hyper-sse. GET /sse opens a stream. Prints "ready <port>".
//   MODE=loop (default): every TICK_MS ms, for (const r of clients) r.sse.send(json)
//   MODE=channel: every client subscribes to server.channel('bench'); one publish(json) per tick
//     BROKER=redis://…: the channel is shared through Redis (publish is a Promise);
//     REUSE_PORT=1 binds with SO_REUSEPORT (several such processes on one PORT);
//     PUBLISH=0: this process only delivers (another one publishes)
//   MODE=express: a hyper() app whose handler writes raw frames as Express code does:
//     res.writeHead(200, { 'content-type': 'text/event-stream' }), then res.write('data: …\n\n')
// HYPER_SSE_LIB: another copy of hyper-sse to load (a before/after of the JS layer).
// KEY and CERT (PEM files): HTTPS, h2 and HTTP/1.1.
// The payload and the tick loop (started at listen time) are in sse-common.js.
// On SIGTERM, server.stats() goes to stderr, then the process exits.
const hyper = require(process.env.HYPER_SSE_LIB ? require('path').resolve(process.env.HYPER_SSE_LIB) : '../..');
const { startTicks, ready } = require('./sse-common');

const MODE = process.env.MODE || 'loop';
if (!['loop', 'channel', 'express'].includes(MODE)) throw new Error(`MODE must be loop, channel or express, got ${MODE}`);

const tls = process.env.KEY && process.env.CERT ? { key_file_name: process.env.KEY, cert_file_name: process.env.CERT } : undefined;
const options = { ...tls, reuse_port: process.env.REUSE_PORT === '1' };
const app = MODE === 'express' ? hyper(options) : null;
const server = app ? app._server : new hyper.Server(options);
const clients = new Set();
const channel = MODE === 'channel' ? server.channel('bench', process.env.BROKER ? { broker: process.env.BROKER } : {}) : null;
let publishFailures = 0;

if (app) {
  app.get('/sse', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    clients.add(res);
    req.on('close', () => clients.delete(res));
  });
}

if (!app) {
  server.get('/sse', (req, res) => {
    if (channel) {
      channel.subscribe(res); // opens the stream; disconnected subscribers leave by themselves
      return;
    }
    res.sse.open();
    clients.add(res);
    res.on('close', () => clients.delete(res));
  });
}

const publishes = process.env.PUBLISH !== '0';
if (publishes) startTicks(
  channel
    ? process.env.BROKER
      ? (json) => channel.publish(json).catch(() => publishFailures++)
      : (json) => channel.publish(json)
    : app
      ? (json) => {
          const frame = `data: ${json}\n\n`;
          for (const r of clients) r.write(frame);
        }
      : (json) => {
          for (const r of clients) r.sse.send(json);
        },
);

server.listen(Number(process.env.PORT || 0), '127.0.0.1').then((port) =>
  ready(port, () => {
    process.stderr.write(`sse-hyper-sse ${MODE} stats: ${JSON.stringify(server.stats())}${publishFailures ? `, ${publishFailures} publishes failed` : ''}\n`);
    return server.close({ timeout: 1000 });
  }),
);
