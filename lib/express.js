'use strict';
// The Express-style surface: `hyper()` makes an app whose routes, middleware stack,
// error middleware and listen()/close() behave as Express's do, over the same native
// Server. Routes are still matched in Rust; the stack order is kept here.

const EventEmitter = require('events');
const http = require('http');
const querystring = require('querystring');
const { Server } = require('./server');
const { Router, METHODS, joinPath, mountMatch } = require('./router');
const { httpError } = require('./errors');

class App {
  constructor(options) {
    this._server = new Server(options);
    this._server._expressDefaults = true;
    this._stack = [];
    this._routes = new Map();
    this.locals = Object.create(null);
    this.settings = Object.create(null);
    this.engines = Object.create(null);
    this._viewCache = new Map();
    /** Express: the path this app is mounted on (apps are not mounted inside apps here). */
    this.mountpath = '/';
    this._server.set_not_found_handler((req, res) => this._run(undefined, req, res));
    this._server._mountTarget = this;
  }

  /** `use([path], ...middleware | Router)`; `(err, req, res, next)` functions handle errors. */
  use(...args) {
    let path = '/';
    if (typeof args[0] === 'string') path = args.shift();
    for (const item of args.flat()) {
      if (item instanceof Router) item._subscribe((record) => this._apply(record, path));
      else if (item instanceof App) throw new TypeError('mounting an app inside an app is not supported; use hyper.Router()');
      else if (typeof item === 'function') this._stack.push({ route: undefined, path, fn: item, handlesError: item.length === 4 });
      else throw new TypeError(`app.use() requires a middleware function, got ${typeof item}`);
    }
    return this;
  }

  route(pattern) {
    const chain = {};
    for (const m of [...METHODS, 'all']) {
      chain[m] = (...handlers) => {
        this._addRoute(m === 'all' ? 'ANY' : m.toUpperCase(), pattern, handlers);
        return chain;
      };
    }
    return chain;
  }

  /** A broadcast channel (see Server.channel). */
  channel(name, options) {
    return this._server.channel(name, options);
  }

  /** Server counters (see Server.stats). */
  stats() {
    return this._server.stats();
  }

  set(name, value) {
    this.settings[name] = value;
    return this;
  }
  enable(name) {
    return this.set(name, true);
  }
  disable(name) {
    return this.set(name, false);
  }
  enabled(name) {
    return Boolean(this.settings[name]);
  }
  disabled(name) {
    return !this.settings[name];
  }

  /**
   * Express's listen: returns a server-like object at once (with close([callback]) and
   * address()); `callback` runs once listening; a taken port emits 'error' on it.
   */
  listen(port, host, backlog, callback) {
    const args = [port, host, backlog, callback];
    callback = args.find((a) => typeof a === 'function');
    host = typeof host === 'string' ? host : '0.0.0.0';
    const handle = new ListenHandle(this._server, host);
    if (callback) handle.once('listening', callback);
    this._server.listen(Number(port) || 0, host).then(
      () => handle.emit('listening'),
      (err) => handle.emit('error', err),
    );
    return handle;
  }

  _addRoute(method, pattern, handlers) {
    if (typeof pattern !== 'string') throw new TypeError('hyper-sse routes take string paths (regular expressions are not supported)');
    pattern = expressPattern(pattern);
    const fns = handlers.flat();
    for (const f of fns) if (typeof f !== 'function') throw new TypeError(`${method} ${pattern}: route handlers must be functions`);
    const key = `${method} ${pattern}`;
    let route = this._routes.get(key);
    if (!route) {
      // Layers are only ever appended: if no middleware precedes this route now, none
      // ever will, and its requests can start at its own layer instead of scanning
      // every route before it (Rust already matched it).
      const startAt = this._stack.some((l) => !l.route) ? 0 : this._stack.length;
      route = { handlers: [], startAt, baseUrl: '' };
      this._routes.set(key, route);
      this._stack.push({ route, path: pattern, fn: undefined, handlesError: false });
      this._server._route(method, pattern, [(req, res) => this._run(route, req, res)]);
    }
    route.handlers.push(...fns);
    return this;
  }

  _apply(record, prefix) {
    if (record.kind === 'route') {
      this._addRoute(record.method, joinPath(prefix, record.pattern), record.middlewares.concat(record.handler));
      // A router's route sees the router's mount path as req.baseUrl, as in Express.
      this._routes.get(`${record.method} ${expressPattern(joinPath(prefix, record.pattern))}`).baseUrl = prefix === '/' ? '' : prefix.replace(/\/$/, '');
    }
    else if (record.kind === 'use') this.use(joinPath(prefix, record.path), record.fn);
    else if (record.kind === 'mount') record.router._subscribe((r) => this._apply(r, joinPath(prefix, record.path)));
  }

  /**
   * Runs the stack in order for a request that matched `matched` (or no route).
   * Middleware mounted on a path sees `req.url` without it and `req.baseUrl` set to
   * it, until it calls next() (as Express's router does).
   */
  _run(matched, req, res) {
    const stack = this._stack;
    let i = matched ? matched.startAt : 0;
    // The mount path taken off req.url for the layer running now (put back at next()).
    let removed = '';
    let slashAdded = false;
    const strip = (length) => {
      removed = req.url.slice(0, length);
      let rest = req.url.slice(length);
      slashAdded = rest[0] !== '/';
      if (slashAdded) rest = '/' + rest;
      req.url = rest;
      req.baseUrl = removed;
    };
    const next = (err) => {
      if (err === 'route' || err === 'router') err = undefined;
      if (removed !== '') {
        req.url = removed + (slashAdded ? req.url.slice(1) : req.url);
        req.baseUrl = '';
        removed = '';
      }
      // A response already over stops the chain, except for an error: Express hands
      // it to the error middleware even when the client has left (they log it).
      if (res.completed && !err) return;
      while (i < stack.length) {
        const layer = stack[i++];
        if (layer.route) {
          if (layer.route === matched && !err) {
            // A router's route: below its router's mount path, as Express has it.
            if (matched.baseUrl !== '') {
              const length = mountMatch(matched.baseUrl, req.path);
              if (length > 0) strip(length);
            }
            return runRoute(layer.route.handlers, req, res, next);
          }
          continue;
        }
        const length = mountMatch(layer.path, req.path);
        if (length < 0) continue;
        if (err ? layer.handlesError : !layer.handlesError) {
          if (length > 0) strip(length);
          return invoke(layer.fn, err || undefined, req, res, next);
        }
      }
      if (err) finalError(err, req, res);
      else notFound(req, res);
    };
    req.next = next;
    next();
  }

  // -- views (Express's view system) -------------------------------------------

  /** Express: registers `fn(path, options, callback)` to render files ending in `ext`. */
  engine(ext, fn) {
    if (typeof fn !== 'function') throw new Error('callback function required');
    this.engines[ext[0] === '.' ? ext : '.' + ext] = fn;
    return this;
  }

  /** Express: renders view `name` with app.locals and `options`; `callback(err, html)`. */
  render(name, options, callback) {
    if (typeof options === 'function') [callback, options] = [options, {}];
    const opts = { ...this.locals, ...options?._locals, ...options };
    delete opts._locals;
    if (opts.cache == null) opts.cache = this.enabled('view cache');
    let view;
    try {
      view = this._view(name, opts.cache);
    } catch (err) {
      return callback(err);
    }
    try {
      view.engine(view.path, opts, callback);
    } catch (err) {
      callback(err);
    }
  }

  /** The file and engine for view `name` (an Error if no file is found). */
  _view(name, cache) {
    if (cache && this._viewCache.has(name)) return this._viewCache.get(name);
    const path = require('path');
    const fs = require('fs');
    const defaultEngine = this.settings['view engine'];
    let ext = path.extname(name);
    if (!ext && !defaultEngine) throw new Error('No default engine was specified and no extension was provided.');
    if (!ext) ext = defaultEngine[0] === '.' ? defaultEngine : '.' + defaultEngine;
    const fileName = path.extname(name) ? name : name + ext;
    const roots = [].concat(this.settings.views ?? path.resolve('views'));
    let file;
    for (const root of roots) {
      const candidates = [path.resolve(root, fileName), path.join(path.resolve(root, path.basename(fileName, ext)), 'index' + ext)];
      file = candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile());
      if (file) break;
    }
    if (!file) {
      const err = new Error(`Failed to lookup view "${name}" in views ${roots.length > 1 ? `directories "${roots.slice(0, -1).join('", "')}" or "${roots.at(-1)}"` : `directory "${roots[0]}"`}`);
      err.view = { name, path: undefined };
      throw err;
    }
    if (!this.engines[ext]) {
      // As Express: the engine module named by the extension, through its __express.
      const mod = require(ext.slice(1));
      const fn = mod.__express;
      if (typeof fn !== 'function') throw new Error(`Module "${ext.slice(1)}" does not provide a view engine.`);
      this.engines[ext] = fn;
    }
    const view = { path: file, engine: this.engines[ext] };
    if (cache) this._viewCache.set(name, view);
    return view;
  }
}

for (const m of METHODS) {
  App.prototype[m] = function (pattern, ...handlers) {
    // app.get('setting') reads a setting, as in Express.
    if (m === 'get' && handlers.length === 0) return this.settings[pattern];
    return this._addRoute(m.toUpperCase(), pattern, handlers);
  };
}
App.prototype.all = function (pattern, ...handlers) {
  return this._addRoute('ANY', pattern, handlers);
};
App.prototype.del = App.prototype.delete;

function runRoute(handlers, req, res, done) {
  let j = 0;
  const next = (err) => {
    if (err === 'route') return done();
    if (err) return done(err);
    if (j >= handlers.length) return done();
    invoke(handlers[j++], undefined, req, res, next);
  };
  next();
}

/**
 * Calls a handler, or an error handler when `err` is set; a throw or a rejected promise
 * becomes next(err) (Express 5). No closure per call: this runs for every request.
 */
function invoke(fn, err, req, res, next) {
  try {
    const out = err === undefined ? fn(req, res, next) : fn(err, req, res, next);
    if (out && typeof out.then === 'function') out.then(undefined, (e) => next(e || new Error('rejected')));
  } catch (e) {
    next(e);
  }
}

function notFound(req, res) {
  const body = `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot ${escapeHtml(req.method)} ${escapeHtml(req.path)}</pre>\n</body>\n</html>\n`;
  res.status(404).setHeader('content-type', 'text/html; charset=utf-8').send(body);
}

function finalError(err, req, res) {
  if (res.headersSent && res.initiated) {
    // As Express's finalhandler: the body is cut off, so the client cannot take it for
    // whole; an event stream ends cleanly (every event sent is whole).
    if (!res.aborted) console.error(err);
    if (res._isEventStream()) res.end();
    else res._abort();
    return;
  }
  let status = Number(err && (err.status || err.statusCode));
  if (!(status >= 400 && status <= 599)) status = 500;
  if (status >= 500) console.error(err);
  res._headers = [];
  res.status(status).setHeader('content-type', 'text/html; charset=utf-8').send(`<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n<pre>${escapeHtml(http.STATUS_CODES[status] || 'Error')}</pre>\n</body>\n</html>\n`);
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Express 5 wildcards: '/*splat' and '/{*splat}' become a trailing '*'. */
function expressPattern(pattern) {
  return pattern.replace(/\/\{?\*[A-Za-z0-9_]*\}?$/, '/*');
}

class ListenHandle extends EventEmitter {
  constructor(server, host) {
    super();
    this._server = server;
    this._host = host;
  }
  address() {
    const port = this._server.port;
    if (port === undefined) return null;
    return { address: this._host, family: this._host.includes(':') ? 'IPv6' : 'IPv4', port };
  }
  get listening() {
    return this._server.port !== undefined && !this._server._closing;
  }
  close(callback) {
    this._server.close().then(() => {
      this.emit('close');
      if (typeof callback === 'function') callback();
    });
    return this;
  }
  /** Node's http.Server has these; connections are managed in Rust. */
  setTimeout() {
    return this;
  }
  ref() {
    return this;
  }
  unref() {
    return this;
  }
}

// -- body parsers -------------------------------------------------------------

const UNITS = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

function parseLimit(limit, fallback) {
  if (limit === undefined || limit === null) return fallback;
  if (typeof limit === 'number') return limit;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(String(limit));
  if (!m) throw new TypeError(`invalid body size limit: ${limit}`);
  return Math.floor(Number(m[1]) * UNITS[(m[2] || 'b').toLowerCase()]);
}

function typeMatcher(type) {
  if (typeof type === 'function') return type;
  const types = [].concat(type);
  return (req) => {
    const ct = String(req.get('content-type') || '').split(';')[0].trim().toLowerCase();
    if (!ct) return false;
    return types.some((t) => (t.startsWith('*/') ? ct.endsWith(t.slice(1)) : t.endsWith('/*') ? ct.startsWith(t.slice(0, -1)) : t.startsWith('+') ? ct.endsWith(t) : ct === t));
  };
}

/** A body parser middleware: reads the body in Rust (up to `limit`), then `parse(text)`. */
function bodyParser(options, defaults, parse) {
  const limit = parseLimit(options.limit, 100 * 1024);
  const matches = typeMatcher(options.type || defaults.type);
  return function parser(req, res, next) {
    if (req._bodyParsed || !matches(req)) return next();
    req._bodyParsed = true;
    req._server._readBody(req._id, limit).then(
      (buf) => {
        try {
          req.body = parse(buf);
        } catch (e) {
          const err = httpError(400, e.message);
          err.type = 'entity.parse.failed';
          err.body = buf.toString('utf8');
          return next(err);
        }
        next();
      },
      (err) => {
        if (err.status === 413) err.type = 'entity.too.large';
        next(err);
      },
    );
  };
}

/** Express's `express.json()`: JSON bodies into `req.body`; 413 past `limit` (default '100kb'), 400 if malformed. */
function json(options = {}) {
  const strict = options.strict !== false;
  return bodyParser(options, { type: 'application/json' }, (buf) => {
    const text = buf.toString('utf8');
    if (text.length === 0) return {};
    if (strict && !/^[\s\uFEFF]*[[{]/.test(text)) throw new SyntaxError('JSON body must be an object or an array');
    return JSON.parse(text, options.reviver);
  });
}

/** Express's `express.urlencoded()`: form bodies into `req.body`. */
function urlencoded(options = {}) {
  return bodyParser(options, { type: 'application/x-www-form-urlencoded' }, (buf) => ({ ...querystring.parse(buf.toString('utf8')) }));
}

/** Express's `express.text()`. */
function text(options = {}) {
  return bodyParser(options, { type: 'text/plain' }, (buf) => buf.toString('utf8'));
}

/** Express's `express.raw()`: the body as a Buffer. */
function raw(options = {}) {
  return bodyParser(options, { type: 'application/octet-stream' }, (buf) => buf);
}

/** Express's `express.static(root, options)`: serve-static, as Express ships it. */
function serveStatic(root, options) {
  return require('serve-static')(root, options);
}

module.exports = { App, json, urlencoded, text, raw, serveStatic };
