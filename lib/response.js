'use strict';
// The response a handler drives. Nothing crosses to Rust until the head goes out:
// status and headers collect here, then travel with the first write or the body.
//
// Events (HyperExpress order): 'prepare' just before the head is sent (headers still
// mutable), 'finish' once the body is handed over, 'close' last; a client that leaves
// first gives 'abort' then 'close'. Each fires at most once.

const EventEmitter = require('events');
const http = require('http');
const { Readable } = require('stream');
const cookie = require('cookie');
const signature = require('cookie-signature');
const { checkHeader, checkStatus } = require('./errors');
const { SSEventStream } = require('./sse');

const MIME = {
  html: 'text/html; charset=utf-8',
  text: 'text/plain; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  json: 'application/json; charset=utf-8',
  js: 'application/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  xml: 'application/xml',
  bin: 'application/octet-stream',
  'event-stream': 'text/event-stream',
};

const WATCHED = new Set(['close', 'abort', 'finish']);

const { on: emitterOn, once: emitterOnce, prependListener: emitterPrepend, prependOnceListener: emitterPrependOnce } = EventEmitter.prototype;

// An EventEmitter (through Node's ServerResponse prototype, see below) whose listener
// table is made by the first `on`: EventEmitter's constructor would make one per
// response, most of which never get a listener.
class Response {
  constructor(server, id, req) {
    this._events = undefined;
    this._eventsCount = 0;
    this._maxListeners = undefined;
    this._server = server;
    this._id = id;
    this._req = req;
    this._status = 200;
    this._headers = [];
    this._sse = undefined;
    this._watching = false;
    this._closed = false;
    this._finishUnsaid = false;
    this._headWritten = false;
    this.initiated = false;
    this.completed = false;
    this.aborted = false;
    this._locals = undefined;
    this._cookies = undefined;
    this._afterDrain = undefined;
    this._statusMessage = undefined;
  }

  /** The application: the `hyper()` app, or the Server (with its `locals`). */
  get app() {
    return this._req.app;
  }

  /**
   * HyperExpress: `cookie(name, value, [expiry ms], [options], [sign = true])` sets one
   * Set-Cookie per name (the last call wins; `null` deletes it); with `options.secret`
   * the value is signed. Default options: `{ secure: true, sameSite: 'none', path: '/' }`.
   * Express (on a `hyper()` app, or with options as the third argument):
   * `cookie(name, value, [{ maxAge ms, signed, ... }])` appends one, `path` defaulting
   * to '/', objects as `j:` JSON, `signed` with `req.secret` (cookie-parser's).
   */
  cookie(name, value, expiry, options, sign_cookie = true) {
    if (this._server._expressDefaults || (expiry !== null && typeof expiry === 'object')) return this._expressCookie(name, value, expiry);
    if (name && value === null) return this.cookie(name, '', null, { maxAge: 0 });
    options = options ? { ...options } : { secure: true, sameSite: 'none', path: '/' };
    if (typeof expiry === 'number') {
      options.expires = options.expires || new Date(Date.now() + expiry);
      options.maxAge = options.maxAge || Math.round(expiry / 1000);
    }
    if (sign_cookie && typeof options.secret === 'string') {
      // Not URL-encoded: the signature's structure must survive.
      options.encode = String;
      value = signature.sign(String(value), options.secret);
    }
    delete options.secret;
    (this._cookies ??= new Map()).set(name, cookie.serialize(name, String(value), options));
    return this;
  }

  _expressCookie(name, value, options) {
    const opts = { ...options };
    const secret = this._req.secret;
    if (opts.signed && !secret) throw new Error('cookieParser("secret") required for signed cookies');
    let val = typeof value === 'object' && value !== null ? 'j:' + JSON.stringify(value) : String(value);
    if (opts.signed) val = 's:' + signature.sign(val, secret);
    delete opts.signed;
    if (opts.maxAge != null) {
      const maxAge = opts.maxAge - 0;
      if (!Number.isNaN(maxAge)) {
        opts.expires = new Date(Date.now() + maxAge);
        opts.maxAge = Math.floor(maxAge / 1000);
      }
    }
    if (opts.path == null) opts.path = '/';
    return this.header('set-cookie', cookie.serialize(name, val, opts));
  }

  /** Express: deletes a cookie (an expired Set-Cookie for it). */
  clearCookie(name, options) {
    const opts = { path: '/', ...options, expires: new Date(1) };
    delete opts.maxAge;
    return this.header('set-cookie', cookie.serialize(name, '', opts));
  }

  /** Adds `name` to the Vary header. */
  vary(name) {
    const current = this.getHeader('vary');
    const list = current === undefined ? [] : String(current).split(/\s*,\s*/);
    for (const n of Array.isArray(name) ? name : [name]) if (!list.some((v) => v.toLowerCase() === String(n).toLowerCase())) list.push(String(n));
    return this.header('vary', list.join(', '), true);
  }

  /**
   * HyperExpress: hands `error` to the server's error handler (a value that is not an
   * Error arrives as `ERR_CAUGHT_NON_ERROR_TYPE: <value>`).
   */
  throw(error) {
    this._server._handleError(this._req, this, error);
    return this;
  }

  /** Express: per-response data for views and later handlers (made on first use). */
  get locals() {
    return (this._locals ??= {});
  }
  set locals(value) {
    this._locals = value;
  }

  get statusCode() {
    return this._status;
  }
  set statusCode(code) {
    this.status(code);
  }

  /** Sets the status code (100-999); throws on anything else. */
  status(code, message) {
    checkStatus(code);
    this._status = code;
    if (message !== undefined) this.statusMessage = message;
    return this;
  }

  /**
   * Appends a header (an array value appends each item); `overwrite` replaces any
   * earlier value. Throws on a CR/LF/NUL or an invalid name.
   */
  header(name, value, overwrite) {
    if (!Array.isArray(value)) {
      // The common case, one value: no array.
      const v = String(value);
      checkHeader(name, v);
      if (overwrite) this._removeHeader(name.toLowerCase());
      this._headers.push(name, v);
      return this;
    }
    const values = value.map(String);
    // Check everything first: a rejected call changes nothing.
    for (const v of values) checkHeader(name, v);
    if (overwrite) this._removeHeader(name.toLowerCase());
    for (const v of values) this._headers.push(name, v);
    return this;
  }

  /** Sets content-type from a short name or extension ('json', '.html', ...) or a full MIME type. */
  type(mime) {
    const name = String(mime).replace(/^\./, '');
    const value = MIME[name] || (name.includes('/') ? name : require('mime-types').contentType(name) || 'text/plain');
    return this.header('content-type', value, true);
  }

  /**
   * HyperExpress: sends `readable` as the body, with backpressure, and resolves once it
   * is all handed over. With `total_size`, a Content-Length goes out (else chunked).
   */
  async stream(readable, total_size) {
    if (!(readable instanceof Readable)) return this.throw(new Error('HyperExpress: Response.stream(readable, total_size) -> readable must be a Readable stream.'));
    if (this.completed) return;
    if (typeof total_size === 'number') this.header('content-length', String(total_size), true);
    this.once('close', () => readable.destroyed || readable.destroy());
    try {
      for await (const chunk of readable) {
        if (this.completed) break;
        if (this.write(chunk) === false && !this.completed) await new Promise((resolve) => this._onDrainOrClose(resolve));
      }
    } catch (err) {
      return this.throw(err);
    }
    if (!this.completed) this.end();
  }

  /**
   * HyperExpress: sends the file at `path` (content type from its extension unless set),
   * streamed from disk with its Content-Length; `callback` runs once it is handed over.
   */
  file(path, callback) {
    const fs = require('fs');
    fs.stat(path, (err, stat) => {
      if (err) return this.throw(err);
      if (!this._hasHeader('content-type')) this.type(require('path').extname(path) || 'bin');
      this.stream(fs.createReadStream(path), stat.size).then(() => callback && callback());
    });
    return this;
  }

  /**
   * Express: renders view `view` (see App.render) with res.locals and `options`, then
   * sends it; with `callback(err, html)`, hands the result there instead.
   */
  render(view, options, callback) {
    const app = this.app;
    if (typeof app.render !== 'function') throw new TypeError('res.render() needs a hyper() app (with a view engine)');
    if (typeof options === 'function') [callback, options] = [options, {}];
    const opts = { ...options, _locals: this.locals };
    app.render(view, opts, callback || ((err, html) => (err ? this._req.next(err) : this.send(html))));
  }

  /**
   * Express: sends the file at `path` (absolute, or under `options.root`) with the
   * `send` module: ETag, Last-Modified, 304, Range, HEAD. `callback(err)` once done;
   * without one, errors go to next().
   */
  sendFile(path, options, callback) {
    if (typeof options === 'function') [callback, options] = [options, {}];
    if (!path || typeof path !== 'string') throw new TypeError('path must be a string to res.sendFile');
    const opts = { ...options };
    if (!opts.root && !require('path').isAbsolute(path)) throw new TypeError('path must be absolute or specify root to res.sendFile');
    if (opts.etag === undefined) opts.etag = this.app.settings?.etag !== false;
    const file = require('send')(this._req, encodeURI(path), opts);
    let over = false;
    const done = (err) => {
      if (over) return;
      over = true;
      if (callback) return callback(err);
      if (err && err.code === 'EISDIR') return this._req.next?.();
      if (err && err.code !== 'ECONNABORTED') (this._req.next ? this._req.next(err) : this.throw(err));
    };
    file.on('error', done);
    file.on('end', () => done());
    file.on('directory', () => {
      const err = new Error('EISDIR, read');
      err.code = 'EISDIR';
      done(err);
    });
    if (opts.headers) file.on('headers', () => this.set(opts.headers));
    this.once('close', () => {
      // A 304, a HEAD or an error page ends without the file's 'end'.
      if (over || !this.aborted) return done();
      const err = new Error('Request aborted');
      err.code = 'ECONNABORTED';
      done(err);
    });
    file.pipe(this);
    return this;
  }

  /** Content-Disposition: attachment (with the file's name, and its content type). */
  attachment(path, name) {
    if (path === undefined || path === null) return this.header('content-disposition', 'attachment', true);
    const fileName = name || require('path').basename(path);
    this.header('content-disposition', `attachment; filename="${fileName.replace(/["\\\r\n]/g, '_')}"`, true);
    return this.type(require('path').extname(fileName) || 'bin');
  }

  /** HyperExpress: attachment() plus file(): the browser saves the file as `filename`. */
  download(path, filename) {
    return this.attachment(path, filename).file(path);
  }

  /** Sends the whole response. Returns this. */
  send(body) {
    if (this.completed) return this;
    if (this.initiated) {
      this.end(body);
      return this;
    }
    if (body !== undefined && body !== null && typeof body !== 'string') {
      if (ArrayBuffer.isView(body)) body = ownBytes(body);
      else if (typeof body === 'object') return this.json(body);
      else body = String(body);
    }
    if (this._server._expressDefaults && body !== undefined && body !== null && !this._hasHeader('content-type')) {
      // A constant name and value: nothing to check.
      this._headers.push('content-type', typeof body === 'string' ? MIME.html : 'application/octet-stream');
    }
    // Through end(), as Express's send: middleware that wraps res.end (compression,
    // sessions) sees every response.
    this.end(body);
    return this;
  }

  /** The whole response in one native call: head and body (`body` a string, Buffer or undefined). */
  _respond(body) {
    this._prepare();
    // Throws (leaving the response untouched) if Rust refuses the head.
    // Checked names and values hold no line feed: one joined string crosses cheaply
    // (with the item count, so Rust can tell if one did).
    const h = this._headers;
    const ok = this._server._calls.respond(this._id, this._status, h.length === 0 ? '' : h.join('\n'), body, h.length);
    this.initiated = true;
    this.completed = true;
    if (ok) {
      emitSafely(this, 'finish', this._req, this);
      this._close(false);
    } else {
      this._close(true);
    }
    return this;
  }

  json(body) {
    if (!this._hasHeader('content-type')) this._headers.push('content-type', MIME.json);
    return this.send(JSON.stringify(body));
  }

  html(body) {
    if (!this._hasHeader('content-type')) this._headers.push('content-type', MIME.html);
    return this.send(body);
  }

  /** redirect(url) or Express's redirect(status, url). */
  redirect(status, url) {
    if (url === undefined) url = status;
    else this.status(status);
    if (this._status < 300 || this._status > 399) this._status = 302;
    this._removeHeader('location');
    this.header('location', url);
    return this.send();
  }

  /** Streams a chunk, sending the head first if needed. False once the client is gone. */
  write(chunk, encoding, callback) {
    if (typeof encoding === 'function') callback = encoding;
    if (this.completed) {
      if (typeof callback === 'function') process.nextTick(callback, new Error(this.aborted ? 'client disconnected' : 'write after end'));
      return false;
    }
    if (!this.initiated && !this._startStream(false)) return false;
    this._server._holdWrites();
    // true: queued below the high-water mark; false: queued, wait for 'drain';
    // undefined: the client is gone.
    const ok = chunk === undefined || chunk === null ? true : this._server._calls.write(this._id, toChunk(chunk, encoding));
    if (typeof callback === 'function') {
      if (ok === undefined) process.nextTick(callback, new Error('client disconnected'));
      // Backpressure is not an error: the callback runs once the backlog drains, and
      // callbacks keep the order of their writes.
      else if (this._afterDrain !== undefined) this._afterDrain.push(callback);
      else if (ok === false) this._holdUntilDrain(callback);
      else process.nextTick(callback);
    }
    return ok === true;
  }

  /** Calls `fn` once, at the next 'drain' or 'close', leaving no listener behind. */
  _onDrainOrClose(fn) {
    const done = () => {
      this.removeListener('drain', done);
      this.removeListener('close', done);
      fn();
    };
    this.on('drain', done);
    this.on('close', done);
  }

  /** An SSE stream (res.sse, or a text/event-stream head of the handler's). */
  _isEventStream() {
    if (this._sse !== undefined && this._sse !== null && this._sse._open) return true;
    return /^text\/event-stream/i.test(String(this.getHeader('content-type') || ''));
  }

  /** Cuts the response off (its connection is closed): a body the client must not take as complete. */
  _abort() {
    if (this.completed) return;
    this.completed = true;
    this._server._native.abortResponse(this._id);
  }

  /** Holds write callbacks (this one and later ones) until a drain comes, or the response closes. */
  _holdUntilDrain(callback) {
    this._afterDrain = [callback];
    this._onDrainOrClose(() => {
      const callbacks = this._afterDrain;
      this._afterDrain = undefined;
      const err = this.aborted ? new Error('client disconnected') : undefined;
      for (const cb of callbacks) cb(err);
    });
  }

  /** Ends the response, after `chunk` if given; `callback` runs once it finished. */
  end(chunk, encoding, callback) {
    if (typeof chunk === 'function') [callback, chunk, encoding] = [chunk, undefined, undefined];
    else if (typeof encoding === 'function') [callback, encoding] = [encoding, undefined];
    if (typeof callback === 'function') this.once('finish', () => callback());
    if (this.completed) return this;
    if (!this.initiated) return this._respond(chunk === undefined || chunk === null ? undefined : toChunk(chunk, encoding));
    this.completed = true;
    const ok = this._server._calls.endStream(this._id, chunk === undefined || chunk === null ? undefined : toChunk(chunk, encoding));
    if (ok) emitSafely(this, 'finish', this._req, this);
    // Already over: whole (its Content-Length reached) or cut off; 'close' tells which.
    else this._finishUnsaid = true;
    // 'close' comes from Rust once the last byte is out (or the client left).
    return this;
  }

  /**
   * HyperExpress's Server-Sent Events stream (cached). GET requests, and HEAD (which
   * falls back to the GET route): there `open()` sends the head alone and the stream
   * is over at once, so sends return false and 'close' follows.
   */
  get sse() {
    if (this._sse === undefined) {
      const m = this._req.method;
      this._sse = m === 'GET' || m === 'HEAD' ? new SSEventStream(this) : null;
    }
    return this._sse === null ? undefined : this._sse;
  }
  set sse(value) {
    // A library may put its own `sse` here (as on Node's response): it shadows ours.
    Object.defineProperty(this, 'sse', { value, writable: true, configurable: true, enumerable: true });
  }

  /** HyperExpress runs `callback` at once: there is no cork to batch here. */
  atomic(callback) {
    callback();
    return this;
  }

  on(event, listener) {
    return this._listen(emitterOn, event, listener);
  }
  once(event, listener) {
    return this._listen(emitterOnce, event, listener);
  }
  addListener(event, listener) {
    return this._listen(emitterOn, event, listener);
  }
  prependListener(event, listener) {
    return this._listen(emitterPrepend, event, listener);
  }
  prependOnceListener(event, listener) {
    return this._listen(emitterPrependOnce, event, listener);
  }

  _listen(add, event, listener) {
    if (WATCHED.has(event)) {
      // Over already (a handler that listens after send(), or whose client left before
      // it ran): the listener for how it ended runs next tick, as Node's late events
      // would reach it, instead of never (a cleanup that never runs leaks its timer).
      if (this._closed) {
        if (event === 'close' || (event === 'abort') === this.aborted) process.nextTick(() => listener.call(this, this._req, this));
        return this;
      }
      this._watch();
    }
    return add.call(this, event, listener);
  }

  // -- Node / Express names ---------------------------------------------------

  /** Node: replaces a header (an array value sets several). */
  setHeader(name, value) {
    return this.header(name, value, true);
  }

  /** Node: a header's value by case-insensitive name (an array if set several times). */
  getHeader(name) {
    const lower = String(name).toLowerCase();
    const values = [];
    for (let i = 0; i < this._headers.length; i += 2) {
      if (this._headers[i].toLowerCase() === lower) values.push(this._headers[i + 1]);
    }
    return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
  }

  getHeaders() {
    const out = Object.create(null);
    for (let i = 0; i < this._headers.length; i += 2) {
      const name = this._headers[i].toLowerCase();
      out[name] = out[name] === undefined ? this._headers[i + 1] : [].concat(out[name], this._headers[i + 1]);
    }
    return out;
  }

  getHeaderNames() {
    return Object.keys(this.getHeaders());
  }

  hasHeader(name) {
    return this._hasHeader(String(name).toLowerCase());
  }

  removeHeader(name) {
    this._removeHeader(String(name).toLowerCase());
    return this;
  }

  /** Express: set(field, value) replaces; set({ field: value, ... }) sets each. */
  set(field, value) {
    if (field && typeof field === 'object') {
      for (const [k, v] of Object.entries(field)) this.setHeader(k, v);
      return this;
    }
    return this.setHeader(field, value);
  }

  /** Express: append(field, value) adds a value. */
  append(field, value) {
    return this.header(field, value);
  }

  /**
   * Node: writeHead(status, [message], [headers]). The head goes out with the first
   * write (or flushHeaders()); end() without writes sends a complete response.
   */
  writeHead(status, message, headers) {
    if (typeof message !== 'string') [headers, message] = [message, undefined];
    if (this.initiated) return this;
    this.status(status, message);
    if (Array.isArray(headers)) {
      // Either [[name, value], ...] or Node's flat [name, value, name, value].
      if (Array.isArray(headers[0])) for (const [k, v] of headers) this.setHeader(k, v);
      else for (let i = 0; i < headers.length; i += 2) this.setHeader(headers[i], headers[i + 1]);
    } else if (headers) {
      for (const [k, v] of Object.entries(headers)) if (v !== undefined) this.setHeader(k, v);
    }
    this._headWritten = true;
    return this;
  }

  /** Node: sends the head now (what SSE code calls before its first event). */
  flushHeaders() {
    if (!this.initiated && !this.completed) this._startStream(false);
  }

  /** Express: status plus the status text as the body. */
  sendStatus(code) {
    this.status(code);
    if (!this._hasHeader('content-type')) this.header('content-type', MIME.text);
    return this.send(require('http').STATUS_CODES[code] || String(code));
  }

  /** Express: sets the Location header. */
  location(url) {
    return this.setHeader('location', url);
  }

  /** Node: true once the head is sent (or fixed by writeHead). */
  get headersSent() {
    return this.initiated || this._headWritten === true;
  }

  /** Node: true once end() was called (or the client left). */
  get writableEnded() {
    return this.completed;
  }

  get writableFinished() {
    return this.completed && !this.aborted;
  }

  /** The status line's reason phrase: the one set (it goes on the wire), else the code's. */
  get statusMessage() {
    return this._statusMessage ?? (require('http').STATUS_CODES[this._status] || '');
  }
  set statusMessage(message) {
    const text = String(message);
    // What a status line may hold: tab, space, visible ASCII, and bytes past 0x7f.
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(text)) {
      const err = new TypeError(`Invalid status message ${JSON.stringify(text)}: control characters are not allowed`);
      err.code = 'ERR_INVALID_CHAR';
      throw err;
    }
    this._statusMessage = text;
  }

  /** Node: the request this response answers. */
  get req() {
    return this._req;
  }

  // -- the rest of Node's ServerResponse --------------------------------------
  // Middleware written for Node's response reads these. The I/O behind them is in
  // Rust, so none of them may reach Node's own implementations (which expect a socket).

  /** Node: runs writeHead with the status set (what end() and write() do before the head). */
  _implicitHeader() {
    this.writeHead(this._status);
  }

  /** Node: the head as text once it is fixed, else null (middleware tests it for truth). */
  get _header() {
    if (!this.headersSent) return null;
    let head = `HTTP/1.1 ${this._status} ${this.statusMessage}\r\n`;
    for (let i = 0; i < this._headers.length; i += 2) head += `${this._headers[i]}: ${this._headers[i + 1]}\r\n`;
    return head + '\r\n';
  }

  /** Node: true once end() was called (or the client left). */
  get finished() {
    return this.completed;
  }

  /** Node: the request's socket (see Request.socket). */
  get socket() {
    return this._req.socket;
  }
  get connection() {
    return this._req.socket;
  }

  get closed() {
    return this._closed;
  }
  get errored() {
    return null;
  }
  get writableLength() {
    return 0;
  }
  get writableHighWaterMark() {
    return 16 * 1024;
  }
  get writableCorked() {
    return 0;
  }
  get writableObjectMode() {
    return false;
  }
  get writable() {
    return !this.completed;
  }
  get writableNeedDrain() {
    return this._afterDrain !== undefined;
  }

  /** Node: writes in one event-loop turn already go out together (see Server._holdWrites). */
  cork() {}
  uncork() {}

  /** Node: streams are never timed out here; accepted and ignored. */
  setTimeout(msecs, callback) {
    if (typeof callback === 'function') this.once('timeout', callback);
    return this;
  }

  /** Node: cuts the response off (its connection is closed); 'close' follows. */
  destroy() {
    this._req.socket.destroy();
    return this;
  }

  /** Node 20: sets every header of a Headers or Map. */
  setHeaders(headers) {
    for (const [name, value] of headers) this.setHeader(name, value);
    return this;
  }
  appendHeader(name, value) {
    return this.header(name, value);
  }
  getRawHeaderNames() {
    const names = [];
    for (let i = 0; i < this._headers.length; i += 2) if (!names.includes(this._headers[i])) names.push(this._headers[i]);
    return names;
  }

  /** HTTP/1.1 trailers are not sent: accepted and ignored. */
  addTrailers() {}
  /** hyper answers `Expect: 100-continue` itself when the body is read. */
  writeContinue() {}
  writeProcessing() {}
  writeEarlyHints() {}
  assignSocket() {}
  detachSocket() {}

  // -- internals -------------------------------------------------------------

  _prepare(nativeEvents = false) {
    // A wrapped writeHead (on-headers: sessions, compression) runs before the head goes
    // out, as Node's _implicitHeader runs it. Not for res.sse and channels: their
    // events are encoded in Rust, past any wrapper of write(), so a hook such as
    // compression's must not announce an encoding those bytes never get.
    if (!nativeEvents && this._headWritten === false && this.writeHead !== Response.prototype.writeHead) this._implicitHeader();
    if (this.listenerCount('prepare') > 0) this.emit('prepare', this._req, this);
    if (this._cookies !== undefined) {
      for (const line of this._cookies.values()) this._headers.push('set-cookie', line);
      this._cookies = undefined;
    }
    // Rust reads it out of the headers (src/http/head.rs): no header can have this name.
    if (this._statusMessage !== undefined) this._headers.push(':reason', this._statusMessage);
  }

  /** Sends the head with a streaming body (`sse` adds the event-stream headers). */
  _startStream(sse) {
    this._prepare(sse);
    // Throws (leaving the response untouched) if Rust refuses the head.
    const ok = this._server._native.startStream(this._id, this._status, this._headers, sse);
    this.initiated = true;
    this._watching = true;
    this._server._live.set(this._id, this);
    if (!ok) {
      this.completed = true;
      this._close(true);
      return false;
    }
    return true;
  }

  /** Asks Rust for a close event; if the exchange is already over, the client left. */
  _watch() {
    if (this._watching || this._closed) return;
    this._watching = true;
    // Whoever waits for the end (a logger at 'finish') may read the request's headers
    // then, after Rust has let go of them.
    if (this._req._headers === undefined) this._req.headers;
    if (this._server._native.watch(this._id)) {
      this._server._live.set(this._id, this);
    } else if (!this.completed) {
      this.completed = true;
      this.aborted = true;
      process.nextTick(() => this._close(true));
    }
  }

  /** The end of the exchange, exactly once: 'abort' (client left) then 'close'. */
  _close(aborted) {
    if (this._closed) return;
    this._closed = true;
    this._server._live.delete(this._id);
    if (aborted) {
      this.aborted = true;
      this.completed = true;
      emitSafely(this, 'abort', this._req, this);
    } else if (!this.completed || this._finishUnsaid) {
      // The response ended whole before end() was called (its Content-Length was
      // reached, a HEAD reply, the server closing): it finished all the same.
      this.completed = true;
      emitSafely(this, 'finish', this._req, this);
    }
    emitSafely(this, 'close', this._req, this);
    this._req._exchangeClosed(aborted);
  }

  _hasHeader(name) {
    for (let i = 0; i < this._headers.length; i += 2) {
      if (this._headers[i].toLowerCase() === name) return true;
    }
    return false;
  }

  _removeHeader(name) {
    for (let i = this._headers.length - 2; i >= 0; i -= 2) {
      if (this._headers[i].toLowerCase() === name) this._headers.splice(i, 2);
    }
  }
}

/**
 * Emits `event`; a listener that throws does not stop the steps after this one (the
 * other events, the request's close): the error surfaces next tick, uncaught, as an
 * error thrown from Node's own late 'finish'/'close' would.
 */
function emitSafely(emitter, event, a, b) {
  try {
    emitter.emit(event, a, b);
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

/**
 * A Buffer over the view's bytes. Bytes in a SharedArrayBuffer are copied here, in JS:
 * another thread may write them while Rust reads, which Rust must never do.
 */
function ownBytes(view) {
  if (view.buffer instanceof SharedArrayBuffer) return Buffer.from(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  return Buffer.isBuffer(view) ? view : Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

function toChunk(chunk, encoding) {
  if (typeof chunk === 'string') {
    return encoding && encoding !== 'utf8' && encoding !== 'utf-8' ? Buffer.from(chunk, encoding) : chunk;
  }
  if (ArrayBuffer.isView(chunk)) return ownBytes(chunk);
  return String(chunk);
}

Response.prototype.writeHeader = Response.prototype.writeHead;

// `res instanceof http.ServerResponse` holds (SSE and middleware libraries check it):
// the prototype chain is Node's, every method that would do I/O is overridden above,
// and Node's constructor never runs.
Object.setPrototypeOf(Response.prototype, http.ServerResponse.prototype);
Object.setPrototypeOf(Response, http.ServerResponse);
// Node's prototype has deprecated accessors under these names; ours are plain fields.
for (const name of ['_headers', '_headerNames']) {
  Object.defineProperty(Response.prototype, name, { value: undefined, writable: true, configurable: true });
}
for (const name of ['_send', '_writeRaw', '_finish', '_flush', '_flushOutput', '_storeHeader', '_renderHeaders']) {
  Object.defineProperty(Response.prototype, name, { value: undefined, writable: true, configurable: true });
}

module.exports = { Response, MIME };
