'use strict';
// Bench server: hyper-sse (HyperExpress-style API). Prints "ready <port>".
const { Server } = require('../..');
const server = new Server();
server.get('/', (req, res) => res.send('Hello World'));
server.get('/json/:id', (req, res) => res.json({ id: req.params.id, agent: req.get('user-agent') || null }));
server.listen(Number(process.env.PORT || 0), '127.0.0.1').then((port) => console.log(`ready ${port}`));
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
