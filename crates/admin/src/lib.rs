//! Komainu's admin API: CRUD over every entity kind, import/export, health, readiness and metrics.
//!
//! One resource registry ([`Kind`](komainu_model::Kind)) serves both `/api/<plural>` and Otoroshi's
//! generic `/apis/<group>/v1/<plural>`, so the CRUD code exists once. Every write is validated by
//! the model before it reaches the store; a refused write leaves the stored document untouched.

mod audit;
mod auth;
mod body;
mod caller;
mod deployments;
mod error;
mod keys;
mod listing;
mod lockout;
mod management;
mod openapi;
mod ops;
mod otoroshi;
mod pki;
mod refs;
mod resources;
mod stats;
mod subscriptions;
mod transfer;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use komainu_model::PluginProblem;
use komainu_store::Store;

pub use auth::{AdminAuth, InProcess, SignIn};
pub use body::{OPENAPI_LIMIT, parse_document};
pub use error::ApiError;
pub use lockout::{Attempt, Lockout};
pub use ops::Metrics;
pub use transfer::{ImportMode, export, import};

/// Tells whether a plugin exists and accepts a config, and which of its keys take no effect (the
/// plugin registry's check).
pub type PluginCheck = Arc<
    dyn Fn(&str, &serde_json::Value) -> Result<Vec<(String, String)>, PluginProblem> + Send + Sync,
>;

/// How many times [`Admin::atomically`] runs a write that keeps losing races.
const ATTEMPTS: u32 = 10;

/// The admin API's shared state.
#[derive(Clone)]
pub struct Admin {
    store: Arc<dyn Store>,
    auth: AdminAuth,
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    plugins: PluginCheck,
    keys: Option<Arc<komainu_keys::KeyService>>,
    testing_clock: bool,
    lockout: Arc<Lockout>,
    /// Gives freed memory back to the system after a large body (the allocator's, set by the
    /// binary).
    release_memory: Option<fn()>,
    /// What makes a write live on this node: read-your-writes waits for them.
    live: Option<Live>,
    /// Every plugin described (the plugin registry's catalogue).
    plugin_catalog: Option<fn() -> serde_json::Value>,
    /// The store engine's name, for `/api/infos`.
    store_kind: &'static str,
    /// Where admin and security events go (`--events`).
    events: Option<Arc<komainu_observe::Events>>,
    /// The gateway's per-API windows, for `/api/apis/:id/stats`.
    analytics: Option<Arc<komainu_observe::Analytics>>,
    /// Remote documents (documentation sources, OpenAPI URLs).
    fetcher: Arc<komainu_fetch::Fetcher>,
    /// Tells developers what a write changed for them (approvals, rotations, deprecations).
    notifier: Option<komainu_notify::Notifier>,
    /// The largest OpenAPI specification taken, posted or fetched (`--openapi-max-bytes`).
    openapi_limit: usize,
}

/// The followers of the store's change feed on this node (routing snapshot, key index), and the
/// snapshot generation: a 2xx to a write means every follower has applied it.
#[derive(Clone)]
pub struct Live {
    pub followers: Vec<komainu_store::Applied>,
    pub generation: Arc<dyn Fn() -> u64 + Send + Sync>,
}

/// Longest a write's answer, or a starting node, waits for the node to apply a revision.
const LIVE_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

impl Live {
    /// Waits until every follower has applied `revision`.
    pub async fn reached(&self, revision: u64) {
        // One after the other: they all follow the same feed.
        for f in &self.followers {
            f.reached(revision).await;
        }
    }

    /// [`Live::reached`], at most [`LIVE_WITHIN`]: false, and logged naming `what` waited, when
    /// a follower is still behind then.
    pub async fn applied_within(&self, revision: u64, what: &str) -> bool {
        let applied = tokio::time::timeout(LIVE_WITHIN, self.reached(revision))
            .await
            .is_ok();
        if !applied {
            tracing::warn!(
                revision,
                "{what} is stored but not yet applied on this node"
            );
        }
        applied
    }
}

impl Admin {
    /// `ready` is raised by the caller once the node serves what it stored while starting.
    pub fn new(
        store: Arc<dyn Store>,
        auth: AdminAuth,
        ready: Arc<AtomicBool>,
        metrics: Arc<Metrics>,
        plugins: PluginCheck,
    ) -> Self {
        Admin {
            store,
            auth,
            ready,
            metrics,
            plugins,
            keys: None,
            testing_clock: false,
            lockout: Arc::default(),
            release_memory: None,
            live: None,
            plugin_catalog: None,
            store_kind: "embedded",
            events: None,
            analytics: None,
            fetcher: komainu_fetch::Fetcher::new(komainu_fetch::Policy::default()),
            notifier: None,
            openapi_limit: body::OPENAPI_LIMIT,
        }
    }

    /// The largest OpenAPI specification taken, posted or fetched.
    pub fn with_openapi_limit(mut self, bytes: usize) -> Self {
        self.openapi_limit = bytes;
        self
    }

    /// Tells developers what writes change for them.
    pub fn with_notifier(mut self, notifier: komainu_notify::Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Fetches remote documents under this policy (`--portal-fetch-private`, ...).
    pub fn with_fetcher(mut self, fetcher: Arc<komainu_fetch::Fetcher>) -> Self {
        self.fetcher = fetcher;
        self
    }

    /// Sends admin and security events to `events`.
    pub fn with_events(mut self, events: Option<Arc<komainu_observe::Events>>) -> Self {
        self.events = events;
        self
    }

    /// Serves `/api/apis/:id/stats` from the gateway's windows.
    pub fn with_analytics(mut self, analytics: Arc<komainu_observe::Analytics>) -> Self {
        self.analytics = Some(analytics);
        self
    }

    /// Serves `GET /api/plugins/all` from `catalog`.
    pub fn with_plugin_catalog(mut self, catalog: fn() -> serde_json::Value) -> Self {
        self.plugin_catalog = Some(catalog);
        self
    }

    /// Names the store engine in `/api/infos`.
    pub fn with_store_kind(mut self, kind: &'static str) -> Self {
        self.store_kind = kind;
        self
    }

    /// This gateway's cluster id: generated once, then kept in the store.
    pub(crate) async fn cluster_id(&self) -> komainu_store::StoreResult<String> {
        const KEY: &str = "cluster_id";
        if let Some(id) = self
            .store
            .meta(KEY)
            .await?
            .as_ref()
            .and_then(|v| v.as_str())
        {
            return Ok(id.to_string());
        }
        let id = komainu_model::uuid();
        self.store
            .set_meta(KEY, &serde_json::Value::String(id.clone()))
            .await?;
        Ok(id)
    }

    /// The global configuration (Otoroshi's `config`): what is stored, else its template.
    pub(crate) async fn global_config(&self) -> komainu_store::StoreResult<serde_json::Value> {
        Ok(self
            .store
            .get(
                komainu_model::Kind::GlobalConfig,
                komainu_model::GLOBAL_CONFIG_ID,
            )
            .await?
            .unwrap_or_else(|| komainu_model::template(komainu_model::Kind::GlobalConfig)))
    }

    /// Makes every successful write wait (bounded) until `live`'s followers have applied it.
    pub fn with_live(mut self, live: Live) -> Self {
        self.live = Some(live);
        self
    }

    /// Calls `release` after each request that carried a large body (imports, refused bodies),
    /// so the memory it took does not stay resident.
    /// Gives freed memory back to the system, when the binary said how (after a large document).
    pub fn release_memory(&self) {
        if let Some(release) = self.release_memory {
            release();
        }
    }

    pub fn with_memory_release(mut self, release: fn()) -> Self {
        self.release_memory = Some(release);
        self
    }

    /// Serves quota endpoints from the running gateway's keys; `testing_clock` also serves
    /// `PUT /api/_testing/clock` (tests only: it shifts the time quotas and rotation use).
    pub fn with_keys(mut self, keys: Arc<komainu_keys::KeyService>, testing_clock: bool) -> Self {
        self.keys = Some(keys);
        self.testing_clock = testing_clock;
        self
    }

    /// Runs a read-modify-write until it commits on what it read. Each attempt gets this state
    /// with its store seen through a fresh [`Transaction`](komainu_store::Transaction), so its
    /// write is refused when a document it read changed meanwhile (on this node or another);
    /// it then runs again on fresh reads, up to [`ATTEMPTS`] times, then answers 409.
    pub(crate) async fn atomically<T, F, Fut>(&self, mut write: F) -> Result<T, ApiError>
    where
        F: FnMut(Admin) -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let mut attempt = 1;
        loop {
            let tx = Admin {
                store: Arc::new(komainu_store::Transaction::new(self.store.clone())),
                ..self.clone()
            };
            match write(tx).await {
                Err(e) if e.changed && attempt < ATTEMPTS => {
                    // Apart, and further apart each time (up to 64 ms), so writers racing for one
                    // document do not meet again at once.
                    let pause = rand::random_range(0..1u64 << attempt.min(6));
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                other => return other,
            }
        }
    }

    /// What API-management rules need to know about a write: the store, who writes, the time
    /// (the keys' clock, so tests that shift time shift subscription dates too).
    pub(crate) fn write_ctx(&self) -> komainu_apim::WriteCtx<'_> {
        komainu_apim::WriteCtx {
            store: &*self.store,
            actor: self.auth.client_id(),
            now_ms: self.now_ms(),
        }
    }

    pub(crate) fn now_ms(&self) -> i64 {
        match &self.keys {
            Some(k) => k.clock.now_ms(),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        }
    }

    /// The admin API's routes.
    pub fn router(self) -> Router {
        use management as m;
        use resources as r;
        let entity_routes = Router::new()
            .route("/", get(r::list).post(r::create))
            .route("/_template", get(r::template))
            .route("/_schema", get(r::schema))
            .route("/_count", get(r::count))
            .route(
                "/{id}",
                get(r::read)
                    .put(r::replace)
                    .patch(r::patch)
                    .delete(r::delete)
                    .post(r::upsert),
            );
        let mut api = Router::new()
            .route(
                "/api/apikeys/{id}/quotas",
                get(keys::quotas).delete(keys::reset_quotas),
            )
            .route("/api/groups/{id}/apikeys", get(keys::group_keys))
            .route("/api/apis/{id}/apikeys", get(keys::api_keys))
            .route(
                "/api/apis/{id}/draft",
                get(m::read_draft).put(m::save_draft).delete(m::drop_draft),
            )
            .route("/api/apis/{id}/_publish", post(m::publish))
            .route("/api/apis/{id}/deployments/_diff", get(deployments::diff))
            .route(
                "/api/apis/{id}/deployments/{deployment}/_rollback",
                post(deployments::rollback),
            )
            .route(
                "/api/api-subscriptions/{id}/_rotate",
                post(subscriptions::rotate),
            )
            .route(
                "/api/api-subscriptions/{id}/_reject",
                post(subscriptions::reject),
            )
            .route("/api/apis/_openapi", post(m::import_openapi))
            .route(
                "/apis/apis.otoroshi.io/v1/apis/_openapi",
                post(m::import_openapi),
            )
            .route("/api/apis/{id}/documentation", get(m::documentation))
            .route("/api/apis/{id}/usage", get(m::api_usage))
            .route("/api/apis/{id}/stats", get(stats::api_stats))
            .route("/api/stats", get(stats::all_stats))
            .route("/api/cluster/members", get(ops::members))
            .route(
                "/api/api-subscriptions/{id}/usage",
                get(m::subscription_usage),
            )
            .route("/api/export", get(transfer::export_handler))
            .route(
                "/api/otoroshi.json",
                get(otoroshi::export_otoroshi).post(otoroshi::import_otoroshi),
            )
            .route("/api/import", post(transfer::import_handler))
            .route("/api/version", get(otoroshi::version))
            .route("/api/infos", get(otoroshi::infos))
            .route("/api/health", get(otoroshi::health))
            .route(
                "/.well-known/otoroshi/monitoring/health",
                get(otoroshi::health),
            )
            .route(
                "/.well-known/otoroshi/monitoring/metrics",
                get(otoroshi::monitoring_metrics),
            )
            .route("/apis/cluster/node/health", get(otoroshi::health))
            .route("/api/plugins/all", get(otoroshi::plugins))
            .route("/api/pki/cas", post(pki::new_ca))
            .route("/api/pki/certs", post(pki::new_cert))
            .route("/api/pki/cas/{ca}/certs", post(pki::new_signed_cert))
            .route(
                "/api/globalconfig",
                get(pki::read_global)
                    .put(pki::replace_global)
                    .patch(pki::patch_global),
            )
            .route("/api/routes/{id}/apikeys", get(otoroshi::route_keys))
            .route("/api/apikeys/{id}/bearer", get(otoroshi::bearer))
            .route("/apis/entities", get(r::entities))
            .route("/apis/openapi.json", get(openapi::serve))
            .nest("/api/{plural}", entity_routes.clone())
            .nest("/apis/{group}/{version}/{plural}", entity_routes);
        if self.testing_clock {
            api = api.route("/api/_testing/clock", axum::routing::put(keys::shift_clock));
        }
        let api = api
            .route_layer(middleware::from_fn_with_state(
                self.clone(),
                ops::live_after_writes,
            ))
            .route_layer(middleware::from_fn_with_state(self.clone(), audit::audit))
            .route_layer(middleware::from_fn_with_state(self.clone(), auth::require));
        Router::new()
            .route("/health", get(ops::health))
            .route("/ready", get(ops::ready))
            .route("/metrics", get(ops::metrics))
            .merge(api)
            .fallback(ops::not_found)
            .layer(middleware::from_fn_with_state(
                self.clone(),
                ops::count_requests,
            ))
            .layer(middleware::from_fn_with_state(
                self.clone(),
                ops::release_after_large_bodies,
            ))
            .layer(middleware::from_fn(body::read_small))
            .with_state(self)
    }
}

/// The parsers of outside documents, for the fuzz targets (`fuzz/`) only.
#[cfg(fuzzing)]
pub mod fuzzing {
    pub use crate::body::parse_document;
}
