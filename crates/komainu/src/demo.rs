//! The demo API of `serve --demo`: answered by the gateway itself, so it works with no upstream,
//! on any host (`curl localhost:8080/demo/hello`, `curl 127.0.0.1:8080/demo/hello`). It belongs to
//! `--demo` as a config file's entities belong to the file: each start with `--demo` writes it
//! again, and a start without `--demo` removes it.

use komainu_admin::Admin;
use serde_json::{Value, json};

pub const DEMO_API_ID: &str = "api_komainu_demo";

fn document() -> Value {
    json!({
        "id": DEMO_API_ID,
        "name": "Komainu demo",
        "description": "Answers GET /demo/hello on any host, from the gateway itself",
        "domain": "",
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
        "documentation": {
            "enabled": true,
            "home": {"content_type": "text/markdown", "text_content": DEMO_HOME},
            "resources": [{
                "path": ["getting-started"],
                "title": "Getting started",
                "content_type": "text/markdown",
                "text_content": DEMO_GETTING_STARTED,
            }],
            "plans": [{
                "id": "demo_open",
                "name": "Open",
                "description": "No credentials: anyone may call the demo API.",
                "status": "published",
                "access_mode_configuration_type": "keyless",
            }],
        },
        "routes": [{
            "id": "demo_hello",
            "name": "Hello",
            "frontend": {"domains": ["/hello"], "methods": ["GET"]},
            "backend": "demo_backend"
        }]
    })
}

const DEMO_HOME: &str = "# Komainu demo\n\nThe gateway answers this API itself: \
`GET /demo/hello` returns a greeting as JSON.\n\n```sh\ncurl http://localhost:8080/demo/hello\n```\n";

const DEMO_GETTING_STARTED: &str = "# Getting started\n\n1. Call `GET /demo/hello` on the gateway.\n\
2. Read the answer: `{\"message\":\"hello from komainu\"}`.\n\nThe *Open* plan needs no credentials.\n";

/// What `--demo` owns in the store.
const SOURCE: &str = "--demo";

/// Stores the demo API (`on`), or removes it (`!on`) when an earlier `--demo` left it.
pub async fn apply(admin: &Admin, on: bool) -> anyhow::Result<()> {
    let doc = if on {
        json!({ "apis": [document()] })
    } else {
        json!({})
    };
    let report = admin
        .import_declared(doc, SOURCE)
        .await
        .map_err(|e| anyhow::anyhow!("demo API refused: {} {:?}", e.error, e.details))?;
    if on {
        tracing::info!("demo API installed: curl http://localhost:8080/demo/hello");
    } else if report.get("deleted").is_some() {
        tracing::info!("demo API removed (start with --demo to serve it)");
    }
    Ok(())
}
