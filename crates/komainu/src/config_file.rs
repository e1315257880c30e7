//! The declarative config file (`--config`): an export document whose entities it owns, loaded at
//! start and again whenever the file changes (polled every second: cheap, and works on every
//! filesystem). An entity removed from the file is removed from the gateway; entities created
//! through the admin API are left alone.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::bail;
use komainu_admin::Admin;

use crate::storage::read_document;

pub async fn load(admin: &Admin, path: &Path) -> anyhow::Result<()> {
    let doc = read_document(path)?;
    let source = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match admin
        .import_declared(doc, &source.display().to_string())
        .await
    {
        Ok(report) => {
            tracing::info!(file = %path.display(), imported = %report["imported"], deleted = %report["deleted"], "config file loaded");
            for w in report["warnings"].as_array().into_iter().flatten() {
                tracing::warn!(file = %path.display(), path = %w["path"], "{}", w["message"].as_str().unwrap_or_default());
            }
            Ok(())
        }
        Err(e) => {
            for d in &e.details {
                tracing::error!(path = %d.path, "{}", d.message);
            }
            bail!("config file {} refused: {}", path.display(), e.error)
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reloads the file after each change; a bad version is logged and the previous state kept.
pub async fn watch(admin: Admin, path: PathBuf) {
    let mut last = modified(&path);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = modified(&path);
        if now != last {
            last = now;
            if let Err(e) = load(&admin, &path).await {
                tracing::error!("{e:#}");
            }
        }
    }
}
