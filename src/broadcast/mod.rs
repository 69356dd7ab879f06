//! Fan-out in Rust: channels with replay history.
pub mod channel;
