//! HTTP exchanges: the per-request record, response heads from JS, response bodies and
//! the bounded queue behind each stream.
pub mod body;
pub mod exchange;
pub mod head;
pub mod request_body;
pub mod request_stream;
pub mod stream;
