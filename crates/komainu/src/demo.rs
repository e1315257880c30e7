//! The demo API of `serve --demo`: answered by the gateway itself, so it works with no upstream.
//! It is stored like any API (created once; edits through the admin API are kept).

use komainu_admin::{Admin, ImportMode};
use serde_json::{Value, json};

pub const DEMO_API_ID: &str = "api_komainu_demo";

fn document() -> Value {
    json!({
        "id": DEMO_API_ID,
        "name": "Komainu demo",
        "description": "Answers GET /demo/hello on localhost, from the gateway itself",
        "domain": "localhost",
        "context_path": "/demo",
        "state": "published",
        "backends": [{
            "id": "demo_backend",
            "name": "unused: the flow answers first",
            "backend": {"targets": [{"hostname": "127.0.0.1", "port": 9}]}
        }],
        "flows": [{
            "id": "default_plugin_chain",
            "name": "Demo flow",
            "plugins": {"slots": [
                {"plugin": "cp:otoroshi.next.plugins.OverrideHost"},
                {"plugin": "cp:otoroshi.next.plugins.StaticResponse", "config": {
                    "status": 200,
                    "headers": {"content-type": "application/json"},
                    "body": "{\"message\":\"hello from komainu\"}"
                }}
            ]}
        }],
        "routes": [{
            "id": "demo_hello",
            "name": "Hello",
            "frontend": {"domains": ["localhost/hello"], "methods": ["GET"]},
            "backend": "demo_backend"
        }]
    })
}

/// Stores the demo API unless it is there already.
pub async fn install(admin: &Admin) -> anyhow::Result<()> {
    if admin.exists(komainu_model::Kind::Api, DEMO_API_ID).await? {
        return Ok(());
    }
    admin
        .import(json!({ "apis": [document()] }), ImportMode::Merge)
        .await
        .map_err(|e| anyhow::anyhow!("demo API refused: {} {:?}", e.error, e.details))?;
    tracing::info!("demo API installed: curl http://localhost:8080/demo/hello");
    Ok(())
}
