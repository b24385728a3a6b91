//! # cache-testing
//!
//! Test kit for the cache framework.
#![forbid(unsafe_code)]

pub mod conformance;
pub mod fakes;
pub mod faulty;
pub mod mock;
pub mod recording;
pub mod server;
