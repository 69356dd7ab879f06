'use strict';
// Checks on values from user code, so a bad value fails loudly at the call that set it.
// Rust checks again before anything reaches the wire.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CTL = /[\r\n\0]/;

function invalid(message, code) {
  const err = new TypeError(message);
  err.code = code;
  return err;
}

function checkHeader(name, value) {
  if (typeof name !== 'string' || !TOKEN.test(name)) {
    throw invalid(`Invalid header name: ${JSON.stringify(name)}`, 'ERR_INVALID_HTTP_TOKEN');
  }
  if (CTL.test(value)) {
    throw invalid(`Invalid value for header "${name}": CR, LF and NUL are not allowed`, 'ERR_INVALID_CHAR');
  }
}

function checkStatus(code) {
  if (!Number.isInteger(code) || code < 100 || code > 999) {
    const err = new RangeError(`Invalid status code: ${code} (expected an integer from 100 to 999)`);
    err.code = 'ERR_HTTP_INVALID_STATUS_CODE';
    throw err;
  }
}

/** An error that carries the HTTP status it should produce (e.g. 413 for a large body). */
function httpError(status, message) {
  const err = new Error(message);
  err.status = status;
  err.statusCode = status;
  return err;
}

module.exports = { checkHeader, checkStatus, httpError };
