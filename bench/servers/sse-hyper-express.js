'use strict';
// SSE bench server: HyperExpress 6.16.2 (uWebSockets.js). GET /sse opens a stream with
// res.sse.open(); every TICK_MS ms, for (const r of clients) r.sse.send(json). Only
// MODE=loop. Prints "ready <port>". The payload and the tick loop (started at listen
// time) are in sse-common.js. HyperExpress hooks SIGTERM itself, so we exit explicitly.
// KEY and CERT (PEM files) serve it over HTTPS.
const HyperExpress = require('hyper-express');
const { startTicks, ready } = require('./sse-common');

if ((process.env.MODE || 'loop') !== 'loop') throw new Error('sse-hyper-express.js supports MODE=loop only');

// KEY and CERT (PEM files): HTTPS (uWebSockets' SSLApp, HTTP/1.1 only).
const tls = process.env.KEY && process.env.CERT ? { key_file_name: process.env.KEY, cert_file_name: process.env.CERT } : {};
const server = new HyperExpress.Server(tls);
const clients = new Set();

server.get('/sse', (req, res) => {
  res.sse.open();
  clients.add(res);
  res.on('close', () => clients.delete(res));
});

startTicks((json) => {
  for (const r of clients) r.sse.send(json);
});

server.listen(Number(process.env.PORT || 0), '127.0.0.1').then(() => ready(server.port));
