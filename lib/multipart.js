'use strict';
// HyperExpress's `req.multipart([options], handler)`: the body, as it streams from Rust,
// parsed by busboy; `handler(field)` runs for each field in order, and one that returns
// a promise holds the next field (and the body's reading) until it settles. Loaded on
// first use: most servers never parse multipart.

const { Readable } = require('stream');
const fs = require('fs');
const busboy = require('busboy');

/** One form field: a value, or a file (`file.stream`, a Readable of its bytes). */
class MultipartField {
  constructor(name, value, info) {
    this.name = name;
    this.encoding = info.encoding;
    this.mime_type = info.mimeType;
    if (value instanceof Readable) {
      this.file = { name: info.filename, stream: value };
      this.value = undefined;
      this.truncated = undefined;
    } else {
      this.file = undefined;
      this.value = value;
      this.truncated = { name: info.nameTruncated, value: info.valueTruncated };
    }
  }

  /** Writes a file field to `path`; resolves once it is on disk. */
  write(path, options) {
    if (this.file === undefined) throw new Error('MultipartField.write(path, options) -> only a file field can be written.');
    return new Promise((resolve, reject) => {
      const out = fs.createWriteStream(path, options);
      out.on('close', resolve);
      out.on('error', reject);
      this.file.stream.pipe(out);
    });
  }
}

// What HyperExpress rejects with when a busboy limit is reached.
const LIMITS = { partsLimit: 'PARTS_LIMIT_REACHED', filesLimit: 'FILES_LIMIT_REACHED', fieldsLimit: 'FIELDS_LIMIT_REACHED' };

/** Parses `req`'s multipart body; resolves when every field was handled. */
function multipart(req, options, handler) {
  if (typeof options === 'function') [handler, options] = [options, {}];
  if (typeof handler !== 'function') throw new TypeError('Request.multipart(handler) -> handler must be a Function.');
  options = { ...options };
  if (!options.headers) options.headers = req.headers;
  if (!/^multipart\/.+;/i.test(req.headers['content-type'] || '') || req.readableEnded) return Promise.resolve();

  return new Promise((resolve, reject) => {
    const parser = busboy(options);
    let pending = Promise.resolve();
    let done = false;
    const finish = (error) => {
      if (done) return;
      done = true;
      // A client that stops mid-form is not the handler's error (as HyperExpress).
      if (error !== undefined && !(error instanceof Error && error.message === 'Unexpected end of form')) reject(error);
      else pending.then(() => resolve(), reject);
      req.unpipe(parser);
      req.resume(); // the rest of the body is read and dropped
      parser.destroy();
    };
    const onField = (name, value, info) => {
      if (value instanceof Readable) value.once('error', finish);
      const field = new MultipartField(name, value, info);
      // In order: a field waits for the handler of the one before it.
      pending = pending.then(async () => {
        if (done) return;
        await handler(field);
        // A file the handler did not read is drained, so the form goes on.
        if (field.file && !field.file.stream.readableEnded) field.file.stream.resume();
      });
      pending.catch(finish);
      // While a handler is busy, stop reading the body (busboy buffers the rest).
      req.pause();
      pending.then(() => done || req.resume(), () => {});
    };
    parser.on('field', onField);
    parser.on('file', onField);
    parser.once('error', finish);
    for (const [event, code] of Object.entries(LIMITS)) parser.once(event, () => finish(code));
    parser.once('close', () => pending.then(() => finish(), finish));
    req.once('error', finish);
    req.pipe(parser);
  });
}

module.exports = { multipart, MultipartField };
