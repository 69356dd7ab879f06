//! HTTP exchanges: the per-request record, response heads from JS, response bodies.
pub mod body;
pub mod exchange;
pub mod head;
