//! `komainu serve`: opens the store, bootstraps admin credentials, compiles the first snapshot,
//! starts the admin and proxy listeners, and drains them on SIGTERM / Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use komainu_admin::{Admin, AdminAuth, Metrics};
use komainu_keys::KeyService;
use komainu_model::Kind;
use komainu_observe::Tracer;
use komainu_observe::prom::{self, Kind as Metric};
use komainu_plugins::Services;
use komainu_proxy::{AccessLog, Proxy, ProxyConfig, Sinks, TrustedProxies};
use komainu_runtime::Runtime;
use komainu_store::{Store, WriteMode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::{ServeArgs, StorageArgs};
use crate::{config_file, demo, storage};
use listeners::local_url;

mod listeners;

/// Resolves once the node is asked to stop.
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Serves `app` (the admin API and UI, or the portal) on `listener` until the node stops.
async fn serve_app(
    listener: std::net::TcpListener,
    app: axum::Router,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(stopped(stop))
        .await
}

/// The admin API, the UI, the portal and the config file's reloads run on their own thread:
/// parsing and validating a large or hostile document never takes time from the proxy's workers.
fn admin_runtime() -> anyhow::Result<AdminRuntime> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(4)
        .thread_name("komainu-admin")
        .enable_all()
        .build()
        .context("cannot start the admin runtime")?;
    Ok(AdminRuntime(Some(rt)))
}

/// The OTLP exporter `--otlp-endpoint` asks for, sampling `--trace-sampling` of the requests.
fn tracer(args: &ServeArgs) -> anyhow::Result<Option<Arc<Tracer>>> {
    if !(0.0..=1.0).contains(&args.trace_sampling) {
        bail!(
            "--trace-sampling: expected a share between 0.0 and 1.0, got {}",
            args.trace_sampling
        );
    }
    let Some(endpoint) = &args.otlp_endpoint else {
        return Ok(None);
    };
    let tracer = Tracer::new(Some(endpoint), args.trace_sampling).map_err(anyhow::Error::msg)?;
    Ok(Some(Arc::new(tracer)))
}

/// What the node counted and has not written yet: quota counts, the grants it holds, the limit
/// plugins' counts. Written on the way out, so a restart loses none of them.
async fn persist_counts(
    keys: &KeyService,
    counters: &Arc<komainu_plugins::counters::Counters>,
    store: &dyn Store,
) {
    if let Err(e) = keys.flush().await {
        tracing::error!(error = %e, "cannot persist the last quota counts");
    }
    keys.give_back_grants().await;
    if let Err(e) = komainu_runtime::flush_counters(counters, store, keys).await {
        tracing::error!(error = %e, "cannot persist the last counts of the limit plugins");
    }
}

/// The store's metrics: its engine, its last revision, and how far each follower of its feed
/// lags behind it.
fn store_metrics(
    store: Arc<dyn Store>,
    kind: &'static str,
    followers: Vec<(&'static str, komainu_store::Applied)>,
) -> impl Fn(&mut String) + Send + Sync + 'static {
    move |out| {
        let revision = store.revision();
        prom::family(
            out,
            "komainu_store_info",
            Metric::Gauge,
            "The store engine.",
        );
        prom::sample(out, "komainu_store_info", &format!("engine=\"{kind}\""), 1);
        let help = "The store's last committed change.";
        prom::single(out, "komainu_store_revision", Metric::Gauge, help, revision);
        let lag = "komainu_store_feed_lag";
        let help = "Changes committed that a follower of the store's feed has not applied yet.";
        prom::family(out, lag, Metric::Gauge, help);
        for (name, applied) in &followers {
            let behind = revision.saturating_sub(applied.get());
            prom::sample(out, lag, &format!("follower=\"{name}\""), behind);
        }
    }
}

/// The cluster's signing key (what CanaryMode signs client ids with): made at the first start
/// and kept in the store, so every node checks what another signed.
async fn signing_key(store: &dyn Store) -> anyhow::Result<Vec<u8>> {
    const KEY: &str = "signing_key";
    let read = |v: Option<Value>| {
        v.and_then(|v| v.as_str().map(str::to_string))
            .filter(|hex| hex.len() == 64)
            .and_then(|hex| {
                (0..32)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                    .collect::<Option<Vec<u8>>>()
            })
    };
    if let Some(key) = read(store.meta(KEY).await?) {
        return Ok(key);
    }
    let fresh: [u8; 32] = rand::random();
    let hex: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
    store.set_meta(KEY, &Value::String(hex)).await?;
    // Read back: of two nodes starting at once, both keep the one written last.
    Ok(read(store.meta(KEY).await?).unwrap_or(fresh.to_vec()))
}

/// Admin credentials from `KOMAINU_ADMIN_CLIENT_ID` / `KOMAINU_ADMIN_CLIENT_SECRET`.
fn admin_credentials_from_env() -> anyhow::Result<Option<(String, String)>> {
    let id = std::env::var("KOMAINU_ADMIN_CLIENT_ID")
        .ok()
        .filter(|v| !v.is_empty());
    let secret = std::env::var("KOMAINU_ADMIN_CLIENT_SECRET")
        .ok()
        .filter(|v| !v.is_empty());
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Some((id, secret))),
        (None, None) => Ok(None),
        _ => bail!("set both KOMAINU_ADMIN_CLIENT_ID and KOMAINU_ADMIN_CLIENT_SECRET, or neither"),
    }
}

pub async fn run(storage_args: &StorageArgs, args: ServeArgs) -> anyhow::Result<()> {
    // Registered first: a SIGTERM that arrives while the node is still loading is held and
    // drains it once it serves, rather than killing it at once (the signal's default).
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    let limits = args.limits.limits()?;
    let (listeners, announcer) = listeners::Listeners::bind(&args)?;
    let listening = announcer.listening;
    let announce = || announcer.announce();
    let listeners::Listeners {
        admin: admin_listener,
        proxy: proxy_listener,
        https: https_listener,
        portal: portal_listener,
    } = listeners;
    let proxy_listener = proxy_listener.into_std()?;
    let store =
        crate::waiting::open(storage_args, &[&proxy_listener, &admin_listener], &announce).await?;
    let proxy_listener = TcpListener::from_std(proxy_listener)?;
    let auth = AdminAuth::bootstrap(&*store, admin_credentials_from_env()?).await?;
    let ready = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(Metrics::default());
    let events = args
        .events
        .clone()
        .map(|d| komainu_observe::Events::start(d, args.events_buffer));
    ensure_default_group(&*store).await?;
    let fetcher = args.fetch.fetcher();
    let keys = KeyService::start(store.clone(), args.quotas_timezone)
        .await
        .context("cannot load API keys")?;
    let notifier = komainu_notify::Notifier::start(args.notify()?, store.clone())
        .map_err(anyhow::Error::msg)?;
    {
        let notifier = notifier.clone();
        keys.watch_quotas(move |c| notifier.notify(quota_job(c)));
    }
    let admin = Admin::new(
        store.clone(),
        auth,
        ready.clone(),
        metrics.clone(),
        storage::plugin_check(),
    )
    .with_keys(keys.clone(), args.testing_clock)
    .with_notifier(notifier.clone())
    .with_openapi_limit(args.openapi_max_bytes)
    .with_events(events.clone())
    .with_memory_release(release_unused_memory)
    .with_fetcher(fetcher.clone())
    .with_store_kind(engine_name(&storage_args.store))
    .with_plugin_catalog(komainu_plugins::registry::catalog);
    // The admin API, and the config file's reloads, run on their own thread: parsing and
    // validating a large or hostile document never takes time from the proxy's workers.
    let admin_rt = admin_runtime()?;

    demo::apply(&admin, args.demo).await?;
    if let Some(path) = &args.config {
        config_file::load(&admin, path).await?;
        admin_rt.spawn(config_file::watch(admin.clone(), path.clone()));
    }

    let counters = komainu_runtime::load_counters(&*store, &keys, args.limits.counters())
        .await
        .context("cannot load the limit plugins' counters")?;
    komainu_runtime::spawn_counters(counters.clone(), store.clone(), keys.clone());
    let signing_key = signing_key(&*store).await?;
    let portal_url: Arc<str> = match &args.portal_url {
        Some(url) => url.trim_end_matches('/').into(),
        None => format!("http://localhost:{}", portal_listener.local_addr()?.port()).into(),
    };
    let services = Services {
        portal_url: Some(portal_url.clone()),
        keys: Some(keys.clone()),
        counters: counters.clone(),
        sandbox: Some(args.sandbox.start()?),
        jwks: Arc::new(komainu_plugins::jwks::Jwks::new(fetcher.clone())),
        signing: Arc::new(komainu_plugins::SigningKey::new(signing_key.clone())),
        ..Services::default()
    };
    crate::certificates::ensure_default(&*store).await?;
    let tls = komainu_tls::TlsServer::new(args.tls_client_auth);
    let runtime = Runtime::start(store.clone(), services, Some(tls.clone()))
        .await
        .context("cannot load the configuration")?;
    let tracer = tracer(&args)?;
    let sinks = Sinks {
        access_log: args.access_log.then(AccessLog::start),
        events: events.clone(),
        tracer: tracer.clone(),
        capture_max: args.capture_max_bytes,
    };
    let analytics = komainu_observe::Analytics::new(runtime.stats.clone());
    analytics.spawn();
    let trial_token = komainu_http::trial::TrialToken::new(rand::random());
    let config = ProxyConfig {
        limits,
        trusted_proxies: TrustedProxies(args.trusted_proxies.clone()),
        trial: Some(trial_token.clone()),
    };
    let live = komainu_admin::Live {
        followers: vec![runtime.applied.clone(), keys.applied.clone()],
        generation: {
            let runtime = runtime.clone();
            Arc::new(move || runtime.snapshot().generation)
        },
    };
    let admin = admin.with_analytics(analytics).with_live(live.clone());
    let runtime_applied = runtime.applied.clone();
    let runtime_applied_for_members = runtime.applied.clone();
    let proxy = Arc::new(Proxy::new(runtime, sinks, config));
    let for_metrics = proxy.clone();
    metrics.add_source(move |out| for_metrics.render_metrics(out));
    let followers = vec![("routing", runtime_applied), ("keys", keys.applied.clone())];
    metrics.add_source(store_metrics(
        store.clone(),
        engine_name(&storage_args.store),
        followers,
    ));

    let scheduler = match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => "one thread",
        _ => "multi-threaded",
    };
    tracing::info!(scheduler, "async runtime");
    // What was stored while starting (demo, config file, default certificate) serves from the
    // node's first answer; a node slower than that to apply it answers, but `/ready` waits for it.
    let started_at = store.revision();
    let caught_up = live
        .applied_within(started_at, "what the node wrote while starting")
        .await;
    start_heartbeat(
        store.clone(),
        node_id(&args, proxy_listener.local_addr()?.port()),
        proxy_listener.local_addr()?.to_string(),
        admin_listener.local_addr()?.to_string(),
        runtime_applied_for_members,
        engine_name(&storage_args.store).to_string(),
        keys.clone(),
    )
    .await;
    announce();
    if !tls.has_certificates() {
        tracing::warn!(
            "no server certificate can be served: TLS handshakes fail until one is stored (POST /api/certificates or /api/pki/certs)"
        );
    }
    let gateway_url = args.portal_gateway_url.clone().unwrap_or_else(|| {
        let port = proxy_listener.local_addr().map_or(8080, |a| a.port());
        format!("http://localhost:{port}")
    });

    release_unused_memory();
    // Raised here when the followers caught up above, so the first `/ready` says so; a task
    // raises it once a slower one has.
    ready.store(caught_up, Ordering::Release);
    let raise_ready = {
        let ready = ready.clone();
        tokio::spawn(async move {
            live.reached(started_at).await;
            ready.store(true, Ordering::Release);
        })
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let drain = Duration::from_secs(args.drain_timeout);
    let proxy_task = tokio::spawn(komainu_proxy::serve(
        proxy_listener,
        proxy.clone(),
        None,
        stopped(stop_rx.clone()),
        drain,
    ));
    let https_task = tokio::spawn(komainu_proxy::serve(
        https_listener,
        proxy,
        Some(tls),
        stopped(stop_rx.clone()),
        drain,
    ));
    // The admin UI and the portal call the admin API in-process, on the admin runtime.
    let admin_api = admin.clone().router();
    let web = komainu_web::Web::new(
        admin,
        admin_api.clone(),
        store.clone(),
        komainu_web::PortalSettings {
            signup: args.portal_signup,
            gateway: gateway_url.trim_end_matches('/').to_string(),
            trial_url: local_url(listening[1].1),
            trial_token,
            fetcher,
            url: portal_url.to_string(),
            notifier: notifier.mails().then(|| notifier.clone()),
            link_key: signing_key,
        },
    )
    .await;
    let portal_app = web.portal();
    let portal_task = admin_rt.spawn(serve_app(portal_listener, portal_app, stop_rx.clone()));
    let admin_app = admin_api.merge(web.admin_ui());
    let admin_task = admin_rt.spawn(serve_app(admin_listener, admin_app, stop_rx));

    shutdown_signal(term).await;
    raise_ready.abort();
    ready.store(false, Ordering::Release);
    let _ = stop_tx.send(true);
    let _ = proxy_task.await;
    let _ = https_task.await;
    persist_counts(&keys, &counters, &*store).await;
    if let Some(t) = &tracer {
        t.shutdown();
    }
    if let Ok(Err(e)) = admin_task.await {
        tracing::error!(error = %e, "admin listener failed");
    }
    if let Ok(Err(e)) = portal_task.await {
        tracing::error!(error = %e, "portal listener failed");
    }
    if let Some(events) = &events {
        events.close(drain).await;
    }
    drop(admin_rt);
    tracing::info!("stopped");
    Ok(())
}

/// The store engine's name, never its URL (which may hold a password).
fn engine_name(store: &str) -> &'static str {
    if store == "embedded" {
        "embedded"
    } else {
        "redis"
    }
}

/// This node's name: `--node-id`, else the host name and the proxy's port.
fn node_id(args: &ServeArgs, port: u16) -> String {
    args.node_id.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "komainu".into());
        format!("{host}:{port}")
    })
}

/// This node's heartbeat in the store (what `/api/cluster/members` lists), current for 10 s and
/// renewed every 2 s. The first is stored before the node announces its listeners, so a node is
/// listed from its first answer; one that stops is gone from the list within 10 s.
async fn start_heartbeat(
    store: Arc<dyn Store>,
    id: String,
    address: String,
    admin: String,
    applied: komainu_store::Applied,
    engine: String,
    keys: Arc<KeyService>,
) {
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    };
    let started = now_ms();
    let beat = move || {
        let now = now_ms();
        let member = serde_json::json!({
            "id": id,
            "address": address,
            "admin": admin,
            "version": env!("CARGO_PKG_VERSION"),
            "revision": applied.get(),
            "started_at": started,
            "last_seen": now,
            "store": engine,
            "jobs": keys.runs_jobs(),
        });
        let store = store.clone();
        async move {
            if let Err(e) = store.heartbeat(&member, now, 10_000).await {
                tracing::debug!(error = %e, "heartbeat not stored");
            }
        }
    };
    beat().await;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.tick().await; // the first tick is immediate: that beat was just stored
        loop {
            tick.tick().await;
            beat().await;
        }
    });
}

/// The admin API's runtime, shut down without blocking when dropped (a runtime may not be dropped
/// the usual way from inside another).
struct AdminRuntime(Option<tokio::runtime::Runtime>);

impl AdminRuntime {
    fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.as_ref().expect("running").spawn(future)
    }
}

impl Drop for AdminRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Creates the `default` service group routes belong to unless told otherwise (as Otoroshi has).
async fn ensure_default_group(store: &dyn Store) -> anyhow::Result<()> {
    if store.get(Kind::Group, "default").await?.is_none() {
        let group = json!({"id": "default", "name": "Default group", "description": "The group routes belong to by default"});
        let doc = komainu_model::template(Kind::Group);
        let mut doc = doc.as_object().cloned().unwrap_or_default();
        doc.extend(group.as_object().cloned().unwrap_or_default());
        match store
            .put(
                Kind::Group,
                "default",
                &Value::Object(doc),
                WriteMode::Create,
            )
            .await
        {
            Ok(()) | Err(komainu_store::StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Raises the soft limit of open files to the hard one: each client connection and each upstream
/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal(mut term: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutdown requested: draining");
}

/// Loading the configuration parsed every document once (100,000 keys: hundreds of MB of
/// transient JSON); give the pages it freed back to the system instead of keeping them resident.
fn release_unused_memory() {
    // SAFETY: mi_collect only walks the allocator's own free lists; it is safe to call at any time.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// What a quota crossing tells the subscription's developer.
fn quota_job(c: komainu_keys::Crossing) -> komainu_notify::Job {
    komainu_notify::Job::Quota {
        level: if c.percent >= 100 {
            komainu_notify::QuotaLevel::Exhausted
        } else {
            komainu_notify::QuotaLevel::Warning
        },
        subscription: c.subscription,
        window: c.window,
        used: c.used,
        quota: c.quota,
        ends_at_ms: c.ends_at_ms,
    }
}
