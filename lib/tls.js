'use strict';
// TLS options, in HyperExpress's names (key_file_name, cert_file_name, passphrase,
// ca_file_name) and Node's (key, cert, ca: PEM strings or Buffers), turned into the
// PEM bytes Rust builds its rustls config from (src/server/tls.rs). Half a config is
// an error, never plaintext.

const fs = require('fs');

/** True if `options` asks for TLS at all. */
function wantsTls(options) {
  return ['key', 'cert', 'key_file_name', 'cert_file_name'].some((k) => options[k] !== undefined && options[k] !== null);
}

/** The native TLS material for `options` (throws a clear Error on anything missing or unreadable). */
function tlsMaterial(options) {
  const key = pem(options, 'key', 'key_file_name');
  const cert = pem(options, 'cert', 'cert_file_name');
  if (!key || !cert) throw new Error(`TLS needs both a key and a certificate: ${key ? 'cert (or cert_file_name)' : 'key (or key_file_name)'} is missing`);
  const ca = pem(options, 'ca', 'ca_file_name');
  const passphrase = options.passphrase === undefined || options.passphrase === null ? undefined : String(options.passphrase);
  return { key, cert, ca, passphrase };
}

function pem(options, inline, file) {
  const value = options[inline];
  if (value !== undefined && value !== null) {
    if (typeof value === 'string') return Buffer.from(value);
    if (Buffer.isBuffer(value)) return value;
    if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    throw new TypeError(`${inline} must be PEM text (a string or a Buffer)`);
  }
  const name = options[file];
  if (name === undefined || name === null || name === '') return undefined;
  try {
    return fs.readFileSync(name);
  } catch (e) {
    throw new Error(`cannot read ${file} ${JSON.stringify(String(name))}: ${e.message}`);
  }
}

module.exports = { wantsTls, tlsMaterial };
