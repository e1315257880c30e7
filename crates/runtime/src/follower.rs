//! Holds the current snapshot and rebuilds it from the store's change feed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use komainu_model::Kind;
use komainu_observe::Registry;
use komainu_plugins::Services;
use komainu_store::{Applied, Change, Store, StoreResult};
use komainu_tls::TlsServer;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::compile::compile;
use crate::entities::ROUTING_KINDS;
use crate::{Entities, Snapshot};

pub struct Runtime {
    current: ArcSwap<Snapshot>,
    services: Services,
    /// The store revision the current snapshot holds.
    pub applied: Applied,
    /// The TLS listener, told of certificate and TLS settings changes.
    tls: Option<Arc<TlsServer>>,
    /// Every route's counters, kept across snapshots.
    pub stats: Arc<Registry>,
    /// How long the current snapshot took to build, in microseconds.
    pub build_us: AtomicU64,
}

impl Runtime {
    /// The snapshot to serve a request with (held by the request until it ends).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Loads every entity, compiles the first snapshot, and follows the store's changes; `tls`
    /// gets the certificates and TLS settings whenever they change.
    pub async fn start(
        store: Arc<dyn Store>,
        services: Services,
        tls: Option<Arc<TlsServer>>,
    ) -> StoreResult<Arc<Runtime>> {
        // Subscribe first: a change made while loading is then seen again, never missed.
        let feed = store.changes();
        let loaded_at = store.revision();
        let entities = Entities::load(&*store).await?;
        let stats = Arc::new(Registry::default());
        let started = Instant::now();
        let first = build(
            entities.clone(),
            services.clone(),
            None,
            1,
            true,
            stats.clone(),
        )
        .await;
        let build_us = AtomicU64::new(started.elapsed().as_micros() as u64);
        if let Some(tls) = &tls {
            tls.update(first.certs.clone(), entities.global.tls_settings.clone());
        }
        let runtime = Arc::new(Runtime {
            current: ArcSwap::from_pointee(first),
            services,
            applied: Applied::default(),
            tls,
            stats,
            build_us,
        });
        runtime.applied.set(loaded_at);
        tokio::spawn(follow(Arc::downgrade(&runtime), store, entities, feed));
        Ok(runtime)
    }
}

async fn build(
    entities: Entities,
    services: Services,
    previous: Option<Arc<Snapshot>>,
    generation: u64,
    certs_changed: bool,
    stats: Arc<Registry>,
) -> Snapshot {
    let started = Instant::now();
    let snapshot = tokio::task::spawn_blocking(move || {
        compile(
            &entities,
            &services,
            previous.as_deref(),
            generation,
            certs_changed,
            &stats,
        )
    })
    .await
    .expect("compiling a snapshot does not panic");
    for p in &snapshot.problems {
        tracing::warn!("{p}");
    }
    tracing::info!(
        generation,
        routes = snapshot.router.len(),
        took_ms = started.elapsed().as_secs_f64() * 1000.0,
        "routing snapshot built"
    );
    snapshot
}

/// Waits for changes, applies every change already queued (a burst costs one rebuild), rebuilds.
async fn follow(
    runtime: std::sync::Weak<Runtime>,
    store: Arc<dyn Store>,
    mut entities: Entities,
    mut feed: tokio::sync::broadcast::Receiver<Change>,
) {
    // After a failed read of the store, everything is reloaded (what failed is not known).
    let mut retry = false;
    loop {
        let mut changes: Vec<Option<Change>> = if retry {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            vec![None]
        } else {
            match feed.recv().await {
                Ok(c) => vec![Some(c)],
                Err(RecvError::Lagged(_)) => vec![None],
                Err(RecvError::Closed) => return,
            }
        };
        retry = false;
        loop {
            match feed.try_recv() {
                Ok(c) => changes.push(Some(c)),
                Err(TryRecvError::Lagged(_)) => changes.push(None),
                Err(_) => break,
            }
        }
        // What the snapshot holds once this batch is in: the batch's last change, or after a
        // lag (missed changes) everything committed before the full reload starts.
        let lagged = changes.iter().any(Option::is_none);
        let revision = if lagged {
            store.revision()
        } else {
            changes.iter().flatten().map(|c| c.seq).max().unwrap_or(0)
        };
        let relevant: Vec<Option<Change>> = changes
            .into_iter()
            .filter(|c| c.as_ref().is_none_or(|c| ROUTING_KINDS.contains(&c.kind)))
            .collect();
        let Some(rt) = runtime.upgrade() else { return };
        if relevant.is_empty() {
            rt.applied.set(revision);
            continue;
        }
        let applied: StoreResult<()> = async {
            if relevant.iter().any(Option::is_none) {
                entities = Entities::load(&*store).await?;
            } else {
                for c in relevant.iter().flatten() {
                    entities.refresh(&*store, c.kind, c.id.as_deref()).await?;
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = applied {
            tracing::error!(error = %e, "cannot read changes from the store: keeping the current snapshot, retrying");
            retry = true;
            continue;
        }
        let changed = |kind: Kind| {
            relevant
                .iter()
                .any(|c| c.as_ref().is_none_or(|c| c.kind == kind))
        };
        let certs_changed = changed(Kind::Certificate);
        let previous = rt.snapshot();
        let generation = previous.generation + 1;
        let started = Instant::now();
        let next = build(
            entities.clone(),
            rt.services.clone(),
            Some(previous),
            generation,
            certs_changed,
            rt.stats.clone(),
        )
        .await;
        rt.build_us
            .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        if let Some(tls) = &rt.tls
            && (certs_changed || changed(Kind::GlobalConfig))
        {
            tls.update(next.certs.clone(), entities.global.tls_settings.clone());
        }
        rt.current.store(Arc::new(next));
        rt.applied.set(revision);
    }
}
