// hyper-sse public types: HyperExpress's API (and Express's) over a Rust (tokio + hyper)
// HTTP/SSE server. `require('hyper-sse')` is callable: `hyper()` makes an Express-style app.
/// <reference types="node" />
import { EventEmitter } from 'events';
import { Readable } from 'stream';

/** Express style: `const app = hyper()`. */
declare function hyper(options?: hyper.ServerOptions): hyper.App;
export = hyper;

declare namespace hyper {

export interface ServerOptions {
  /**
   * Largest request body the body readers accept, in bytes; larger gives a 413 error. Default 256000.
   * Also bounds what Rust keeps of a body it reads early, for a response stream opened before the body was read.
   */
  max_body_length?: number;
  /** tokio worker threads serving sockets. Default 1 (the JS thread uses another core). */
  threads?: number;
  /** Requests waiting for JS before new ones are answered 503 at once. Default 65536. */
  max_queued_requests?: number;
  /** Milliseconds a client has to send a complete request head (also the longest a keep-alive connection may sit idle) before it is disconnected. Checked by a sweep: up to a quarter of it, at most 250 ms, late. Default 30000. */
  header_timeout_ms?: number;
  /** Unsent bytes per stream above which `write()`/`sse.send()` return false (a 'drain' follows). Default 65536. */
  stream_high_water_mark?: number;
  /** Unsent bytes per stream past which the slow-client policy applies. Default 1 MiB. */
  stream_max_buffer?: number;
  /** Past `stream_max_buffer`: 'disconnect' the client (default; its 'abort' and 'close' fire) or 'drop' what does not fit. */
  slow_client?: 'disconnect' | 'drop';
  /** Keep-alive comment (`:`) interval for idle SSE streams, in ms, written by Rust timers. Default 0 (off). */
  heartbeat_ms?: number;
  /** Largest request head in bytes (taken between 8192 and 8 MiB); larger gets 431. Default 16384. */
  max_header_size?: number;
  /** Open connections allowed; more are closed at once. Default 100000 (the process file limit usually binds first; running out of descriptors backs off without spinning). */
  max_connections?: number;
  /** A handler that has not started its response by then gets a 503 ('abort' and 'close' fire). 0: never. Default 60000. Checked like header_timeout_ms. Open streams are never timed out. */
  handler_timeout_ms?: number;
  /**
   * HTTPS: the PEM private key file (HyperExpress's name). With a certificate, the server
   * serves TLS only, offering h2 and HTTP/1.1 (ALPN); half a config rejects `listen()`.
   */
  key_file_name?: string;
  /** HTTPS: the PEM certificate chain file. */
  cert_file_name?: string;
  /** HTTPS: the passphrase of an encrypted (PKCS#8) key. */
  passphrase?: string;
  /** HTTPS: clients must present a certificate signed by one of these PEM CAs. */
  ca_file_name?: string;
  /** Node's names: the key, certificate chain and CAs as PEM text. */
  key?: string | Buffer;
  cert?: string | Buffer;
  ca?: string | Buffer;
  /** Redis URL ('redis://host:port/db') every channel of this server is shared through, unless its own `broker` option says otherwise. Type the server as `Server<true>` to get `Channel<true>` from `channel()`. */
  broker?: string;
  /** Bind with SO_REUSEPORT: several processes (node:cluster workers) listen on the identical address and the kernel spreads connections. Default false: a second bind rejects with EADDRINUSE. */
  reuse_port?: boolean;
  /** HyperExpress's name: `exclusive_port: false` is `reuse_port: true`. */
  exclusive_port?: boolean;
  /** Accepted for HyperExpress compatibility and ignored (rustls needs no DH parameters). */
  dh_params_file_name?: string;
  /** Accepted for HyperExpress compatibility and ignored. */
  ssl_prefer_low_memory_usage?: boolean;
}

/** A new key and certificate for `Server.setCertificate` (file names or PEM text). */
export interface CertificateOptions {
  key_file_name?: string;
  cert_file_name?: string;
  passphrase?: string;
  key?: string | Buffer;
  cert?: string | Buffer;
}

/**
 * HyperExpress's `server.hosts`: a certificate per host name (TLS SNI). `*.example.com`
 * covers one label under example.com; other names get the server's own certificate.
 */
export interface HostManager extends EventEmitter {
  /** Registers the certificate for `hostname` (new handshakes; before or after listen). Throws, changing nothing, if unusable or the server is not TLS. */
  add(hostname: string, options: CertificateOptions): this;
  /** Forgets `hostname`: new handshakes for it get the server's certificate. */
  remove(hostname: string): this;
  /** The registered names and the options each was added with. */
  readonly registered: Record<string, CertificateOptions>;
  /** A handshake asked for a name with no certificate of its own (it got the server's). */
  on(event: 'missing', listener: (hostname: string) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export interface ServerStats {
  /** Open TCP connections. */
  connections: number;
  /** Requests received. */
  requests: number;
  /** Streaming responses open now. */
  streams: number;
  /** SSE events queued to clients (a channel publish counts once per subscriber). */
  events_sent: number;
  /** Body bytes handed to sockets for streams. */
  bytes_written: number;
  /** Clients disconnected for falling past `stream_max_buffer`. */
  slow_client_disconnects: number;
  /** Events not queued because a client was too far behind (`slow_client: 'drop'`). */
  events_dropped: number;
}

export interface ChannelOptions {
  /** Share the channel across processes through Redis ('redis://host:port/db'): publish() then returns a Promise of the event's id, resolved once Redis has the event and this process's subscribers have it queued. `false`: local only, whatever the server's `broker`. */
  broker?: string | false;
  /** Events kept for Last-Event-ID replay. Default 0. Without given ids, such a channel numbers its events 1, 2, ... */
  history?: number;
  /** `retry:` hint (ms) sent to each new subscriber. */
  retry?: number;
}

export interface ChannelMessage {
  id?: string | number;
  event?: string;
  /** A string, a Buffer, or any JSON value (serialised once). */
  data: unknown;
  retry?: number;
}

/**
 * Publish once, reach every subscriber: the event is encoded once in Rust and the same
 * bytes are queued to each subscribed stream, with no JS per client.
 */
/** A channel; `Channel<true>` is shared through a broker (its publish() is a Promise of the id). */
export class Channel<Shared extends boolean = false> {
  constructor(options?: ChannelOptions & { name?: string });
  readonly name: string | undefined;
  /**
   * Adds an SSE response (HyperExpress `res` or `res.sse`, or an Express-style `res`),
   * opening its stream if needed. Events after `last_event_id` (default: the request's
   * Last-Event-ID header) still in the history are replayed first, in order. Returns
   * how many were replayed, or -1 if the client is gone. Shared through a broker: an id
   * the local history lacks is looked up in Redis (0 is returned; the events, or an
   * `event: gap` notice first when some are gone, follow before any live one).
   */
  subscribe(res: Response | SSEventStream, last_event_id?: string): number;
  unsubscribe(res: Response | SSEventStream): boolean;
  /** Returns how many subscribers the event was queued for; on a channel with a `broker`, a Promise of the event's id instead. */
  publish(message: ChannelMessage | string | Buffer | number | boolean | object): Shared extends true ? Promise<string> : number;
  /** Live subscribers (disconnected ones leave by themselves). */
  readonly size: number;
  /** Forgets every subscriber and refuses further publishes; the streams stay open. */
  close(): void;
}

export interface CloseOptions {
  /** Milliseconds in-flight requests may take to finish before connections are dropped. Default 5000. */
  timeout?: number;
  /** A last event sent to every open SSE stream before it is ended. */
  final_event?: { id?: string | number; event?: string; data: unknown; retry?: number };
}

/** A route handler; `next` passes control on (Express style) and may be ignored. */
export type Handler = (req: Request, res: Response, next: NextFunction) => unknown;
export type NextFunction = (err?: unknown) => void;
export type Middleware = (req: Request, res: Response, next: NextFunction) => unknown;
export type ErrorHandler = (req: Request, res: Response, err: Error) => unknown;

export interface RouteOptions {
  middlewares?: Middleware[];
  /** This route's body limit (HyperExpress): a declared longer body gets 413 before the handler runs. */
  max_body_length?: number;
}

/** `(pattern, ...middlewares | options, handler)`: the last function is the handler. */
export type RouteArgs = [...middlewares: Array<Middleware | Middleware[] | RouteOptions>, handler: Handler];

export interface RouteChain {
  get(...args: RouteArgs): RouteChain;
  post(...args: RouteArgs): RouteChain;
  put(...args: RouteArgs): RouteChain;
  patch(...args: RouteArgs): RouteChain;
  delete(...args: RouteArgs): RouteChain;
  head(...args: RouteArgs): RouteChain;
  options(...args: RouteArgs): RouteChain;
  any(...args: RouteArgs): RouteChain;
  all(...args: RouteArgs): RouteChain;
}

/** The route-registration methods shared by Server and Router. */
export interface Routes<Self> {
  get(pattern: string, ...args: RouteArgs): Self;
  post(pattern: string, ...args: RouteArgs): Self;
  put(pattern: string, ...args: RouteArgs): Self;
  patch(pattern: string, ...args: RouteArgs): Self;
  delete(pattern: string, ...args: RouteArgs): Self;
  del(pattern: string, ...args: RouteArgs): Self;
  head(pattern: string, ...args: RouteArgs): Self;
  options(pattern: string, ...args: RouteArgs): Self;
  trace(pattern: string, ...args: RouteArgs): Self;
  /** Every method. */
  any(pattern: string, ...args: RouteArgs): Self;
  all(pattern: string, ...args: RouteArgs): Self;
  /** `use([path], ...middlewares | Router)`: `path` matches itself and everything below it. */
  use(...args: Array<string | Middleware | Middleware[] | Router | { middleware: Middleware }>): Self;
  /** Express error middleware, `(err, req, res, next)`. */
  use(...args: Array<string | ErrorMiddleware>): Self;
  route(pattern: string): RouteChain;
}

/**
 * Routes and middleware. Patterns: `/users/:id` (parameters of any name length),
 * `/files/*` (a trailing wildcard). The last function given is the handler.
 * `new Router()` (HyperExpress) and `Router()` (Express) both work.
 */
export interface Router extends Routes<Router> {}
export const Router: { new (): Router; (): Router; readonly prototype: Router };

export class Server<Brokered extends boolean = false> {
  constructor(options?: ServerOptions);
  /** Binds and serves. Resolves with the bound port; rejects with an Error (code EADDRINUSE) when the port is taken. */
  listen(port: number | string, host?: string, callback?: (port: number) => void): Promise<number>;
  listen(port: number | string, callback?: (port: number) => void): Promise<number>;
  /**
   * Stops accepting, ends open SSE streams (their 'close' fires), lets in-flight
   * requests finish, and resolves; the process can then exit on its own. Safe to call twice.
   */
  close(options?: CloseOptions): Promise<void>;
  /** HTTPS: swaps key and certificate for new connections (open ones keep theirs); throws, changing nothing, if unusable. */
  setCertificate(options: CertificateOptions): this;
  /** HTTPS: certificates per host name (SNI), as HyperExpress's `server.hosts`. */
  readonly hosts: HostManager;
  set_error_handler(handler: ErrorHandler): void;
  set_not_found_handler(handler: Handler): void;
  /** The channel called `name`, made on first use with `options` (its `broker`: shared through Redis). */
  channel(name: string, options: ChannelOptions & { broker: string }): Channel<true>;
  channel(name: string, options: ChannelOptions & { broker: false }): Channel;
  /** The channel called `name`, made on first use with `options`; shared through the server's `broker`, if it has one. */
  channel(name: string, options?: ChannelOptions): Channel<Brokered>;
  stats(): ServerStats;
  /**
   * HyperExpress's graceful shutdown: stops accepting (new connections are refused),
   * lets requests in flight finish, ends open streams; true once done, false if the
   * server was not listening.
   */
  shutdown(): Promise<boolean>;
  /** Application-wide values (`req.app.locals`). */
  locals: Record<string, any>;
  /** Routes by method ('any', 'get', 'post', 'del', ...) then pattern, as HyperExpress lists them. */
  readonly routes: Record<string, Record<string, RouteRecord>>;
  /** The bound port once listening. */
  readonly port: number | undefined;
  /** Open TCP connections right now. */
  readonly connections: number;
}
export interface Server extends Routes<Server> {}

/** A registered route (`Server.routes`). */
export interface RouteRecord {
  readonly method: string;
  readonly pattern: string;
  readonly handler: Handler;
  readonly options: RouteOptions;
}

/** One field of a multipart form (`req.multipart`). */
export interface MultipartField {
  readonly name: string;
  readonly encoding: string;
  readonly mime_type: string;
  /** A file field: its name as sent and a Readable of its bytes. */
  readonly file: { name: string | undefined; stream: import('stream').Readable } | undefined;
  /** A plain field's value. */
  readonly value: string | undefined;
  readonly truncated: { name: boolean; value: boolean } | undefined;
  /** Writes a file field to `path`. */
  write(path: string, options?: unknown): Promise<void>;
}

export type MultipartHandler = (field: MultipartField) => void | Promise<void>;

// -- Express style ------------------------------------------------------------

/** Express error middleware: four parameters. */
export type ErrorMiddleware = (err: any, req: Request, res: Response, next: NextFunction) => unknown;
export type ExpressHandler = Middleware | Middleware[];

/** What `app.listen()` returns, like Node's http.Server: 'listening', 'error' and 'close' events. */
export interface ListenHandle extends EventEmitter {
  address(): { address: string; family: string; port: number } | null;
  readonly listening: boolean;
  /** Ends open streams, lets in-flight requests finish, then calls back. */
  close(callback?: () => void): this;
}

/** `hyper()`: an Express-style app over the same native server. */
export interface App {
  get(pattern: string, ...handlers: ExpressHandler[]): this;
  /** `app.get(name)` reads a setting. */
  get(setting: string): unknown;
  post(pattern: string, ...handlers: ExpressHandler[]): this;
  put(pattern: string, ...handlers: ExpressHandler[]): this;
  patch(pattern: string, ...handlers: ExpressHandler[]): this;
  delete(pattern: string, ...handlers: ExpressHandler[]): this;
  head(pattern: string, ...handlers: ExpressHandler[]): this;
  options(pattern: string, ...handlers: ExpressHandler[]): this;
  all(pattern: string, ...handlers: ExpressHandler[]): this;
  use(...args: Array<string | Middleware | Middleware[] | Router>): this;
  use(...args: Array<string | ErrorMiddleware>): this;
  route(pattern: string): Record<'get' | 'post' | 'put' | 'patch' | 'delete' | 'head' | 'options' | 'all', (...handlers: ExpressHandler[]) => unknown>;
  listen(port: number | string, host?: string, callback?: () => void): ListenHandle;
  listen(port: number | string, callback?: () => void): ListenHandle;
  set(name: string, value: unknown): this;
  enable(name: string): this;
  disable(name: string): this;
  enabled(name: string): boolean;
  disabled(name: string): boolean;
  locals: Record<string, unknown>;
  settings: Record<string, unknown>;
  /** Always '/' (apps are not mounted inside apps; mount a Router instead). */
  readonly mountpath: string;
  /** Registers a view engine for files ending in `ext` (otherwise `require(ext).__express`, as Express). */
  engine(ext: string, fn: (path: string, options: Record<string, unknown>, callback: (err: Error | null, html?: string) => void) => void): this;
  /** Renders view `name` (from the 'views' setting, with the 'view engine' extension) with app.locals and `options`. */
  render(name: string, options: Record<string, unknown>, callback: (err: Error | null, html?: string) => void): void;
  render(name: string, callback: (err: Error | null, html?: string) => void): void;
  channel(name: string, options: ChannelOptions & { broker: string }): Channel<true>;
  channel(name: string, options?: ChannelOptions): Channel;
  stats(): ServerStats;
}

export interface BodyParserOptions {
  /** Largest body accepted: bytes, or a string such as '100kb' (default), '1mb'. Larger gives a 413 error. */
  limit?: number | string;
  /** Content types to parse (default: the parser's own), or a predicate. */
  type?: string | string[] | ((req: Request) => boolean);
}

/** Express's `express.json()`: parses JSON bodies into `req.body`; malformed JSON gives a 400 error. */
export function json(options?: BodyParserOptions & { strict?: boolean; reviver?: (key: string, value: unknown) => unknown }): Middleware;
/** Express's `express.urlencoded()`: parses form bodies into `req.body`. */
export function urlencoded(options?: BodyParserOptions & { extended?: boolean }): Middleware;
/** Express's `express.text()`. */
export function text(options?: BodyParserOptions): Middleware;
/** Express's `express.raw()`: the body as a Buffer (default type application/octet-stream). */
export function raw(options?: BodyParserOptions): Middleware;
/** Express's `express.static(root, options)`: serve-static (ETag, 304, Range, HEAD); mount it with `app.use(path, ...)`. */
// A `var` as @types/express declares it: `static` is a reserved word elsewhere.
var static: (root: string, options?: Record<string, unknown>) => Middleware;

export type ParsedQuery = Record<string, string | string[]>;

/**
 * The request: a stream.Readable of its body (chunks streamed from Rust as they arrive,
 * with backpressure back to the socket), plus HyperExpress's and Express's members.
 * At run time `req instanceof http.IncomingMessage` holds too (Node's prototype chain,
 * with every socket-touching method overridden).
 */
export class Request extends Readable {
  /** Upper-case method, e.g. 'GET'. */
  readonly method: string;
  /** Path and query, e.g. '/a/b?x=1'; inside middleware mounted on a path, without that path (Express). */
  url: string;
  /** "1.1", "1.0" or "2.0". */
  readonly httpVersion: string;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  /** Header names and values as received, flat: [name, value, name, value, ...]. */
  readonly rawHeaders: string[];
  /** Express: the next() of the middleware stack running this request (`hyper()` apps). */
  next?: (err?: unknown) => void;
  /** Path without the query (not URL-decoded). */
  readonly path: string;
  /** The query string without '?', or ''. */
  readonly path_query: string;
  /** Parsed query; a repeated key gives an array. */
  readonly query: ParsedQuery;
  readonly query_parameters: ParsedQuery;
  /** Route parameters by name (URL-decoded). */
  params: Record<string, string>;
  readonly path_parameters: Record<string, string>;
  /** Headers with lower-case names; repeated headers are joined with ', '. */
  readonly headers: Record<string, string | string[] | undefined>;
  /** The client's IP address. */
  readonly ip: string;
  readonly res: Response;
  /** Per-request data (made on first use). */
  locals: Record<string, any>;
  /** The application: the Server (or the `hyper()` app). */
  readonly app: { locals: Record<string, any> };
  /** Cookies from the Cookie header. */
  cookies: Record<string, string | undefined>;
  /** `value` signed with `secret` (cookie-signature). */
  sign(value: string, secret: string): string;
  /** The value inside `signed` if its signature holds for `secret`, else undefined. */
  unsign(signed: string, secret: string): string | undefined;
  /** The address a PROXY protocol header gave: always '' here. */
  readonly proxy_ip: string;
  /** True once the whole body was read. */
  complete?: boolean;
  /** The client left before its body was read. */
  aborted?: boolean;
  /** Parses a multipart/form-data body as it arrives (busboy); `handler` runs per field, in order. */
  multipart(handler: MultipartHandler): Promise<void>;
  multipart(options: Record<string, unknown>, handler: MultipartHandler): Promise<void>;
  get(name: string): string | string[] | undefined;
  header(name: string): string | string[] | undefined;
  /** The whole body; rejects with an Error whose `status` is 413 past `max_body_length`. */
  buffer(): Promise<Buffer>;
  text(): Promise<string>;
  /** Parsed JSON; an empty or malformed body gives `default_value` (default `{}`), or rejects (status 400) when it is falsy. */
  json<T = any>(default_value?: T): Promise<T>;
  urlencoded(): Promise<ParsedQuery>;
  /** Set by body parsers such as `hyper.json()`. */
  body: any;
  /** Express: the URL as received. */
  originalUrl: string;
  /** Express: the mount path of the middleware or router running now ('' at the top). */
  baseUrl: string;
  /** The Host header without its port. */
  readonly hostname: string | undefined;
  /** 'https' on a TLS server. */
  readonly protocol: 'http' | 'https';
  readonly secure: boolean;
  /** Node's socket, as SSE code uses it (timeouts and options are managed in Rust; these calls are accepted). */
  readonly socket: SocketInfo;
  readonly connection: SocketInfo;
  /**
   * `'close'` comes when the exchange is over (a normal end, or the client leaving, then
   * after `'aborted'`), exactly once; other events are the body stream's.
   */
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

/**
 * Node's `req.socket` for one exchange: an EventEmitter that emits 'close' when the
 * exchange is over; `readable`/`writable` until then; `destroy()` cuts the connection.
 */
export interface SocketInfo extends EventEmitter {
  readonly readable: boolean;
  readonly writable: boolean;
  readonly destroyed: boolean;
  destroy(): this;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: 'IPv4' | 'IPv6';
  setTimeout(ms?: number, callback?: () => void): this;
  setNoDelay(noDelay?: boolean): this;
  setKeepAlive(enable?: boolean, initialDelay?: number): this;
}

/** HyperExpress's `res.sse`: events are encoded per the WHATWG event-stream rules. */
export class SSEventStream {
  /**
   * Sends the head with the event-stream headers at once. False if the head was already
   * sent. The stream is close-delimited (no chunked framing) and its connection closes
   * when it ends.
   */
  open(): boolean;
  /**
   * `send(data)`, `send(event, data)`, `send(id, event, data)`: the overload is chosen by
   * argument count, so '' and 0 are kept. Multi-line data becomes several `data:` lines;
   * CR/LF/NUL are removed from `id` and `event`. Objects are sent as JSON. Opens the
   * stream if needed. Returns false once the client is gone.
   */
  send(data: unknown): boolean;
  send(event: string | null | undefined, data: unknown): boolean;
  send(id: string | number | null | undefined, event: string | null | undefined, data: unknown): boolean;
  /** A comment line (`: text`), ignored by clients; useful as a keep-alive. */
  comment(text?: string): boolean;
  /** Tells the client how long to wait before reconnecting, in milliseconds. */
  retry(ms: number): boolean;
  /** Keep-alive comments whenever the stream has been idle for `ms` (Rust timer); 0 turns them off. */
  heartbeat(ms: number): boolean;
  /** The Last-Event-ID the client sent when it (re)connected. */
  readonly last_event_id: string | undefined;
  /** Ends the stream. False if it had already ended. */
  close(): boolean;
  /** True while the stream is open and the client connected. */
  readonly active: boolean;
}

/**
 * Events: 'prepare' (before the head is sent; headers still mutable), 'finish' (body
 * handed over), 'close' (always last, exactly once), 'abort' (the client left first),
 * 'drain' (a stream that reported backpressure is back under its high-water mark).
 * At run time `res instanceof http.ServerResponse` holds too; send/json/redirect/
 * sendStatus/sendFile/render go through writeHead() and end(), so middleware that
 * wraps them (sessions, compression) sees every response.
 */
export class Response extends EventEmitter {
  /** Status and head sent. */
  readonly initiated: boolean;
  /** The response is over (sent, ended, or the client left). */
  readonly completed: boolean;
  /** The client left before the response was over. */
  readonly aborted: boolean;
  statusCode: number;
  locals: Record<string, unknown>;
  /** GET and HEAD requests: the Server-Sent Events stream (the same object on every access). On HEAD, `open()` sends the head alone and ends the response. Assigning it puts the value in its place. */
  sse: SSEventStream | undefined;
  /** Sets the status (100-999; throws a RangeError otherwise) and, with `message`, the status line's text. */
  status(code: number, message?: string): this;
  /** The application: the Server (or the `hyper()` app). */
  readonly app: { locals: Record<string, any> };
  /**
   * HyperExpress: one Set-Cookie per name (the last call wins; `null` deletes); `expiry` in
   * ms; `options.secret` signs the value. On a `hyper()` app (or with options third):
   * Express's `cookie(name, value, { maxAge, signed, ... })`.
   */
  cookie(name: string, value: string | null, expiry?: number | null, options?: Record<string, any>, sign?: boolean): this;
  cookie(name: string, value: unknown, options: Record<string, any>): this;
  clearCookie(name: string, options?: Record<string, any>): this;
  /** Adds a name to the Vary header. */
  vary(name: string | string[]): this;
  /** Hands `error` to the error handler (a non-Error arrives as `ERR_CAUGHT_NON_ERROR_TYPE: <value>`). */
  throw(error: unknown): this;
  /** Sends `readable` as the body with backpressure; with `total_size`, a Content-Length. */
  stream(readable: import('stream').Readable, total_size?: number): Promise<void>;
  /** Sends a file from disk (content type from its extension, with its length). */
  file(path: string, callback?: () => void): this;
  /** Content-Disposition: attachment, with the file's name and its content type. */
  attachment(path?: string, name?: string): this;
  /** attachment() plus file(). */
  download(path: string, filename?: string): this;
  /** Express: sends a file with ETag, Last-Modified, 304, Range and HEAD (the `send` module); `path` absolute or under `options.root`. */
  sendFile(path: string, options?: Record<string, unknown>, callback?: (err?: Error) => void): this;
  sendFile(path: string, callback: (err?: Error) => void): this;
  /** Express: renders a view (see App.render) with res.locals and `options`, then sends it (or hands it to `callback`). */
  render(view: string, options?: Record<string, unknown>, callback?: (err: Error | null, html?: string) => void): void;
  render(view: string, callback: (err: Error | null, html?: string) => void): void;
  /** Node: end() was called (or the client left). */
  readonly finished: boolean;
  /** Appends a header, or replaces it with `overwrite`; throws on CR/LF/NUL or an invalid name. */
  header(name: string, value: string | number | readonly string[], overwrite?: boolean): this;
  /** Content-type from a short name ('json', 'html', 'text', ...) or a full MIME type. */
  type(mime: string): this;
  send(body?: string | Buffer | Uint8Array): this;
  json(body: unknown): this;
  html(body: string): this;
  redirect(url: string): this;
  /**
   * Streams a chunk (sending the head first). False once the client is gone, or while
   * the stream is above its high-water mark: the chunk is still queued, and 'drain' follows.
   */
  write(chunk: string | Buffer | Uint8Array, encoding?: BufferEncoding | ((err?: Error) => void), callback?: (err?: Error) => void): boolean;
  end(chunk?: string | Buffer | Uint8Array, encoding?: BufferEncoding): this;
  atomic(callback: () => void): this;
  // Node / Express names
  /** Replaces a header (an array sets several values). */
  setHeader(name: string, value: string | number | readonly string[]): this;
  getHeader(name: string): string | string[] | undefined;
  getHeaders(): Record<string, string | string[]>;
  getHeaderNames(): string[];
  hasHeader(name: string): boolean;
  removeHeader(name: string): this;
  /** Express: set(field, value) or set({ field: value }); replaces. */
  set(field: string, value: string | number | readonly string[]): this;
  set(fields: Record<string, string | number | readonly string[]>): this;
  append(field: string, value: string | readonly string[]): this;
  /** Status and headers; the head goes out with the first write() or flushHeaders(). */
  writeHead(status: number, message?: string, headers?: Record<string, string | number | readonly string[]> | Array<[string, string]> | string[]): this;
  writeHead(status: number, headers?: Record<string, string | number | readonly string[]> | Array<[string, string]> | string[]): this;
  /** Sends the head now (SSE code calls this before its first event). */
  flushHeaders(): void;
  sendStatus(code: number): this;
  location(url: string): this;
  redirect(status: number, url: string): this;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  statusMessage: string;
  readonly req: Request;
  on(event: 'prepare' | 'finish' | 'close' | 'abort' | 'drain', listener: (req: Request, res: Response) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'prepare' | 'finish' | 'close' | 'abort', listener: (req: Request, res: Response) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}
}
