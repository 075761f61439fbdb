//! Shared end-to-end test support.
pub mod lab;
pub mod moto;
