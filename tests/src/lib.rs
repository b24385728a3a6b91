//! Workspace-level tests: the integration tests in `tests/tests/` run against
//! real servers, and the README's Rust examples below are compiled and run as
//! doc tests of this crate, so the README cannot drift from the code.
#![doc = include_str!("../../README.md")]
