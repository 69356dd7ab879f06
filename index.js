'use strict';
// hyper-sse: HyperExpress's API (and Express's) over a Rust (tokio + hyper) HTTP/SSE server.
//
//   const hyper = require('hyper-sse');
//   new hyper.Server()     HyperExpress style
//   hyper()                Express style: const app = hyper(); app.use(hyper.json()) ...
const { Server } = require('./lib/server');
const { Router } = require('./lib/router');
const { Request } = require('./lib/request');
const { Response } = require('./lib/response');
const { SSEventStream } = require('./lib/sse');
const { App, json, urlencoded, text, raw, serveStatic } = require('./lib/express');
const { Channel } = require('./lib/channel');

/** Express style: `const app = hyper()`. */
function hyper(options) {
  return new App(options);
}

// `hyper.Router()` (Express) and `new hyper.Router()` (HyperExpress) both work.
const RouterFactory = new Proxy(Router, { apply: (target, thisArg, args) => new target(...args) });

Object.assign(hyper, { Server, Router: RouterFactory, Request, Response, SSEventStream, Channel, App, json, urlencoded, text, raw, static: serveStatic });
module.exports = hyper;
