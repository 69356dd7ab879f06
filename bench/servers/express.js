'use strict';
// Bench server: Express 5 on node:http. Prints "ready <port>".
const express = require('express');
const app = express();
app.get('/', (req, res) => res.send('Hello World'));
app.get('/json/:id', (req, res) => res.json({ id: req.params.id, agent: req.get('user-agent') || null }));
const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => console.log(`ready ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
