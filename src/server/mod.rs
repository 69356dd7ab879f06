//! The server side: routing, accepting, serving, shared state.
pub mod coarse_clock;
pub mod event_queue;
pub mod conn_io;
pub mod detached_stream;
pub mod handler_deadline;
pub mod handoff;
pub mod head_deadline;
pub mod lingering_close;
pub mod listener;
pub mod router;
pub mod runtime;
pub mod service;
pub mod state;
pub mod stats;
pub mod tls;
