//! What every test of this binary shares: the backends (memory, and one
//! real redis-server started by `cache-testing` on a free loopback port and
//! shared by the tests that run), a server on 127.0.0.1:0 and a real client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use cache_core::Cache;
use cache_http::CacheSource;
use cache_manager::config::Config;
use cache_manager::{CacheSetup, RequestContext};
use cache_memory::MemoryCache;
use cache_patterns::Namespaced;
use cache_redis::{RedisCache, RedisConfig};
use cache_testing::server::RedisServer;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A prefix per test, so tests sharing a server stay apart.
pub(crate) fn run_prefix() -> String {
    static RUN: AtomicU32 = AtomicU32::new(0);
    format!(
        "http{}-{}:",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    )
}

/// The backends the scenarios run on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend {
    Memory,
    Redis,
}

static SERVER: Mutex<Weak<RedisServer>> = Mutex::new(Weak::new());

/// The redis-server the running tests share: started by the first, stopped
/// when the last drops it.
pub(crate) fn shared_server() -> Arc<RedisServer> {
    let mut slot = SERVER.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(running) = slot.upgrade() {
        return running;
    }
    let started = Arc::new(RedisServer::start());
    *slot = Arc::downgrade(&started);
    started
}

pub(crate) fn redis_config(addr: String) -> RedisConfig {
    let mut config = RedisConfig::default();
    config.addrs = vec![addr];
    config.connect_timeout = Duration::from_secs(5);
    config.command_timeout = Duration::from_secs(5);
    config
}

/// A backend cache of this test: its own namespace on a shared store. The
/// server handle (Redis) must live as long as the cache is used.
pub(crate) struct TestCache {
    pub(crate) cache: Arc<dyn Cache>,
    _server: Option<Arc<RedisServer>>,
}

impl Backend {
    pub(crate) async fn cache(self) -> TestCache {
        match self {
            Backend::Memory => TestCache {
                cache: Arc::new(MemoryCache::new()),
                _server: None,
            },
            Backend::Redis => {
                let server = shared_server();
                let redis = RedisCache::connect(&redis_config(server.addr()))
                    .await
                    .expect("connect to the test server");
                let cache: Arc<dyn Cache> = Arc::new(redis);
                TestCache {
                    cache: Arc::new(Namespaced::new(cache, run_prefix())),
                    _server: Some(server),
                }
            }
        }
    }

    /// A per-tenant setup through cache-manager (tenant namespaces), as a
    /// service builds it from its YAML.
    pub(crate) async fn setup(self) -> (CacheSetup, Option<Arc<RedisServer>>) {
        let prefix = run_prefix();
        let (yaml, server) = match self {
            Backend::Memory => (
                format!("cache:\n  type: memory\n  key_prefix: \"{prefix}\"\n"),
                None,
            ),
            Backend::Redis => {
                let server = shared_server();
                (
                    format!(
                        "cache:\n  type: redis\n  key_prefix: \"{prefix}\"\n  redis:\n    addrs: [\"{}\"]\n",
                        server.addr()
                    ),
                    Some(server),
                )
            }
        };
        let config = Config::from_yaml_str(&yaml).expect("test config");
        let setup = CacheSetup::from_config(&config).await.expect("setup");
        (setup, server)
    }
}

/// The source of a per-tenant setup.
pub(crate) fn tenant_source(setup: &CacheSetup) -> CacheSource {
    let deps = setup.module_deps();
    CacheSource::per_tenant(move |tenant| {
        let ctx = tenant.map(RequestContext::for_tenant).unwrap_or_default();
        deps.cache(&ctx)
    })
}

/// A running server.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Serves `app` on 127.0.0.1:0 with the peer address in `ConnectInfo`.
pub(crate) async fn serve(app: Router) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve");
    });
    TestServer { addr, task }
}

/// A real HTTP/1.1 client.
#[derive(Clone)]
pub(crate) struct TestClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

/// What came back.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

impl Default for TestClient {
    fn default() -> Self {
        Self::new()
    }
}

impl TestClient {
    pub(crate) fn new() -> Self {
        TestClient {
            client: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(256)
                .build_http(),
        }
    }

    /// Sends a request; a connection error is `Err` (a handler that panicked).
    pub(crate) async fn try_send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Answer, String> {
        let mut request = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("request");
        let response = tokio::time::timeout(Duration::from_secs(20), self.client.request(request))
            .await
            .map_err(|_| "no answer within 20 s".to_owned())?
            .map_err(|e| e.to_string())?;
        let (head, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Answer {
            status: head.status,
            headers: head.headers,
            body,
        })
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        self.try_send(method, url, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    /// Sends a POST on a task of its own (for requests that must be in
    /// flight while the test goes on).
    pub(crate) fn spawn_post(
        &self,
        url: String,
        header: (&'static str, &'static str),
    ) -> tokio::task::JoinHandle<Answer> {
        let client = self.clone();
        tokio::spawn(async move { client.send(Method::POST, &url, &[header], "").await })
    }

    pub(crate) async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Answer {
        self.send(Method::GET, url, headers, "").await
    }
}

/// Runs `scenario` on each backend as a test named `<name>_on_<backend>`.
#[macro_export]
macro_rules! on_backends {
    ($($name:ident),+ $(,)?) => {
        mod on_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::support::Backend::Memory).await;
                }
            )+
        }
        mod on_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::support::Backend::Redis).await;
                }
            )+
        }
    };
}

/// The cache of `tenant` in `setup`, as a module of the service gets it.
pub(crate) async fn tenant_cache(setup: &CacheSetup, tenant: &str) -> Arc<dyn Cache> {
    setup
        .module_deps()
        .cache(&RequestContext::for_tenant(tenant))
        .await
        .expect("the tenant's cache")
}
