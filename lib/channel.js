'use strict';
// Channels: one publish reaches every subscribed stream. Encoding and fan-out happen
// in Rust (src/broadcast/channel.rs): one call per publish, whatever the subscriber count.

const { NativeChannel, NativeBroker } = require('./native');

// One broker per Redis database per process, shared by its channels: redis://h:p,
// redis://h:p/ and redis://h:p/0 name one (a broker is a thread and two connections).
const BROKERS = new Map();
function brokerFor(url) {
  const key = sameDatabase(url);
  let b = BROKERS.get(key);
  if (!b) BROKERS.set(key, (b = new Broker(url)));
  return b;
}
function sameDatabase(url) {
  try {
    const u = new URL(url);
    if ((u.protocol === 'redis:' || u.protocol === 'rediss:') && (u.pathname === '' || u.pathname === '/')) u.pathname = '/0';
    return u.href;
  } catch {
    return url; // not a URL: the broker refuses it with its own message
  }
}

/**
 * A NativeBroker and the publishes waiting for Redis: each is numbered here, and Rust
 * reports how they ended, a round trip's worth per call (no threadsafe function per
 * publish). While any is pending the broker keeps Node alive, so an awaited publish
 * always settles.
 */
class Broker {
  constructor(url) {
    this._pending = new Map();
    this._seq = 0;
    this._native = new NativeBroker(url, (results) => this._settle(results));
  }

  publish(name, event, data, retry, history) {
    const seq = ++this._seq;
    return new Promise((resolve, reject) => {
      if (this._pending.size === 0) this._native.keepAlive(true);
      this._pending.set(seq, { resolve, reject });
      this._native.publish(seq, name, event, data, retry, history);
    });
  }

  _settle(results) {
    for (const r of results) {
      const p = this._pending.get(r.seq);
      if (p === undefined) continue;
      this._pending.delete(r.seq);
      if (r.id !== undefined && r.id !== null) p.resolve(r.id);
      else p.reject(new Error(r.error));
    }
    if (this._pending.size === 0) this._native.keepAlive(false);
  }

  attach(name, channel) {
    this._native.attach(name, channel);
  }

  detach(name, channel) {
    this._native.detach(name, channel);
  }

  subscribe(name, channel, server, id, lastEventId, history) {
    return this._native.subscribe(name, channel, server, id, lastEventId, history);
  }
}

class Channel {
  /**
   * @param {object} [options]
   * @param {number} [options.history] events kept for Last-Event-ID replay (default 0)
   * @param {number} [options.retry] `retry:` hint (ms) sent to each new subscriber
   */
  constructor(options = {}) {
    const history = options.history ?? 0;
    if (!Number.isInteger(history) || history < 0) throw new RangeError(`Channel history must be a non-negative integer, got ${history}`);
    if (options.retry !== undefined && (!Number.isInteger(options.retry) || options.retry < 0)) throw new RangeError(`Channel retry must be a non-negative integer of ms, got ${options.retry}`);
    this._native = new NativeChannel({ history, retry: options.retry });
    this.name = options.name;
    this._history = history;
    /** A Redis URL: events published in any process reach subscribers in every one. */
    this._broker = undefined;
    if (options.broker) {
      if (typeof this.name !== 'string' || this.name === '') throw new TypeError('a channel shared through a broker needs a name');
      this._broker = brokerFor(String(options.broker));
      this._broker.attach(this.name, this._native);
    }
  }

  /**
   * Puts an open SSE response into the channel (opening its stream if needed). Events
   * after `last_event_id` (default: the request's Last-Event-ID header) still in the
   * history are replayed first. Returns the number replayed, or -1 if the client is gone.
   * On a channel shared through a broker, an id the local history does not hold is
   * looked up in Redis: 0 is returned and the missed events (or an `event: gap` notice
   * when some are gone) follow, before any live event.
   */
  subscribe(res, last_event_id) {
    res = responseOf(res);
    if (!res.initiated) {
      if (res.sse) res.sse.open();
      else res._startStream(true);
    }
    if (last_event_id === undefined) last_event_id = res._req.get('last-event-id');
    // Shared: what the local history lacks comes from Redis (or a gap notice), then live.
    if (this._broker && last_event_id !== undefined && !this._closed) return this._broker.subscribe(this.name, this._native, res._server._native, res._id, String(last_event_id), this._history);
    return this._native.subscribe(res._server._native, res._id, last_event_id === undefined ? undefined : String(last_event_id));
  }

  unsubscribe(res) {
    res = responseOf(res);
    return this._native.unsubscribe(res._server._native, res._id);
  }

  /**
   * publish(data) or publish({ id, event, data, retry }). `data` may be a string, a
   * Buffer or any JSON value (serialised once). Returns how many subscribers got it.
   */
  publish(message) {
    let id, event, data, retry;
    if (message !== null && typeof message === 'object' && !Buffer.isBuffer(message) && 'data' in message) {
      ({ id, event, data, retry } = message);
    } else {
      data = message;
    }
    if (retry !== undefined && (!Number.isInteger(retry) || retry < 0)) throw new RangeError(`retry must be a non-negative integer of ms, got ${retry}`);
    if (typeof data !== 'string' && !Buffer.isBuffer(data)) data = data === undefined ? '' : JSON.stringify(data);
    // Rust must not read memory another thread may be writing: decode shared bytes here.
    else if (typeof data !== 'string' && data.buffer instanceof SharedArrayBuffer) data = data.toString('utf8');
    if (this._broker) {
      if (this._closed) return Promise.reject(new Error('publish failed: the channel is closed'));
      // Through Redis: every process (this one too) delivers it from its subscription.
      // Resolves with the event's id ("epoch-offset") once Redis has it and this
      // process's subscribers have it queued (the caller's code runs after that fan-out).
      if (id !== undefined && id !== null) return Promise.reject(new TypeError('a channel shared through a broker numbers its events itself: publish without an id'));
      return this._broker.publish(this.name, event === undefined || event === null ? undefined : String(event), typeof data === 'string' ? data : data.toString('utf8'), retry, Math.max(this._history, 1));
    }
    const d = this._native.publish(id === undefined || id === null ? undefined : String(id), event === undefined || event === null ? undefined : String(event), data, retry);
    return d.queued;
  }

  /** Live subscribers. */
  get size() {
    return this._native.size;
  }

  /** Forgets all subscribers and refuses further publishes; their streams stay open. */
  close() {
    this._closed = true;
    if (this._broker) this._broker.detach(this.name, this._native);
    this._native.close();
  }
}

function responseOf(x) {
  if (x && x._res && x._res._server) return x._res; // res.sse
  if (x && x._server && typeof x._id === 'number') return x;
  throw new TypeError('subscribe() expects a response (res) or its res.sse stream');
}

module.exports = { Channel };
