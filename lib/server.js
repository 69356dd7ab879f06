'use strict';
// The HyperExpress-style Server: owns one NativeServer, turns its event batches into
// handler calls, and runs middleware chains and the error path.

const { NativeServer } = require('./native');
const { Router, joinPath, underPath } = require('./router');
const { Request } = require('./request');
const { Response } = require('./response');
const { httpError } = require('./errors');
const { Channel } = require('./channel');
const { wantsTls, tlsMaterial } = require('./tls');
const { HostManager } = require('./hosts');

// Event layout shared with src/bridge/events.rs.
const STRIDE = 6;
const EV_REQUEST = 0;
const EV_CLOSE = 1;
const EV_BODY = 2;
const EV_CLOSED = 3;
const EV_DRAIN = 4;
const EV_CHUNK = 5;
const EV_MISSING_HOST = 6;
// A streamed body's chunk record: a buffer index, or one of these (src/bridge/events.rs).
const CHUNK_END = -1;
const CHUNK_ABORTED = -2;
const CHUNK_ERROR = -3;
const UNMATCHED = 0xffffffff;
// Method numbers shared with METHODS in src/server/event_queue.rs.
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE'];
const METHOD_OTHER = 16;

const NO_NAMES = [];
// HyperExpress's text (and spelling), which error handlers may match on.
const DOUBLE_NEXT =
  'ERR_DOUBLE_MIDDLEWARE_EXEUCTION_DETECTED: Please ensure you are not calling the next() iterator inside of an ASYNC middleware. You must only call next() ONCE per middleware inside of SYNCHRONOUS middlewares only!';
// See _holdWrites: measured with bench/sse-load (1000 clients, 10 ms tick), 32 gave the
// lowest p99 at no visible CPU cost; holding the whole loop gave ~0.5-1 ms more at p99.
const WRITES_PER_WAKE = 32;
const DEFAULT_MAX_BODY = 250 * 1024;

/** `reuse_port: true`, or HyperExpress's `exclusive_port: false`: share the port (SO_REUSEPORT). */
function reusePort(options) {
  return options.reuse_port === true || options.exclusive_port === false;
}

class Server extends Router {
  /**
   * @param {object} [options]
   * @param {number} [options.max_body_length] body readers reject past this many bytes (413)
   * @param {number} [options.threads] tokio worker threads (default 1)
   * @param {number} [options.max_queued_requests] requests waiting for JS before 503s
   * @param {number} [options.header_timeout_ms] time allowed to send a request head
   * @param {number} [options.stream_high_water_mark] unsent bytes per stream above which writes return false (default 65536)
   * @param {number} [options.stream_max_buffer] unsent bytes per stream past which the slow-client policy applies (default 1 MiB)
   * @param {'disconnect'|'drop'} [options.slow_client] what happens past stream_max_buffer (default 'disconnect')
   * @param {number} [options.heartbeat_ms] keep-alive comment interval for idle SSE streams (default 0: off)
   * @param {number} [options.max_header_size] largest request head, bytes (default 16384): larger gets 431
   * @param {number} [options.max_connections] open connections allowed (default 100000); more are closed at once
   * @param {number} [options.handler_timeout_ms] a handler that starts no response by then gets a 503 (default 60000; 0: never)
   * @param {string} [options.broker] Redis URL every channel of this server is shared through (a channel's own `broker` option wins)
   * @param {string} [options.key_file_name] TLS: PEM private key file (HyperExpress's name); or `key`, PEM text
   * @param {string} [options.cert_file_name] TLS: PEM certificate chain file; or `cert`, PEM text
   * @param {string} [options.passphrase] TLS: decrypts an encrypted PKCS#8 key
   * @param {string} [options.ca_file_name] TLS: clients must present a certificate signed by these CAs; or `ca`
   * @param {boolean} [options.reuse_port] bind with SO_REUSEPORT: several processes listen on the same address (also `exclusive_port: false`)
   */
  constructor(options = {}) {
    super();
    this._options = options;
    this._maxBody = options.max_body_length ?? DEFAULT_MAX_BODY;
    this._routes = [];
    // Every use() at any router depth, in registration order: { order, path, fn }.
    this._middlewares = [];
    // Registration order shared by middlewares and routes: a route's own middlewares
    // run between the global ones registered before and after it (as in HyperExpress).
    this._nextOrder = 0;
    /** HyperExpress: routes by method ('any', 'get', 'post', 'del', ...) then pattern. */
    this.routes = { any: {}, get: {}, post: {}, put: {}, del: {}, head: {}, options: {}, patch: {}, trace: {}, connect: {} };
    /** HyperExpress / Express: application-wide values (`req.app.locals`). */
    this.locals = {};
    this._live = new Map();
    this._bodies = new Map();
    // Requests whose body streams to JS, by id.
    this._bodyStreams = new Map();
    this._errorHandler = null;
    this._notFoundHandler = null;
    this._port = undefined;
    this._closing = null;
    this._closed = false;
    /** True when the server serves HTTPS (h2 and HTTP/1.1 over TLS). */
    this._tls = wantsTls(options);
    this._native = new NativeServer(batchReceiver(new WeakRef(this)), {
      threads: options.threads,
      maxQueuedRequests: options.max_queued_requests,
      headerTimeoutMs: options.header_timeout_ms,
      streamHighWaterMark: options.stream_high_water_mark,
      streamMaxBuffer: options.stream_max_buffer,
      slowClient: options.slow_client,
      heartbeatMs: options.heartbeat_ms,
      maxHeaderSize: options.max_header_size,
      maxBodyLength: this._maxBody,
      maxConnections: options.max_connections,
      handlerTimeoutMs: options.handler_timeout_ms,
    });
    // The per-response and per-event calls (respond, write, sseSend, requestHeader, ...):
    // plain functions, cheaper per call than the class's methods.
    this._calls = this._native.hotCalls();
    /** A certificate per host name (TLS SNI), as HyperExpress's `server.hosts`. */
    this.hosts = new HostManager(this._native, this._tls);
    this._inBatch = false;
    this._holding = false;
    this._heldWrites = 0;
    this._releaseHeld = () => {
      this._holding = false;
      this._native.releaseWakes();
    };
    this._channels = new Map();
    this._subscribe((record) => this._apply(record, '/'));
  }

  /** The bound port once listening. */
  get port() {
    return this._port;
  }

  /** Open TCP connections right now. */
  get connections() {
    return this._native.connections;
  }

  /** Counters: connections, requests, open streams, events and bytes written, slow clients. */
  stats() {
    const s = this._native.stats();
    return {
      connections: s.connections,
      requests: s.requests,
      streams: s.streams,
      events_sent: s.eventsSent,
      bytes_written: s.bytesWritten,
      slow_client_disconnects: s.slowClientDisconnects,
      events_dropped: s.eventsDropped,
    };
  }

  /** The channel called `name`, made on first use with `options` ({ history, retry }). */
  channel(name, options) {
    let ch = this._channels.get(name);
    if (!ch) {
      // The server's broker is every channel's default; `broker: false` keeps one local.
      const broker = options && options.broker !== undefined ? options.broker : this._options.broker;
      ch = new Channel({ ...options, name, broker: broker || undefined });
      this._channels.set(name, ch);
    }
    return ch;
  }

  set_error_handler(handler) {
    if (typeof handler !== 'function') throw new TypeError('set_error_handler expects a function (req, res, error)');
    this._errorHandler = handler;
  }

  set_not_found_handler(handler) {
    if (typeof handler !== 'function') throw new TypeError('set_not_found_handler expects a function (req, res)');
    this._notFoundHandler = handler;
    this._native.setDispatchUnmatched(true);
  }

  /**
   * listen(port, [host], [callback]): resolves with the bound port; rejects (and never
   * shares the port) when the address is taken.
   */
  listen(port, host, callback) {
    if (typeof host === 'function') [callback, host] = [host, undefined];
    if (this._closing) return Promise.reject(new Error('server was closed; create a new Server'));
    try {
      this._port = this._native.listen(Number(port), host || '0.0.0.0', this._tls ? tlsMaterial(this._options) : undefined, reusePort(this._options));
    } catch (e) {
      const err = new Error(e.message);
      if (/in use/i.test(e.message)) err.code = 'EADDRINUSE';
      else if (/permission denied/i.test(e.message)) err.code = 'EACCES';
      return Promise.reject(err);
    }
    // Listening keeps the server alive (its routes must answer) until close().
    LISTENING.add(this);
    if (typeof callback === 'function') process.nextTick(callback, this._port);
    return Promise.resolve(this._port);
  }

  /**
   * Swaps the TLS key and certificate (same option names as the constructor: key/cert
   * or key_file_name/cert_file_name, passphrase) for new connections; open ones keep
   * theirs. Throws, changing nothing, if the material is unusable.
   */
  setCertificate(options) {
    if (!this._tls || this._port === undefined) throw new Error('setCertificate: the server is not serving TLS (give key and cert, then listen)');
    options = options || {};
    if (options.ca != null || options.ca_file_name != null) throw new Error('setCertificate: the client CA is fixed when the server listens; only key and cert can change');
    const m = tlsMaterial(options);
    this._native.setCertificate({ key: m.key, cert: m.cert, passphrase: m.passphrase });
    return this;
  }

  /**
   * Stops accepting, ends open streams (their 'close' fires) after `final_event` if
   * given, lets in-flight requests finish for up to `timeout` ms (default 5000), drops
   * what remains, then resolves. Safe to call twice.
   */
  close(options) {
    if (this._closing) return this._closing;
    const timeout = typeof options === 'object' && options && options.timeout !== undefined ? options.timeout : 5000;
    const last = typeof options === 'object' && options ? options.final_event : undefined;
    const finalEvent = last === undefined || last === null ? undefined : toNativeEvent(last);
    this._closing = new Promise((resolve) => {
      this._resolveClosed = resolve;
    });
    if (this._port === undefined) {
      // Never listened: nothing to drain, and no wake-up from Rust would keep Node alive.
      this._onClosed();
    } else {
      this._native.close(Math.max(0, Math.min(Number(timeout) || 0, 0xffffffff)), finalEvent);
    }
    return this._closing;
  }

  /**
   * HyperExpress's graceful shutdown: stops accepting (requests arriving meanwhile are
   * refused), lets requests in flight finish, ends open streams, then resolves true;
   * false if the server was not listening.
   */
  shutdown() {
    if (this._port === undefined) return Promise.resolve(false);
    return this.close().then(() => true);
  }

  // -- registration ----------------------------------------------------------

  _apply(record, prefix) {
    if (record.kind === 'route') {
      const id = this._routes.length;
      const pattern = joinPath(prefix, record.pattern);
      // The route's body limit (its option, else the server's). HyperExpress answers
      // 413 itself, before the handler, for a declared body over it; Express apps
      // leave limits to their body parsers.
      const maxBody = this._expressDefaults ? Infinity : (record.options && record.options.max_body_length) ?? this._maxBody;
      const paramNames = this._native.addRoute(record.method, pattern, id, maxBody);
      const route = {
        order: this._nextOrder++,
        method: record.method,
        pattern,
        handler: record.handler,
        options: record.options,
        maxBody,
        middlewares: record.middlewares,
        paramNames: paramNames.length ? paramNames : NO_NAMES,
      };
      this._routes.push(route);
      const key = record.method === 'DELETE' ? 'del' : record.method.toLowerCase();
      (this.routes[key] ??= {})[pattern] = route;
    } else if (record.kind === 'use') {
      // As in HyperExpress, a use() in a router at any depth is a server-wide
      // middleware on the joined path: it runs for every request under that path,
      // routed or not (catch-all, not found).
      this._middlewares.push({ order: this._nextOrder++, path: joinPath(prefix, record.path), fn: record.fn });
      this._native.setDispatchUnmatched(true);
    } else if (record.kind === 'mount') {
      const at = joinPath(prefix, record.path);
      record.router._subscribe((r) => this._apply(r, at));
    }
  }

  // -- the JS half of the crossing -----------------------------------------

  /** One wake-up from Rust: every event queued since the last one. */
  _onBatch(batch) {
    this._inBatch = true;
    try {
      this._runBatch(batch);
    } finally {
      this._inBatch = false;
      // Everything the handlers wrote goes to the sockets in one wake-up.
      this._native.releaseWakes();
    }
  }

  /**
   * Called before a stream write. Outside an event batch (a timer's fan-out loop, a
   * promise), writes are held and go to the runtime together: every WRITES_PER_WAKE
   * writes (so it starts writing while a long loop goes on: lower latency for the
   * last clients) and when the turn's microtasks run. Waking it on every write would
   * cost a wake-up each; holding a 1000-client loop to its end delays them all.
   */
  _holdWrites() {
    if (this._inBatch) return;
    if (this._holding) {
      if (++this._heldWrites >= WRITES_PER_WAKE) {
        this._heldWrites = 0;
        this._native.releaseWakes();
        this._native.holdWakes();
      }
      return;
    }
    this._heldWrites = 0;
    this._holding = true;
    this._native.holdWakes();
    queueMicrotask(this._releaseHeld);
  }

  // [numbers, text, buffers]: the layout is described in src/bridge/events.rs.
  _runBatch(batch) {
    const nums = batch[0];
    const text = batch[1];
    const buffers = batch[2];
    let at = 0;
    for (let i = 0; i < nums.length; ) {
      const kind = nums[i];
      const id = nums[i + 1];
      try {
        switch (kind) {
          case EV_REQUEST: {
            let method = nums[i + 3];
            if (method < METHOD_OTHER) method = METHODS[method];
            else {
              method = text.slice(at, (at += method - METHOD_OTHER));
            }
            const url = text.slice(at, (at += nums[i + 4]));
            const route = nums[i + 2];
            const n = nums[i + 5];
            let params;
            if (n > 0) {
              params = new Array(n);
              for (let p = 0; p < n; p++) params[p] = text.slice(at, (at += nums[i + STRIDE + p]));
              i += n;
            }
            this._onRequest(id, route, method, url, params);
            break;
          }
          case EV_CLOSE: {
            const res = this._live.get(id);
            if (res !== undefined) res._close(nums[i + 2] === 1);
            break;
          }
          case EV_BODY: {
            const index = nums[i + 2];
            if (index >= 0) this._onBody(id, buffers[index]);
            else this._onBody(id, undefined, nums[i + 3], text.slice(at, (at += nums[i + 4])));
            break;
          }
          case EV_CLOSED:
            this._onClosed();
            break;
          case EV_DRAIN: {
            const res = this._live.get(id);
            if (res !== undefined) res.emit('drain');
            break;
          }
          case EV_CHUNK: {
            const what = nums[i + 2];
            const message = what === CHUNK_ERROR ? text.slice(at, (at += nums[i + 4])) : undefined;
            const req = this._bodyStreams.get(id);
            if (req === undefined) break;
            if (what >= 0) req._onChunk(buffers[what]);
            else {
              this._bodyStreams.delete(id);
              if (what === CHUNK_END) req._onChunk(null);
              else if (what === CHUNK_ABORTED) req._onBodyAborted();
              else req._onBodyError(httpError(nums[i + 3], message));
            }
            break;
          }
          case EV_MISSING_HOST:
            this.hosts._missing(text.slice(at, (at += nums[i + 2])));
            break;
        }
      } catch (err) {
        // A throwing event listener is the user's bug: surface it as Node would,
        // without dropping the rest of the batch.
        process.nextTick(() => {
          throw err;
        });
      }
      i += STRIDE;
    }
  }

  _onRequest(id, routeId, method, url, params) {
    const route = routeId === UNMATCHED ? undefined : this._routes[routeId];
    const req = new Request(this, id, method, url, route ? route.paramNames : NO_NAMES, params);
    req._route = route;
    const res = new Response(this, id, req);
    req.res = res;
    const handler = route ? route.handler : this._notFoundHandler || defaultNotFound;
    const chain = this._middlewares.length ? this._chainFor(route, req.path) : route ? route.middlewares : NO_NAMES;
    if (chain.length === 0) this._invoke(handler, req, res);
    else this._runChain(chain, handler, req, res);
  }

  /**
   * The middlewares for a request: the global ones under its path, with the route's
   * own in registration order among them.
   */
  _chainFor(route, path) {
    const chain = [];
    let own = route && route.middlewares.length ? route.middlewares : undefined;
    for (const m of this._middlewares) {
      if (own !== undefined && m.order > route.order) {
        for (const fn of own) chain.push(fn);
        own = undefined;
      }
      if (underPath(m.path, path)) chain.push(m.fn);
    }
    if (own !== undefined) for (const fn of own) chain.push(fn);
    return chain;
  }

  _invoke(handler, req, res) {
    try {
      const out = handler(req, res);
      if (out && typeof out.then === 'function') out.then(undefined, (err) => this._handleError(req, res, err));
    } catch (err) {
      this._handleError(req, res, err);
    }
  }

  _runChain(chain, handler, req, res) {
    let i = 0;
    // As in HyperExpress: next(anError) goes to the error handler, next(anythingElse) continues.
    const next = (err) => {
      if (err instanceof Error) return this._handleError(req, res, err);
      if (res.completed) return;
      if (i >= chain.length) return this._invoke(handler, req, res);
      const mw = chain[i++];
      let called = false;
      const once = (e) => {
        // As in HyperExpress: a middleware goes on once. An async one that calls next()
        // and also resolves would run the rest of the chain twice: an error instead.
        if (called) return this._handleError(req, res, new Error(DOUBLE_NEXT));
        called = true;
        next(e);
      };
      try {
        const out = mw(req, res, once);
        if (out && typeof out.then === 'function') {
          // An async middleware continues the chain when it resolves; resolving to an
          // Error or rejecting goes to the error handler.
          out.then(once, (e) => this._handleError(req, res, e));
        }
      } catch (e) {
        this._handleError(req, res, e);
      }
    };
    next();
  }

  _handleError(req, res, err) {
    err = asError(err);
    if (res.completed) return;
    if (this._errorHandler) {
      try {
        const out = this._errorHandler(req, res, err);
        if (out && typeof out.then === 'function') out.then(undefined, (e) => defaultError(req, res, e));
        return;
      } catch (e) {
        err = asError(e);
      }
    }
    defaultError(req, res, err);
  }

  /** The whole body of request `id` (at most `limit` bytes); `res` gets HyperExpress's 413. */
  _readBody(id, limit = this._maxBody, res = undefined) {
    const pending = this._bodies.get(id);
    if (pending) return pending.promise;
    if (!this._native.readBody(id, limit)) return Promise.resolve(Buffer.alloc(0));
    let resolve, reject;
    const promise = new Promise((a, b) => {
      resolve = a;
      reject = b;
    });
    this._bodies.set(id, { promise, resolve, reject, res });
    return promise;
  }

  _onBody(id, buffer, status, message) {
    const pending = this._bodies.get(id);
    if (!pending) return;
    this._bodies.delete(id);
    if (buffer !== undefined) pending.resolve(buffer);
    else {
      if (status === 413) this._tooLarge(pending.res);
      pending.reject(httpError(status, message));
    }
  }

  /** HyperExpress answers a body over the limit with 413 itself (Express: the error handler does). */
  _tooLarge(res) {
    if (!this._expressDefaults && res !== undefined && !res.initiated) res.status(413).send();
  }

  _onClosed() {
    if (this._closed) return;
    this._closed = true;
    // Streams still marked live (a close event lost to a forced shutdown) end here.
    for (const res of [...this._live.values()]) res._close(!res.completed);
    this._native.release();
    LISTENING.delete(this);
    if (this._resolveClosed) this._resolveClosed();
  }
}

/** Servers between listen() and the end of close(): held here so they live on unreferenced. */
const LISTENING = new Set();

/**
 * The native server's callback. Rust holds it strongly (a threadsafe function), so it
 * reaches the Server only through a WeakRef, made here, outside the constructor, so no
 * shared closure context holds `this`: a server that is not listening can be collected.
 */
function batchReceiver(ref) {
  return (batch) => {
    const server = ref.deref();
    if (server !== undefined) server._onBatch(batch);
  };
}

/** { id, event, data, retry } from JS -> the native event shape (data as a string). */
function toNativeEvent(e) {
  if (typeof e !== 'object') e = { data: e };
  const data = typeof e.data === 'string' ? e.data : Buffer.isBuffer(e.data) ? e.data.toString('utf8') : e.data === undefined ? '' : JSON.stringify(e.data);
  return { id: e.id === undefined || e.id === null ? undefined : String(e.id), event: e.event === undefined || e.event === null ? undefined : String(e.event), data, retry: e.retry };
}

/** A thrown or rejected value as an Error, in HyperExpress's wording (error handlers match on it). */
function asError(e) {
  return e instanceof Error ? e : new Error(`ERR_CAUGHT_NON_ERROR_TYPE: ${e}`);
}

function defaultNotFound(req, res) {
  res.status(404).send();
}

function defaultError(req, res, err) {
  if (res.completed) return;
  const status = Number.isInteger(err.status) && err.status >= 400 && err.status <= 599 ? err.status : 500;
  if (status >= 500) console.error('hyper-sse: uncaught error in a route handler:', err);
  if (res.initiated) {
    // The head is out. An event stream ends cleanly (every event sent still arrives;
    // it is never "complete" anyway); any other body is cut off, since ending it
    // cleanly would pass a broken body off as complete.
    if (res._isEventStream()) res.end();
    else res._abort();
    return;
  }
  // A fresh head: whatever the handler set before failing does not apply to the error.
  res._headers = [];
  res._statusMessage = undefined;
  res._cookies = undefined;
  res.status(status).send(status === 500 ? 'Internal Server Error' : err.message);
}

module.exports = { Server };
