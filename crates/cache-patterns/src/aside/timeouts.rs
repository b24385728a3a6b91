//! Factory timeouts (FusionCache's `FactorySoftTimeout` and
//! `FactoryHardTimeout`), with background completion: a loader that runs
//! past a timeout is not cancelled; it finishes on its own task and stores
//! what it loaded, so the next call finds the fresh value.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::CacheAside;
use super::envelope::Stamp;
use cache_core::codec;
use cache_core::error::BoxError;

/// The loader ran past a factory timeout (the source of an
/// [`AsideError::Load`](super::AsideError::Load)); it goes on in the
/// background and stores its value when it finishes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the loader ran past the factory {} timeout of {after:?}", if *.soft { "soft" } else { "hard" })]
pub struct FactoryTimeout {
    /// Whether the soft timeout (a stale value was served) or the hard one.
    pub soft: bool,
    /// The timeout that ran out.
    pub after: Duration,
}

impl CacheAside {
    /// Runs `loader`, bounded by the factory timeouts when they are set.
    /// Without them (or outside a Tokio runtime) the loader runs in the call,
    /// and is cancelled with it, as before.
    pub(super) async fn run_loader<T, L, Fut>(
        &self,
        key: &str,
        loader: L,
        has_stale: bool,
        stamps: Option<&[Stamp]>,
    ) -> Result<(T, Duration), BoxError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        L: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(T, Duration), BoxError>> + Send + 'static,
    {
        let soft = self.factory_soft_timeout.filter(|_| has_stale);
        let (limit, is_soft) = match (soft, self.factory_hard_timeout) {
            (Some(s), Some(h)) if h <= s => (h, false),
            (Some(s), _) => (s, true),
            (None, Some(h)) => (h, false),
            (None, None) => return loader().await,
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return loader().await;
        };
        let mut task = runtime.spawn(loader());
        match tokio::time::timeout(limit, &mut task).await {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(join)) => Err(Arc::new(join)),
            Err(_elapsed) => {
                tracing::debug!(
                    key,
                    ?limit,
                    soft = is_soft,
                    "loader timed out; completing in the background"
                );
                let this = self.clone();
                let key = key.to_owned();
                let stamps = stamps.map(<[Stamp]>::to_vec);
                runtime.spawn(async move {
                    match task.await {
                        Ok(Ok((_, _))) if stamps.is_none() => {
                            tracing::debug!(key = %key, "tag stamps unknown; a timed-out load is not stored");
                        }
                        Ok(Ok((value, ttl))) => match codec::to_vec(&value) {
                            Ok(payload) => {
                                let payload = Bytes::from(payload);
                                let stamps = stamps.as_deref().unwrap_or_default();
                                if let Err(e) = this.store(&key, &payload, ttl, stamps).await {
                                    tracing::warn!(key = %key, error = %e, "storing a timed-out load failed");
                                }
                            }
                            Err(e) => tracing::warn!(key = %key, error = %e, "encoding a timed-out load failed"),
                        },
                        Ok(Err(e)) => tracing::debug!(key = %key, error = %e, "a timed-out loader failed"),
                        Err(e) => tracing::warn!(key = %key, error = %e, "a timed-out loader panicked"),
                    }
                });
                Err(Arc::new(FactoryTimeout {
                    soft: is_soft,
                    after: limit,
                }))
            }
        }
    }
}
