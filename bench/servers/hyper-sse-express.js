'use strict';
// Bench server: hyper-sse's Express-style app (the Express server with its require swapped).
const express = require('../..');
const app = express();
app.get('/', (req, res) => res.send('Hello World'));
app.get('/json/:id', (req, res) => res.json({ id: req.params.id, agent: req.get('user-agent') || null }));
const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => console.log(`ready ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
