//! `komainu serve`: opens the store, bootstraps admin credentials, starts the listeners and drains
//! them on SIGTERM / Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use komainu_admin::{Admin, AdminAuth, Metrics};
use tokio::net::TcpListener;

use crate::cli::{ServeArgs, StorageArgs};
use crate::{config_file, storage};

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
    let store = storage::open(storage_args)?;
    let auth = AdminAuth::bootstrap(&*store, admin_credentials_from_env()?).await?;
    let ready = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(Metrics::default());
    let admin = Admin::new(
        store.clone(),
        auth,
        ready.clone(),
        metrics,
        storage::plugin_check(),
    );

    if let Some(path) = &args.config {
        config_file::load(&admin, path).await?;
        tokio::spawn(config_file::watch(admin.clone(), path.clone()));
    }

    let admin_listener = TcpListener::bind(args.admin_addr)
        .await
        .with_context(|| format!("cannot listen on {} (admin)", args.admin_addr))?;
    tracing::info!(addr = %admin_listener.local_addr()?, "admin API listening");
    ready.store(true, Ordering::Release);

    axum::serve(admin_listener, admin.router())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("admin listener failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutdown requested: draining");
}
