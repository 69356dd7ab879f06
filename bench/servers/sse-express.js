'use strict';
// SSE bench server: Express 5 on node:http. GET /sse sets the SSE headers, flushes them,
// and every TICK_MS ms each client gets res.write(`data: ${json}\n\n`). Only MODE=loop.
// Prints "ready <port>". The payload and the tick loop (started at listen time) are in
// sse-common.js.
const express = require('express');
const { startTicks, ready } = require('./sse-common');

if ((process.env.MODE || 'loop') !== 'loop') throw new Error('sse-express.js supports MODE=loop only');

const app = express();
const clients = new Set();

app.get('/sse', (req, res) => {
  res.setHeader('Content-Type', 'text/event-stream');
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Connection', 'keep-alive');
  res.flushHeaders();
  clients.add(res);
  res.on('close', () => clients.delete(res));
});

startTicks((json) => {
  const frame = `data: ${json}\n\n`;
  for (const r of clients) r.write(frame);
});

const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => ready(server.address().port));
