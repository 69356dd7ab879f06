'use strict';
// The request a handler sees: fields are read from Rust only when first asked for,
// then cached (most handlers never look at most of them).

const EventEmitter = require('events');
const http = require('http');
const querystring = require('querystring');
const { Readable } = require('stream');
const cookie = require('cookie');
const signature = require('cookie-signature');
const { httpError } = require('./errors');

const NO_PARAMS = Object.freeze({});
// Bytes Rust streams ahead of what the body stream has taken (src/http/request_stream.rs).
const BODY_WINDOW = 256 * 1024;

class Request {
  constructor(server, id, method, url, paramNames, paramValues) {
    this._server = server;
    this._id = id;
    this.method = method;
    this.url = url;
    /** Express: the URL as received (`url` loses a mount path inside mounted middleware). */
    this.originalUrl = url;
    this._pathOf = undefined;
    this._paramNames = paramNames;
    this._paramValues = paramValues;
    this._path = undefined;
    this._params = undefined;
    this._query = undefined;
    this._headers = undefined;
    this._ip = undefined;
    this._body = undefined;
    this._socket = undefined;
    this.res = undefined;
    this._locals = undefined;
    this._cookies = undefined;
    this._route = undefined;
    this._streaming = undefined;
    /** Set by body parsers such as `hyper.json()`. */
    this.body = undefined;
    this.baseUrl = '';
    this.aborted = false;
    this._complete = undefined;
    this._httpVersion = undefined;
  }

  /** HyperExpress: per-request data for later middleware and handlers (made on first use). */
  get locals() {
    return (this._locals ??= {});
  }
  set locals(value) {
    this._locals = value;
  }

  /** The application: the `hyper()` app, or the Server (with its `locals`). */
  get app() {
    return this._server._mountTarget || this._server;
  }

  /** HyperExpress: the request's cookies, parsed from its Cookie header. */
  get cookies() {
    if (this._cookies === undefined) {
      const header = this.get('cookie');
      this._cookies = header ? cookie.parse(header) : {};
    }
    return this._cookies;
  }
  set cookies(value) {
    // cookie-parser assigns its own parse.
    this._cookies = value;
  }

  /** HyperExpress: `value` signed with `secret` (cookie-signature, as Express signs cookies). */
  sign(value, secret) {
    return signature.sign(value, secret);
  }

  /** HyperExpress: the value inside `signed` if its signature holds for `secret`, else undefined. */
  unsign(signed, secret) {
    const value = signature.unsign(signed, secret);
    return value === false ? undefined : value;
  }

  /** HyperExpress: the address a PROXY protocol header gave; none here, so ''. */
  get proxy_ip() {
    return '';
  }

  /** Express: the Host header without its port. */
  get hostname() {
    const host = this.get('host');
    if (!host) return undefined;
    return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
  }

  get protocol() {
    return this._server._tls ? 'https' : 'http';
  }

  get secure() {
    return this._server._tls;
  }

  /**
   * Node's `req.socket` / `req.connection`, as SSE code uses it: the timeouts and
   * socket options it sets are managed in Rust (streams are never timed out), so
   * these are accepted and do nothing.
   */
  get socket() {
    if (this._socket === undefined) this._socket = new ExchangeSocket(this);
    return this._socket;
  }
  set socket(value) {
    this._socket = value;
  }
  get connection() {
    return this.socket;
  }
  set connection(value) {
    this._socket = value;
  }

  /** The URL's path (of `url` as it is now: mounted middleware sees it without the mount path). */
  get path() {
    if (this._pathOf !== this.url) {
      const url = this.url;
      const q = url.indexOf('?');
      this._path = q === -1 ? url : url.slice(0, q);
      this._pathOf = url;
    }
    return this._path;
  }

  /** The query string, without the leading '?'. */
  get path_query() {
    const q = this.url.indexOf('?');
    return q === -1 ? '' : this.url.slice(q + 1);
  }

  /** Query parameters; a repeated key gives an array. */
  get query() {
    if (this._query === undefined || this._queryOf !== this.url) {
      this._query = querystring.parse(this.path_query);
      this._queryOf = this.url;
    }
    return this._query;
  }
  get query_parameters() {
    return this.query;
  }

  get params() {
    if (this._params === undefined) {
      const names = this._paramNames;
      const values = this._paramValues;
      if (!values || names.length === 0) {
        this._params = NO_PARAMS;
      } else {
        const out = {};
        for (let i = 0; i < names.length; i++) {
          if (names[i] !== '*') out[names[i]] = decode(values[i]);
        }
        this._params = out;
      }
    }
    return this._params;
  }
  set params(v) {
    this._params = v;
  }
  get path_parameters() {
    return this.params;
  }

  /** Request headers, names lower-case; repeated headers joined with ', '. */
  get headers() {
    if (this._headers === undefined) {
      const text = this._server._calls.requestHeaders(this._id);
      const flat = text === '' ? [] : text.split('\n');
      const out = {};
      for (let i = 0; i < flat.length; i += 2) {
        const name = flat[i];
        const prev = out[name];
        if (prev === undefined) out[name] = flat[i + 1];
        else if (name === 'set-cookie') out[name] = [].concat(prev, flat[i + 1]);
        else out[name] = prev + ', ' + flat[i + 1];
      }
      this._headers = out;
    }
    return this._headers;
  }
  set headers(value) {
    this._headers = value;
  }

  /** One header's value by case-insensitive name. */
  get(name) {
    const lower = String(name).toLowerCase();
    if (lower === 'referer' || lower === 'referrer') return this._header('referer') || this._header('referrer');
    return this._header(lower);
  }

  // One header from Rust, unless the whole set is already here (set-cookie is an array).
  _header(lower) {
    if (this._headers !== undefined || lower === 'set-cookie') return this.headers[lower];
    return this._server._calls.requestHeader(this._id, lower);
  }
  header(name) {
    return this.get(name);
  }

  get ip() {
    if (this._ip === undefined) this._ip = this._server._native.remoteAddress(this._id);
    return this._ip;
  }

  /** The body limit: the route's (see Server._apply), else the server's. */
  get _maxBody() {
    if (this._route !== undefined) return this._route.maxBody;
    return this._server._expressDefaults ? Infinity : this._server._maxBody;
  }

  /** The whole body as a Buffer, read in Rust up to `max_body_length`. */
  buffer() {
    if (this._body === undefined) {
      this._body = this._server._readBody(this._id, this._maxBody, this.res);
      this._body.then(() => (this._complete = true), () => {});
    }
    return this._body;
  }

  /**
   * HyperExpress: parses a multipart/form-data body as it arrives; `handler(field)` runs
   * per field, in order (a promise it returns holds the next one). Resolves when all
   * fields were handled; nothing to do for another content type.
   */
  multipart(options, handler) {
    return require('./multipart').multipart(this, options, handler);
  }

  // -- the body as a stream.Readable ------------------------------------------
  // Made a Readable on first use (the state is set up then: most requests never
  // stream their body). Chunks come from Rust as they arrive; while this stream's
  // buffer is full, Rust stops reading the body, so the client's sends stall.

  /** Readable: asks Rust for the body at first, and to go on after a pause. */
  _read() {
    if (this._streaming === undefined) return this._startBodyStream();
    if (this._streaming === 'paused') {
      this._streaming = 'flowing';
      this._unacked = 0;
      this._server._native.pauseBody(this._id, false);
    }
  }

  _startBodyStream() {
    const server = this._server;
    // Read whole already (req.buffer()), or read early under an open stream (mode 2):
    // the stream gives that.
    const mode = this._body !== undefined ? 2 : server._native.streamBody(this._id, this._maxBody);
    if (mode === 1) {
      this._streaming = 'flowing';
      this._unacked = 0;
      server._bodyStreams.set(this._id, this);
    } else if (mode === 2) {
      this._streaming = 'whole';
      this.buffer().then((b) => (b.length && this.push(b), this.push(null)), (e) => this._onBodyError(e));
    } else {
      this._streaming = 'ended';
      this.push(null);
    }
  }

  /**
   * A chunk from Rust (null: the end). Rust sends at most BODY_WINDOW bytes ahead of
   * what this stream has taken; taking them (a push below the high-water mark) grants
   * the next window, a full buffer pauses the read until _read() asks again.
   */
  _onChunk(chunk) {
    if (chunk === null) {
      this._streaming = 'ended';
      this._complete = true;
      this.push(null);
      return;
    }
    this._unacked += chunk.length;
    if (!this.push(chunk)) {
      if (this._streaming === 'flowing') {
        this._streaming = 'paused';
        this._server._native.pauseBody(this._id, true);
      }
    } else if (this._unacked >= BODY_WINDOW / 2 && this._streaming === 'flowing') {
      this._unacked = 0;
      this._server._native.pauseBody(this._id, false);
    }
  }

  /** The client left (or the exchange ended) before the body was all read. */
  _onBodyAborted() {
    this._streaming = 'ended';
    if (!this.aborted) {
      this.aborted = true;
      this.emit('aborted');
    }
    const err = new Error('aborted');
    err.code = 'ECONNRESET';
    // As Node's IncomingMessage: an error only for whoever listens for one.
    this.destroy(this.listenerCount('error') > 0 ? err : undefined);
  }

  _onBodyError(err) {
    this._streaming = 'ended';
    // Destroyed first: a reader waiting on this stream (for await, pipeline) then sees
    // this error, not a premature close, when the 413 below closes the response.
    this.destroy(this.listenerCount('error') > 0 ? err : undefined);
    if (err.status === 413) this._server._tooLarge(this.res);
  }

  async text() {
    return (await this.buffer()).toString('utf8');
  }

  /**
   * The body parsed as JSON. An empty or malformed body gives `default_value` (as in
   * HyperExpress); with a falsy `default_value` it rejects with a 400 error instead.
   */
  async json(default_value = {}) {
    const text = await this.text();
    try {
      return JSON.parse(text);
    } catch (e) {
      if (default_value) return default_value;
      throw httpError(400, `Malformed JSON body: ${e.message}`);
    }
  }

  /** The body parsed as application/x-www-form-urlencoded. */
  async urlencoded() {
    return querystring.parse(await this.text());
  }

  /**
   * 'close' (and 'aborted' first, if the client left before the response was over)
   * come when the exchange ends, as Node's request's do: listening asks Rust to say
   * when. Other events are the body stream's ('data', 'end', 'error', ...).
   */
  on(event, listener) {
    return this._listen('on', event, listener);
  }
  addListener(event, listener) {
    return this._listen('on', event, listener);
  }
  once(event, listener) {
    return this._listen('once', event, listener);
  }

  prependListener(event, listener) {
    return this._listen('prependListener', event, listener);
  }
  prependOnceListener(event, listener) {
    return this._listen('prependOnceListener', event, listener);
  }

  _listen(how, event, listener) {
    if ((event === 'close' || event === 'aborted') && this.res) {
      // Over already: as the response's late listeners (Response._listen).
      if (this.res._closed) {
        if (event === 'close' || this.aborted) process.nextTick(() => listener.call(this));
        return this;
      }
      this.res._watch();
    }
    return Readable.prototype[how].call(this, event, listener);
  }

  /** The exchange is over (from the response's close): 'aborted' if the client left, then 'close'. */
  _exchangeClosed(aborted) {
    if (this._socket !== undefined) this._socket._exchangeClosed();
    // Never listened to (the Readable side was never set up): nothing to say.
    if (this._events === undefined) return;
    try {
      if (aborted && !this.aborted) {
        this.aborted = true;
        this.emit('aborted');
      }
    } finally {
      this.emit('close');
    }
  }

  // -- the rest of Node's IncomingMessage -------------------------------------

  /** Node: true once the whole body has arrived (at once for a request without one). */
  get complete() {
    if (this._complete === undefined) this._complete = !this._hasBody();
    return this._complete;
  }
  set complete(value) {
    this._complete = value;
  }

  _hasBody() {
    if (this._header('transfer-encoding') !== undefined) return true;
    const length = this._header('content-length');
    return length !== undefined && Number(length) > 0;
  }

  /** "1.1", "1.0" or "2.0". */
  get httpVersion() {
    if (this._httpVersion === undefined) this._httpVersion = this._server._native.httpVersion(this._id) || '1.1';
    return this._httpVersion;
  }
  get httpVersionMajor() {
    return Number(this.httpVersion[0]);
  }
  get httpVersionMinor() {
    return Number(this.httpVersion[2]);
  }

  /** Node: names and values as received, flat. */
  get rawHeaders() {
    const text = this._server._calls.requestHeaders(this._id);
    return text === '' ? [] : text.split('\n');
  }
  set rawHeaders(value) {
    ownValue(this, 'rawHeaders', value);
  }
  set httpVersion(value) {
    ownValue(this, 'httpVersion', value);
  }
  get headersDistinct() {
    const out = Object.create(null);
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) (out[raw[i]] ??= []).push(raw[i + 1]);
    return out;
  }
  get trailers() {
    return {};
  }
  get trailersDistinct() {
    return {};
  }
  get rawTrailers() {
    return [];
  }
  get upgrade() {
    return false;
  }

  /** Node: timeouts of request sockets are managed in Rust; accepted and ignored. */
  setTimeout(msecs, callback) {
    if (typeof callback === 'function') this.once('timeout', callback);
    return this;
  }

  /** Readable: destroying the request stops reading it (the exchange goes on). */
  _destroy(err, callback) {
    if (this._streaming === 'flowing' || this._streaming === 'paused') {
      this._streaming = 'ended';
      this._server._bodyStreams.delete(this._id);
    }
    // As Node's request: an error only for whoever listens for one (never a crash).
    callback(err && this.listenerCount('error') > 0 ? err : undefined);
  }
}

// A Request is a stream.Readable (instanceof, pipe, for await) and, by its prototype
// chain, an http.IncomingMessage (Node's constructor never runs: every method of its
// that would touch a socket is overridden above). The Readable state is set up lazily,
// the first time a stream method reads it.
Object.setPrototypeOf(Request.prototype, http.IncomingMessage.prototype);
Object.setPrototypeOf(Request, http.IncomingMessage);
Object.defineProperty(Request.prototype, '_readableState', {
  configurable: true,
  get() {
    // The Readable constructor assigns this._readableState (the setter below makes it
    // an own property) and sets up the EventEmitter side, keeping listeners added so far.
    Readable.call(this, READABLE_OPTIONS);
    return this._readableState;
  },
  set(value) {
    Object.defineProperty(this, '_readableState', { value, writable: true, configurable: true, enumerable: false });
  },
});
// As Node's IncomingMessage: no automatic destroy (and 'close') at the end: a request's
// 'close' is its response's.
const READABLE_OPTIONS = { highWaterMark: 64 * 1024, autoDestroy: false, emitClose: false };

/**
 * Node's `req.socket` as middleware uses it, for one exchange: the peer's address,
 * `readable`/`writable` until the exchange is over, then 'close'; `destroy()` cuts the
 * connection off. Timeouts and socket options are managed in Rust: accepted, ignored.
 */
class ExchangeSocket extends EventEmitter {
  constructor(req) {
    super();
    this._req = req;
    this.remoteAddress = req.ip;
    this.remotePort = req._server._native.remotePort(req._id);
    this.remoteFamily = this.remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
    this._closed = false;
  }
  /** True once the exchange is over (asks Rust to report the end, the first time). */
  get destroyed() {
    const res = this._req.res;
    if (this._closed || !res) return this._closed;
    res._watch();
    return res._closed || res.aborted;
  }
  get readable() {
    return !this.destroyed;
  }
  get writable() {
    return !this.destroyed;
  }
  on(event, listener) {
    return this._listen(EventEmitter.prototype.on, event, listener);
  }
  addListener(event, listener) {
    return this._listen(EventEmitter.prototype.on, event, listener);
  }
  once(event, listener) {
    return this._listen(EventEmitter.prototype.once, event, listener);
  }
  prependListener(event, listener) {
    return this._listen(EventEmitter.prototype.prependListener, event, listener);
  }
  prependOnceListener(event, listener) {
    return this._listen(EventEmitter.prototype.prependOnceListener, event, listener);
  }
  _listen(add, event, listener) {
    if (event === 'close') {
      if (this.destroyed && this._req.res && this._req.res._closed) {
        process.nextTick(() => listener.call(this, false));
        return this;
      }
    }
    return add.call(this, event, listener);
  }
  get localPort() {
    return this._req._server.port;
  }
  get encrypted() {
    return this._req._server._tls || undefined;
  }
  address() {
    const port = this._req._server.port;
    return { address: this._req._server._host || '0.0.0.0', family: this.remoteFamily, port };
  }
  destroy() {
    const res = this._req.res;
    if (res && !res._closed) {
      res._abort();
      process.nextTick(() => res._close(true));
    }
    return this;
  }
  end() {
    return this.destroy();
  }
  setTimeout(msecs, callback) {
    if (typeof callback === 'function') this.once('timeout', callback);
    return this;
  }
  setNoDelay() {
    return this;
  }
  setKeepAlive() {
    return this;
  }
  ref() {
    return this;
  }
  unref() {
    return this;
  }
  cork() {}
  uncork() {}

  _exchangeClosed() {
    if (this._closed) return;
    this._closed = true;
    this.emit('close', false);
  }
}

/** Middleware may assign what Node's request holds as plain fields: the value then stays. */
function ownValue(obj, name, value) {
  Object.defineProperty(obj, name, { value, writable: true, configurable: true, enumerable: true });
}

function decode(value) {
  if (value.indexOf('%') === -1) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

module.exports = { Request };
