//! The master named by Redis Sentinel, followed across failovers.
//!
//! A `ConnectionManager` reconnects to the address it was built for, so after
//! a failover it would keep knocking on the old master (down, or back as a
//! read-only replica). Here every failure that smells of a failover (the
//! connection broke or was refused, `READONLY`, `MASTERDOWN`) makes the
//! topology ask the sentinels again; when they name a new master, a fresh pool
//! to it replaces the old one and later calls go there.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::{CacheError, Result};
use parking_lot::{Mutex, RwLock};
#[cfg(feature = "tls")]
use redis::TlsMode;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ErrorKind, RedisError, ServerErrorKind};

use super::ManagerPool;
use crate::errors::{is_connection_error, map_connect_error};
use crate::settings::{Settings, tcp_settings};

/// How often at most the sentinels are asked again while failures keep coming.
const MIN_RESOLVE_INTERVAL: Duration = Duration::from_millis(100);

/// The current master's pool and how to find the next one.
pub(crate) struct SentinelTopology {
    state: Arc<State>,
}

struct State {
    settings: Settings,
    description: String,
    sentinels: tokio::sync::Mutex<SentinelClient>,
    current: RwLock<Arc<ManagerPool>>,
    last_resolve: Mutex<Option<Instant>>,
}

impl SentinelTopology {
    /// Asks the sentinels for the master and connects to it.
    pub(crate) async fn connect(settings: &Settings) -> Result<SentinelTopology> {
        let description = settings.describe();
        let mut sentinels =
            sentinel_client(settings).map_err(|e| map_connect_error(&description, e))?;
        let pool = connect_master(&mut sentinels, settings, &description).await?;
        tracing::info!(
            master = pool.endpoint(),
            "resolved the master through the sentinels"
        );
        Ok(SentinelTopology {
            state: Arc::new(State {
                settings: settings.clone(),
                description,
                sentinels: tokio::sync::Mutex::new(sentinels),
                current: RwLock::new(Arc::new(pool)),
                last_resolve: Mutex::new(Some(Instant::now())),
            }),
        })
    }

    /// The pool to the master as last resolved.
    pub(crate) fn current(&self) -> Arc<ManagerPool> {
        self.state.current()
    }

    /// Re-resolves the master when `err` suggests a failover.
    pub(crate) async fn after_error(&self, err: &RedisError, wait: bool) {
        if !suggests_failover(err) {
            return;
        }
        let seen = self.current();
        if wait {
            self.state.refresh(seen).await;
        } else {
            // The error goes back to the caller now; the next call finds the new master.
            let state = self.state.clone();
            tokio::spawn(async move { state.refresh(seen).await });
        }
    }
}

impl State {
    fn current(&self) -> Arc<ManagerPool> {
        self.current.read().clone()
    }

    /// Asks the sentinels again unless someone did since `seen` was current.
    async fn refresh(&self, seen: Arc<ManagerPool>) {
        let mut sentinels = self.sentinels.lock().await;
        if !Arc::ptr_eq(&seen, &self.current()) {
            return; // another caller already moved to a new master
        }
        {
            let mut last = self.last_resolve.lock();
            if last.is_some_and(|t| t.elapsed() < MIN_RESOLVE_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        let client = match tokio::time::timeout(
            self.settings.connect_timeout,
            sentinels.async_get_client(),
        )
        .await
        {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, sentinels = %self.description, "cannot resolve the master");
                return;
            }
            Err(_) => {
                tracing::warn!(sentinels = %self.description, "the sentinels did not answer in time");
                return;
            }
        };
        let endpoint = client.get_connection_info().addr().to_string();
        if endpoint == seen.endpoint() {
            return; // same master: its connection manager reconnects by itself
        }
        match ManagerPool::connect(client, endpoint.clone(), &self.settings).await {
            Ok(pool) => {
                tracing::info!(old = seen.endpoint(), new = %endpoint, "master changed: following the failover");
                *self.current.write() = Arc::new(pool);
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect to the new master"),
        }
    }
}

/// Failures after which the master may have moved.
fn suggests_failover(err: &RedisError) -> bool {
    is_connection_error(err)
        || matches!(
            err.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
}

fn sentinel_client(settings: &Settings) -> redis::RedisResult<SentinelClient> {
    let sentinels = settings
        .endpoints
        .iter()
        .map(|e| settings.connection_addr(e))
        .collect::<Vec<_>>();
    let mut builder = SentinelClientBuilder::new(
        sentinels,
        &settings.sentinel_master,
        SentinelServerType::Master,
    )?
    .set_client_to_redis_db(settings.database)
    .set_client_to_redis_tcp_settings(tcp_settings())
    .set_client_to_sentinel_tcp_settings(tcp_settings());
    if let Some(user) = &settings.username {
        builder = builder.set_client_to_redis_username(user);
    }
    if let Some(password) = &settings.password {
        builder = builder.set_client_to_redis_password(password);
    }
    #[cfg(feature = "tls")]
    if settings.tls.is_some() {
        builder = builder
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(TlsMode::Secure);
        if let Some(certs) = settings.certificates() {
            builder = builder
                .set_client_to_redis_certificates(certs.clone())
                .set_client_to_sentinel_certificates(certs);
        }
    }
    builder.build()
}

async fn connect_master(
    sentinels: &mut SentinelClient,
    settings: &Settings,
    description: &str,
) -> Result<ManagerPool> {
    let client =
        match tokio::time::timeout(settings.connect_timeout, sentinels.async_get_client()).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(map_connect_error(description, e)),
            Err(_) => {
                return Err(CacheError::connection(
                    description,
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the sentinels did not name a reachable master within the connect timeout",
                    ),
                ));
            }
        };
    let endpoint = client.get_connection_info().addr().to_string();
    ManagerPool::connect(client, endpoint, settings).await
}
