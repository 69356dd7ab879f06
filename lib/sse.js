'use strict';
// HyperExpress's `res.sse`. Events are encoded in Rust (src/sse/encode.rs), which
// splits multi-line data and strips CR/LF/NUL from `id` and `event`.

class SSEventStream {
  constructor(res) {
    this._res = res;
    this._open = false;
  }

  /** Sends the head with the event-stream headers at once. False if already sent. */
  open() {
    const res = this._res;
    if (this._open || res.initiated) return false;
    const ok = res._startStream(true);
    this._open = true;
    // HEAD: the head is the whole response; later sends report nothing sent.
    if (res._req.method === 'HEAD') res.end();
    return ok;
  }

  /**
   * send(data) | send(event, data) | send(id, event, data). The overload is chosen by
   * argument count, so '' and 0 are kept; null/undefined leave a field out.
   * Opens the stream if needed. False once the client is gone.
   */
  send(a, b, c) {
    // The fan-out hot path: no closures, no arrays, one native call.
    if (!this._ready()) return false;
    const res = this._res;
    res._server._holdWrites();
    const n = arguments.length;
    if (n >= 3) return res._server._calls.sseSend(res._id, toData(c), field(b), field(a));
    if (n === 2) return res._server._calls.sseSend(res._id, toData(b), field(a));
    return res._server._calls.sseSend(res._id, toData(a));
  }

  /** Sends a comment line (ignored by clients; keeps the connection alive). */
  comment(text) {
    if (!this._ready()) return false;
    this._res._server._holdWrites();
    return this._res._server._calls.sseComment(this._res._id, text === undefined || text === null ? '' : String(text));
  }

  /** Sets the client's reconnection delay in milliseconds. */
  retry(ms) {
    if (!Number.isInteger(ms) || ms < 0 || ms > 0xffffffff) throw new RangeError(`Invalid retry: ${ms} (expected a non-negative integer of milliseconds)`);
    if (!this._ready()) return false;
    return this._res._server._native.sseRetry(this._res._id, ms);
  }

  /**
   * Writes a keep-alive comment whenever the stream has been idle for `ms` (a Rust
   * timer, no JS timer per client); 0 turns it off. Opens the stream if needed.
   */
  heartbeat(ms) {
    if (!Number.isInteger(ms) || ms < 0 || ms > 0xffffffff) throw new RangeError(`Invalid heartbeat: ${ms} (expected a non-negative integer of milliseconds)`);
    if (!this._ready()) return false;
    return this._res._server._native.setHeartbeat(this._res._id, ms);
  }

  /** The Last-Event-ID the client sent when it (re)connected, or undefined. */
  get last_event_id() {
    return this._res._req.get('last-event-id');
  }

  /** Ends the stream. */
  close() {
    const res = this._res;
    if (res.completed) return false;
    if (!this._open) this.open();
    res.end();
    return true;
  }

  /** True while events can still reach the client. */
  get active() {
    const res = this._res;
    return this._open && !res.completed && !res.aborted;
  }

  /** True if the stream is open (opening it if needed) and not over. */
  _ready() {
    if (this._res.completed) return false;
    return this._open || this.open();
  }
}

function field(v) {
  return v === undefined || v === null ? undefined : String(v);
}

function toData(v) {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return '';
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

module.exports = { SSEventStream };
