'use strict';
// Bench server: HyperExpress 6.16.2 on uWebSockets.js. Prints "ready <port>".
// HyperExpress hooks SIGTERM and only closes its listener, so exit explicitly.
const HyperExpress = require('hyper-express');
const server = new HyperExpress.Server();
server.get('/', (req, res) => res.send('Hello World'));
server.get('/json/:id', (req, res) => res.json({ id: req.path_parameters.id, agent: req.get('user-agent') || null }));
const port = Number(process.env.PORT || 0);
server.listen(port, '127.0.0.1').then(() => console.log(`ready ${server.port}`));
process.on('SIGTERM', () => process.exit(0));
