'use strict';
// SSE bench server: hyper-sse. GET /sse opens a stream. Prints "ready <port>".
//   MODE=loop (default): every TICK_MS ms, for (const r of clients) r.sse.send(json)
//   MODE=channel: every client subscribes to server.channel('bench'); one publish(json) per tick
// The payload and the tick loop (started at listen time) are in sse-common.js.
// On SIGTERM, server.stats() goes to stderr, then the process exits.
const { Server } = require('../..');
const { startTicks, ready } = require('./sse-common');

const MODE = process.env.MODE || 'loop';
if (MODE !== 'loop' && MODE !== 'channel') throw new Error(`MODE must be loop or channel, got ${MODE}`);

const server = new Server();
const clients = new Set();
const channel = MODE === 'channel' ? server.channel('bench') : null;

server.get('/sse', (req, res) => {
  if (channel) {
    channel.subscribe(res); // opens the stream; disconnected subscribers leave by themselves
    return;
  }
  res.sse.open();
  clients.add(res);
  res.on('close', () => clients.delete(res));
});

startTicks(
  channel
    ? (json) => channel.publish(json)
    : (json) => {
        for (const r of clients) r.sse.send(json);
      },
);

server.listen(Number(process.env.PORT || 0), '127.0.0.1').then((port) =>
  ready(port, () => {
    process.stderr.write(`sse-hyper-sse ${MODE} stats: ${JSON.stringify(server.stats())}\n`);
    return server.close({ timeout: 1000 });
  }),
);
