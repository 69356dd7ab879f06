//! The JS <-> Rust crossing: batched events to JS, synchronous operations from JS.
pub mod events;
pub mod hot_calls;
pub mod native_broker;
pub mod native_channel;
pub mod native_server;
