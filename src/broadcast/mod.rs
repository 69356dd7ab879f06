//! Fan-out in Rust: channels with replay history, and their sharing across processes
//! through Redis (the Redis side in `broker`, this process's side in `broker_client`).
pub mod broker;
pub mod broker_client;
pub mod channel;
