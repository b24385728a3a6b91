//! A few `ConnectionManager`s to one server, used round-robin.
//!
//! A `ConnectionManager` is a multiplexed connection that reconnects in the
//! background after a failure (a bare `MultiplexedConnection` never recovers).
//! One already carries many concurrent commands; `pool_size` of them spread the
//! load over more sockets (see the measurements in the crate docs).

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_core::{CacheError, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::errors::map_connect_error;
use crate::settings::Settings;

/// Round-robin over `pool_size` connection managers to one server.
pub(crate) struct ManagerPool {
    client: redis::Client,
    endpoint: String,
    managers: Vec<ConnectionManager>,
    next: AtomicUsize,
}

impl ManagerPool {
    /// Opens `settings.pool_size` managers to `client`'s server, each within
    /// the connect timeout; the first failure fails it all.
    pub(crate) async fn connect(
        client: redis::Client,
        endpoint: String,
        settings: &Settings,
    ) -> Result<ManagerPool> {
        let config = manager_config(settings);
        let opener = client.clone();
        let opens = (0..settings.pool_size).map(|_| {
            let client = opener.clone();
            let config = config.clone();
            let endpoint = endpoint.as_str();
            async move {
                match tokio::time::timeout(
                    settings.connect_timeout,
                    ConnectionManager::new_with_config(client, config),
                )
                .await
                {
                    Ok(Ok(manager)) => Ok(manager),
                    Ok(Err(e)) => Err(map_connect_error(endpoint, e)),
                    Err(_) => Err(CacheError::connection(
                        endpoint,
                        std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!(
                                "no connection within the connect timeout of {:?}",
                                settings.connect_timeout
                            ),
                        ),
                    )),
                }
            }
        });
        let managers = futures::future::try_join_all(opens).await?;
        Ok(ManagerPool {
            client,
            endpoint,
            managers,
            next: AtomicUsize::new(0),
        })
    }

    /// A slot for [`ManagerPool::at`], round-robin.
    pub(crate) fn next_slot(&self) -> usize {
        // With one manager (the default) there is nothing to spread: skip an
        // atomic add on a cache line every call of every core would share.
        if self.managers.len() == 1 {
            return 0;
        }
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The manager for `slot`. A call keeps its slot across retries: the
    /// manager that failed is the one that started reconnecting, and another
    /// one may still hold the stale failure of an outage.
    pub(crate) fn at(&self, slot: usize) -> ConnectionManager {
        self.managers[slot % self.managers.len()].clone()
    }

    /// The client the managers were opened from (for dedicated connections, e.g. pub/sub).
    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// `host:port` of the server.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

/// Reconnection is left to the caller's retry policy: the manager makes one
/// attempt per failure (started in the background), so a call during an
/// outage fails fast with a connection error instead of waiting out the
/// manager's own backoff, and the next call starts a fresh attempt.
///
/// No response timeout: every command through these managers runs under the
/// call's own deadline (`RedisCache::run` and friends, or `within`), which
/// bounds retries too. A second timer per command would only cost CPU (a
/// timer-wheel entry registered and removed per call, measured in ADR 0005)
/// and could never fire first.
fn manager_config(settings: &Settings) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(settings.connect_timeout))
        .set_response_timeout(None)
        .set_number_of_retries(0)
        .set_min_delay(settings.retry.backoff.base())
        .set_max_delay(settings.retry.backoff.max())
}
