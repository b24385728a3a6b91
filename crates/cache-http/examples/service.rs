//! An orders service that uses all of cache-http: per-tenant caches through
//! `ModuleDeps` (the tenant comes from the `X-Tenant-Id` header), a cached
//! `GET /orders/{id}`, a `POST /orders` with an idempotency key, a per-user
//! lock and rate limits, the admin API under `/admin` behind a bearer token,
//! `/health/live`, `/health/ready`, and `/metrics` in Prometheus text.
//!
//! ```sh
//! cargo run -p cache-http --example service -- --listen 127.0.0.1:8080
//! cargo run -p cache-http --example service -- --listen 127.0.0.1:8080 \
//!     --config examples/config/redis-standalone.yaml --admin-token "$TOKEN"
//! ```
//!
//! The user is read from `X-User-Id`, standing in for the service's own
//! authentication (which would put a `Principal` in the request extensions
//! the same way).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cache_core::{Cache, TypedCacheExt};
use cache_http::health::{self, Readiness};
use cache_http::identity::{ClientIp, Principal, RequestKey, Tenant};
use cache_http::lock::LockKey;
use cache_http::problem::Problem;
use cache_http::ratelimit::Rule;
use cache_http::{
    BearerAuthLayer, CacheSource, IdempotencyLayer, LockLayer, RateLimitLayer, ResponseCacheLayer,
    admin,
};
use cache_manager::config::{BackendKind, Config};
use cache_manager::{CacheSetup, ModuleDeps, RequestContext};
use clap::Parser;
use futures::FutureExt;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use tower::ServiceBuilder;

/// The orders service. (No `Debug`: it holds the admin token.)
#[derive(Parser)]
pub(crate) struct Args {
    /// The address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The services' YAML config (`cache:` section); the embedded memory
    /// backend without it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The admin API's bearer token; without one the admin API is off.
    #[arg(long, env = "ORDERS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

/// An order as stored and served.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    id: i64,
    user: String,
    item: String,
    quantity: u32,
}

/// What a client sends to create an order.
#[derive(Debug, Deserialize)]
struct NewOrder {
    item: String,
    quantity: u32,
}

const ORDER_TTL: Duration = Duration::from_secs(24 * 3600);

/// The tenant's cache, as every module of the service gets it.
async fn tenant_cache(deps: &ModuleDeps, headers: &HeaderMap) -> Result<Arc<dyn Cache>, Problem> {
    let tenant = headers
        .get("x-tenant-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Ok(deps.cache(&RequestContext::for_tenant(tenant)).await?)
}

async fn get_order(
    State(deps): State<ModuleDeps>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let cache = tenant_cache(&deps, &headers).await?;
    match cache.get_as::<Order>(&format!("order:{id}")).await? {
        Some(order) => Ok(Json(order).into_response()),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("no order {id}"),
        )),
    }
}

async fn create_order(
    State(deps): State<ModuleDeps>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, Problem> {
    let user = request
        .extensions()
        .get::<Principal>()
        .map(|p| p.0.clone())
        .unwrap_or_default();
    let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
        .await
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let new: NewOrder = serde_json::from_slice(&body)
        .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let cache = tenant_cache(&deps, &headers).await?;
    let id = cache.incr_by("order:next-id", 1, ORDER_TTL * 365).await?;
    let order = Order {
        id,
        user,
        item: new.item,
        quantity: new.quantity,
    };
    cache
        .set_as(&format!("order:{id}"), &order, ORDER_TTL)
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/orders/{id}"))],
        Json(order),
    )
        .into_response())
}

/// Puts the tenant (`X-Tenant-Id`, required) and the user (`X-User-Id`) in
/// the request extensions, where the layers read them.
async fn identify(mut request: Request, next: Next) -> Response {
    let header = |headers: &HeaderMap, name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let Some(tenant) = header(request.headers(), "x-tenant-id").filter(|t| !t.is_empty()) else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "the X-Tenant-Id header is required",
        )
        .into_response();
    };
    let user = header(request.headers(), "x-user-id");
    request.extensions_mut().insert(Tenant(tenant));
    if let Some(user) = user {
        request.extensions_mut().insert(Principal(user));
    }
    next.run(request).await
}

fn app(
    setup: &CacheSetup,
    backend: &str,
    admin_token: Option<&str>,
    metrics: PrometheusHandle,
) -> Router {
    let deps = setup.module_deps();
    let source = {
        let deps = deps.clone();
        CacheSource::per_tenant(move |tenant| {
            let ctx = tenant.map(RequestContext::for_tenant).unwrap_or_default();
            deps.cache(&ctx)
        })
    };
    let limits = RateLimitLayer::new(source.clone())
        .rule(Rule::sliding(
            "per-ip",
            100,
            Duration::from_secs(60),
            RequestKey::ClientIp(ClientIp::peer()),
        ))
        .rule(Rule::sliding(
            "per-user",
            10,
            Duration::from_secs(1),
            RequestKey::Principal,
        ))
        .fail_open(true);
    let orders = Router::new()
        .route(
            "/orders/{id}",
            get(get_order).layer(
                ResponseCacheLayer::new(source.clone(), Duration::from_secs(60))
                    .soft_ttl(Duration::from_secs(10)),
            ),
        )
        .route(
            "/orders",
            // Outermost first: a denied request costs one rate-limit check;
            // a duplicate is answered before it waits for the user's lock.
            post(create_order).layer(
                ServiceBuilder::new()
                    .layer(limits)
                    .layer(IdempotencyLayer::new(source.clone()).required(true))
                    .layer(
                        LockLayer::new(
                            source.clone(),
                            LockKey::template("order:create:{principal}"),
                        )
                        .wait(Duration::from_secs(2)),
                    ),
            ),
        )
        .layer(middleware::from_fn(identify))
        .with_state(deps.clone());

    let readiness = Readiness::new().check(backend.to_owned(), move || {
        let cache = deps.cache(&RequestContext::for_tenant("health"));
        async move { cache.await?.health().await }.boxed()
    });
    let mut app = Router::new()
        .merge(orders)
        .merge(health::router(readiness))
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        );
    match admin_token {
        Some(token) => {
            app = app.nest(
                "/admin",
                admin::router(source).layer(BearerAuthLayer::new(token)),
            );
        }
        None => tracing::warn!("no --admin-token (or ORDERS_ADMIN_TOKEN): the admin API is off"),
    }
    app
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let metrics = PrometheusBuilder::new().install_recorder()?;
    {
        let metrics = metrics.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                metrics.run_upkeep();
            }
        });
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(args, metrics, shutdown, |addr, backend| {
        println!("orders service listening on http://{addr} (cache: {backend})");
    })
    .await
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Loads the config, builds the caches, binds `args.listen`, tells
/// `listening` the address, and serves until `shutdown` completes; then
/// closes the caches. (`main` around it installs the logger and the
/// Prometheus recorder; the example's test calls it directly.)
pub(crate) async fn serve(
    args: Args,
    metrics: PrometheusHandle,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    listening: impl FnOnce(SocketAddr, &str),
) -> Result<(), BoxError> {
    let config = Config::load(args.config.as_deref())?;
    let backend = match config.cache.backend {
        BackendKind::Redis => "redis",
        _ => "memory",
    };
    let setup = CacheSetup::from_config(&config).await?;
    let app = app(&setup, backend, args.admin_token.as_deref(), metrics);

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    listening(listener.local_addr()?, backend);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    setup.close().await?;
    Ok(())
}
