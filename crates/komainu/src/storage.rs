//! Opening the configured store, and the offline `import` / `export` commands.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use komainu_admin::{ImportMode, PluginCheck};
use komainu_store::{EmbeddedStore, Store};

use crate::cli::{OpenapiImport, StorageArgs};

/// The key prefix every node of one cluster shares in Redis.
const REDIS_PREFIX: &str = "komainu";

pub async fn open(args: &StorageArgs) -> anyhow::Result<Arc<dyn Store>> {
    match args.store.as_str() {
        "embedded" => {
            let store = EmbeddedStore::open(&args.data_dir)
                .with_context(|| format!("cannot open the store in {}", args.data_dir.display()))?;
            Ok(Arc::new(store))
        }
        url if url.starts_with("redis://") || url.starts_with("rediss://") => {
            let ca = match &args.store_ca {
                Some(path) => Some(
                    std::fs::read(path)
                        .with_context(|| format!("--store-ca {}", path.display()))?,
                ),
                None => None,
            };
            let store = komainu_store::RedisStore::connect(url, REDIS_PREFIX, ca)
                .await
                .context("cannot connect to the Redis store")?;
            Ok(Arc::new(store))
        }
        other => bail!("unknown store \"{other}\": use \"embedded\" or a redis:// URL"),
    }
}

/// Reads a JSON or YAML document (YAML when the file says so by its extension).
pub fn read_document(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    komainu_admin::parse_document(text.as_bytes(), yaml)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// What the admin API checks plugin slots with: the plugin registry.
pub fn plugin_check() -> PluginCheck {
    Arc::new(komainu_plugins::registry::check)
}

pub async fn import_file(args: &StorageArgs, file: &Path, replace: bool) -> anyhow::Result<()> {
    let doc = read_document(file)?;
    let store = open(args).await?;
    let mode = if replace {
        ImportMode::Replace
    } else {
        ImportMode::Merge
    };
    match komainu_admin::import(&*store, doc, mode, plugin_check()).await {
        Ok(report) => {
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Err(e) => {
            for d in &e.details {
                eprintln!("  {}: {}", d.path, d.message);
            }
            bail!("import refused, nothing was written: {}", e.error)
        }
    }
}

/// `komainu openapi import`: the API an OpenAPI document describes and the document itself
/// (an `ApiDocument`), written together like an import.
pub async fn import_openapi(args: &StorageArgs, cmd: &OpenapiImport) -> anyhow::Result<()> {
    let file = &cmd.file;
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    if size > cmd.max_bytes as u64 {
        bail!(
            "{} is {size} bytes, more than --max-bytes {}",
            file.display(),
            cmd.max_bytes
        );
    }
    let spec = read_document(file)?;
    let source = komainu_apim::openapi::Source {
        domain: cmd.domain.clone(),
        context_path: cmd.context_path.clone(),
        id: cmd.id.clone(),
        backend: cmd.backend.clone(),
        name: file.file_stem().map(|s| s.to_string_lossy().into_owned()),
    };
    let imported = komainu_apim::openapi::import(&spec, &source).map_err(|errors| {
        for e in &errors {
            eprintln!("  {}: {}", e.path, e.message);
        }
        anyhow::anyhow!(
            "{} is not an OpenAPI document Komainu can import",
            file.display()
        )
    })?;
    let id = imported.api["id"].as_str().unwrap_or_default().to_string();
    let store = open(args).await?;
    if !cmd.replace && store.get(komainu_model::Kind::Api, &id).await?.is_some() {
        bail!(
            "an API with id \"{id}\" exists: pass --replace to overwrite it, or --id to choose another id"
        );
    }
    let document = komainu_apim::openapi::document(&id, spec);
    let doc = serde_json::json!({"apiDocuments": [document], "apis": [imported.api]});
    if let Err(e) = komainu_admin::import(&*store, doc, ImportMode::Merge, plugin_check()).await {
        for d in &e.details {
            eprintln!("  {}: {}", d.path, d.message);
        }
        bail!("import refused, nothing was written: {}", e.error)
    }
    for s in &imported.skipped {
        let method = s.method.as_deref().unwrap_or("*");
        eprintln!("  skipped {method} {}: {}", s.path, s.reason);
    }
    println!("created API {id} (staging): publish it with POST /api/apis/{id}/_publish");
    Ok(())
}

/// The store, which must exist already: reading a data dir that is not there is a mistake
/// (a typo in `--data-dir`), not an empty export.
async fn open_existing(args: &StorageArgs) -> anyhow::Result<Arc<dyn Store>> {
    if args.store == "embedded" && !EmbeddedStore::exists(&args.data_dir) {
        bail!(
            "no Komainu store in {}: check --data-dir (KOMAINU_DATA_DIR)",
            args.data_dir.display()
        );
    }
    open(args).await
}

pub async fn export(args: &StorageArgs, output: Option<&Path>, yaml: bool) -> anyhow::Result<()> {
    let store = open_existing(args).await?;
    let doc = komainu_admin::export(&*store).await?;
    let text = if yaml {
        serde_norway::to_string(&doc)?
    } else {
        serde_json::to_string_pretty(&doc)? + "\n"
    };
    match output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}
