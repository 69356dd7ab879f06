//! Server-Sent Events: the wire encoder.
pub mod encode;
