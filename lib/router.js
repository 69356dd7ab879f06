'use strict';
// Route and middleware registration (HyperExpress's Router). A Router only records
// what is registered; a Server applies records to the native route table, and a
// mounted Router forwards its records (now and later) to where it is mounted.

const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options', 'trace', 'connect'];

class Router {
  constructor() {
    this._records = [];
    this._mounts = [];
  }

  /** `use([path], ...middlewares | Router)`: middleware for every route under `path`. */
  use(...args) {
    let path = '/';
    if (typeof args[0] === 'string') path = args.shift();
    for (const item of args.flat()) {
      if (item instanceof Router) {
        this._add({ kind: 'mount', path, router: item });
      } else if (typeof item === 'function') {
        this._add({ kind: 'use', path, fn: item });
      } else if (item && typeof item.middleware === 'function') {
        this._add({ kind: 'use', path, fn: item.middleware.bind(item) });
      } else {
        throw new TypeError(`use() takes middleware functions or Routers, got ${typeof item}`);
      }
    }
    return this;
  }

  /** `route(pattern)` returns a chainable object with the method functions for that pattern. */
  route(pattern) {
    const chain = {};
    for (const m of [...METHODS, 'any', 'all']) {
      chain[m] = (...args) => {
        this[m](pattern, ...args);
        return chain;
      };
    }
    return chain;
  }

  _route(method, pattern, args) {
    if (typeof pattern !== 'string') throw new TypeError('A route pattern must be a string starting with "/"');
    // HyperExpress takes '*' (and '*rest') as '/*'.
    if (pattern[0] === '*') pattern = '/' + pattern;
    const middlewares = [];
    let options = {};
    for (const a of args.flat()) {
      if (typeof a === 'function') middlewares.push(a);
      else if (a && typeof a === 'object') {
        options = a;
        if (Array.isArray(a.middlewares)) middlewares.push(...a.middlewares);
      } else throw new TypeError(`${method}(${pattern}): expected middleware or handler functions`);
    }
    const handler = middlewares.pop();
    if (!handler) throw new TypeError(`${method}(${pattern}) needs a handler function`);
    this._add({ kind: 'route', method, pattern, middlewares, handler, options });
    return this;
  }

  _add(record) {
    this._records.push(record);
    // Every place this router is mounted gets the record, even if one refuses it.
    let failure;
    for (const forward of this._mounts) {
      try {
        forward(record);
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure) throw failure;
  }

  /** Replays every record, present and future, into `forward`. */
  _subscribe(forward) {
    for (const r of this._records) forward(r);
    this._mounts.push(forward);
  }
}

for (const m of METHODS) {
  Router.prototype[m] = function (pattern, ...args) {
    return this._route(m.toUpperCase(), pattern, args);
  };
}
Router.prototype.any = function (pattern, ...args) {
  return this._route('ANY', pattern, args);
};
Router.prototype.all = Router.prototype.any;
Router.prototype.del = Router.prototype.delete;

/** Joins a mount prefix and a pattern: ('/api', '/x') -> '/api/x'. */
function joinPath(prefix, pattern) {
  if (prefix === '/' || prefix === '') return pattern;
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return pattern === '/' ? p : p + pattern;
}

/** Prefix match for middleware paths: '/api' matches '/api' and '/api/...', not '/apix'. */
function underPath(prefix, path) {
  if (prefix === '/' || prefix === '') return true;
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === p || (path.startsWith(p) && path.charCodeAt(p.length) === 47);
}

/**
 * Express's mount matching: how many characters of `path` the mount path `prefix`
 * covers ('/u/:id' covers '/u/42' of '/u/42/x'; a parameter is one non-empty
 * segment), or -1 if `path` is not under it.
 */
function mountMatch(prefix, path) {
  if (prefix === '/' || prefix === '') return 0;
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (!p.includes(':')) return underPath(p, path) ? p.length : -1;
  const want = p.split('/');
  let at = 0;
  for (let k = 1; k < want.length; k++) {
    if (path.charCodeAt(at) !== 47) return -1;
    let end = path.indexOf('/', at + 1);
    if (end === -1) end = path.length;
    const segment = path.slice(at + 1, end);
    if (want[k][0] === ':' ? segment === '' : segment !== want[k]) return -1;
    at = end;
  }
  return at;
}

module.exports = { Router, METHODS, joinPath, underPath, mountMatch };
