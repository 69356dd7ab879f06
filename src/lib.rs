//! hyper-sse: an HTTP server with first-class Server-Sent Events for Node.js.
//!
//! Where things live:
//! - `server/`  accept loop (`listener`), per-request service (`service`), routes
//!              (`router`), shared state and shutdown phases (`state`), the coarse
//!              clock deadlines use (`coarse_clock`), the sweeps that close connections
//!              waiting too long for a head (`head_deadline`) and answer 503 for
//!              handlers that never answer (`handler_deadline`), the socket as hyper
//!              sees it (`conn_io`) and the task that writes an event stream on the
//!              bare socket once hyper has written its head (`detached_stream`),
//!              and the staged close every connection ends with (`lingering_close`).
//! - `http/`    the per-request record JS drives (`exchange`), response heads checked
//!              at the boundary (`head`), the bounded queue behind each stream with the
//!              slow-client policy (`stream`), response bodies, heartbeats and the guard
//!              that turns the end of an exchange into one `close` event (`body`),
//!              request bodies read whole in Rust (`request_body`).
//! - `sse/`     the only SSE encoder (`encode`).
//! - `broadcast/` channels: publish once to many streams, replay history (`channel`).
//! - `bridge/`  the JS <-> Rust crossing: batched events to JS (`events`), batched
//!              replies and wake-ups back (`handoff`), the per-response and per-event
//!              calls as raw Node-API functions (`hot_calls`), the `NativeServer` class
//!              (`native_server`), `NativeChannel` (`native_channel`).
//!
//! The crossing in short: a request is routed in Rust, recorded under an id, and
//! queued; one threadsafe-function call carries every queued event to JS as one
//! Float64Array plus one string. JS answers with synchronous calls keyed by the id;
//! replies and stream wake-ups made in one JS turn reach the runtime in one handoff.
//! An event stream leaves hyper after its head; a write to it that finds the stream
//! idle goes straight to the socket from the writing thread (`http/stream.rs`).

pub mod bridge;
pub mod broadcast;
pub mod http;
pub mod server;
pub mod sse;

// Buffers and responses are made on the JS thread and freed on a runtime thread (and
// back); glibc's malloc serialises such cross-thread frees on arena locks. mimalloc v2
// (the crate's `v2` feature): v3 crashed when worker threads loaded the addon in turn.
// Measured side by side (bench/builds.js, 2026-12-05): v2 spends 7.87 µs CPU per
// hello-world request where glibc spends 8.68.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
