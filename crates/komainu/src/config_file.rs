//! The declarative config file (`--config`): an export document merged into the store at start
//! and again whenever the file changes (polled every second: cheap, and works on every filesystem).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::bail;
use komainu_admin::{Admin, ImportMode};

use crate::storage::read_document;

pub async fn load(admin: &Admin, path: &Path) -> anyhow::Result<()> {
    let doc = read_document(path)?;
    match admin.import(doc, ImportMode::Merge).await {
        Ok(report) => {
            tracing::info!(file = %path.display(), imported = %report["imported"], "config file loaded");
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
