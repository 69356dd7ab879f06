'use strict';
// HyperExpress's `server.hosts`: a certificate per host name (TLS SNI). A handshake
// that names a registered host gets that host's certificate, `*.example.com` covers
// one label under example.com, and any other name gets the server's own. Rust picks
// the certificate (src/server/tls.rs); this keeps the names and emits 'missing'.

const EventEmitter = require('events');
const { tlsMaterial } = require('./tls');

class HostManager extends EventEmitter {
  #native;
  #tls;
  #hosts = Object.create(null);

  constructor(native, tls) {
    super();
    this.#native = native;
    this.#tls = tls;
    // Rust reports unknown names only while someone listens for them.
    this.on('newListener', (name) => {
      if (name === 'missing' && this.listenerCount('missing') === 0) native.reportMissingServerNames(true);
    });
    this.on('removeListener', (name) => {
      if (name === 'missing' && this.listenerCount('missing') === 0) native.reportMissingServerNames(false);
    });
  }

  /**
   * Registers the certificate handshakes asking for `hostname` get (key_file_name and
   * cert_file_name, or key and cert, and passphrase). Takes effect for new connections,
   * before or after listen(). Throws, changing nothing, if the material is unusable.
   */
  add(hostname, options) {
    checkName(hostname, 'add');
    if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new TypeError('hosts.add(hostname, options) needs an options object');
    if (!this.#tls) throw new Error('hosts.add: host certificates need a TLS server (give key and cert to new Server())');
    if (options.ca != null || options.ca_file_name != null) throw new Error('hosts.add: client certificates (ca, ca_file_name) are set for the whole server, not per host');
    const m = tlsMaterial(options);
    this.#native.addServerName(hostname, { key: m.key, cert: m.cert, passphrase: m.passphrase });
    this.#hosts[hostKey(hostname)] = { ...options };
    return this;
  }

  /** Forgets `hostname`: new handshakes for it get the server's own certificate. */
  remove(hostname) {
    checkName(hostname, 'remove');
    this.#native.removeServerName(hostname);
    delete this.#hosts[hostKey(hostname)];
    return this;
  }

  /** The registered host names (lower case, no trailing dot, as SNI matches them) and the options each was added with. */
  get registered() {
    return this.#hosts;
  }

  /** @private A handshake asked for a name with no certificate of its own. */
  _missing(hostname) {
    this.emit('missing', hostname);
  }
}

/** A host name as SNI matches it (src/server/tls.rs host_key). */
function hostKey(hostname) {
  return hostname.replace(/\.$/, '').toLowerCase();
}

function checkName(hostname, method) {
  if (typeof hostname !== 'string' || !hostname.length || hostname.includes('\0')) throw new TypeError(`hosts.${method}() needs a non-empty host name string`);
}

module.exports = { HostManager };
