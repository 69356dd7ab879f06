'use strict';
// hyper-sse: HyperExpress's API over a Rust (tokio + hyper) HTTP/SSE server.
const { Server } = require('./lib/server');
const { Router } = require('./lib/router');
const { Request } = require('./lib/request');
const { Response } = require('./lib/response');
const { SSEventStream } = require('./lib/sse');

module.exports = { Server, Router, Request, Response, SSEventStream };
