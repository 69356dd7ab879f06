//! Fan-out in Rust: channels with replay history.
pub mod broker;
pub mod channel;
