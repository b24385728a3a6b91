//! What the cache-patterns benches share: the cached row and a poll-once
//! executor for futures that never wait.

use std::future::Future;

use futures::FutureExt;

use serde::{Deserialize, Serialize};

/// A typical cached row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Profile {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) roles: Vec<String>,
    pub(crate) created_at: u64,
}

/// The row both benches cache.
pub(crate) fn profile() -> Profile {
    Profile {
        id: 42,
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        roles: vec!["reader".into(), "editor".into()],
        created_at: 1_700_000_000,
    }
}

/// Polls a future that never waits.
pub(crate) fn ready<F: Future>(future: F) -> F::Output {
    future.now_or_never().expect("a hit never waits")
}
