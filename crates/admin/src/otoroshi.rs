//! Otoroshi's operational endpoints, in Otoroshi's shapes, so that its tooling (otoroshictl, the
//! Terraform provider, scripts) works unchanged: `/api/version`, `/api/infos`, `/api/health` (and
//! `/apis/cluster/node/health`), `/api/otoroshi.json` (full export and import), `/api/plugins/all`,
//! `/api/routes/:id/apikeys`, `/api/apikeys/:id/bearer`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use komainu_model::{ApiKey, Kind, Route, parse};
use serde_json::{Map, Value, json};

use crate::body::{self, Formats, IMPORT_LIMIT};
use crate::error::{ApiError, ApiResult};
use crate::transfer::{ImportMode, export};
use crate::{Admin, keys};

/// This build's version, exactly as Otoroshi's `Version.json` describes one (`raw`, `major`,
/// `minor`, `patch`, `build`, `suffix`, `suffix_version`, `str`, `value`): no other field, since
/// otoroshictl reads `raw` into a field it also names `version`, and both would be a duplicate.
pub(crate) fn version_json() -> Value {
    let raw = env!("CARGO_PKG_VERSION");
    let (numbers, suffix) = raw
        .split_once('-')
        .map_or((raw, None), |(n, s)| (n, Some(s)));
    let mut parts = numbers.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    let build = parts.next();
    let (suffix, suffix_version) = match suffix {
        Some(s) => {
            let name: String = s.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            let number = s[name.len()..].trim_start_matches('.').parse::<u64>().ok();
            (Some(name.to_ascii_lowercase()), number)
        }
        None => (None, None),
    };
    // Otoroshi's `value`: the digits of the number as one, less a little for a pre-release.
    let digits: String = numbers.chars().filter(char::is_ascii_digit).collect();
    let offset = match suffix.as_deref() {
        Some("dev" | "snapshot") => 0.5,
        Some("alpha") => 0.4,
        Some("beta") => 0.3,
        Some("preview") => 0.25,
        Some("rc") => 0.2,
        _ => 0.0,
    };
    let value = digits.parse::<f64>().unwrap_or(0.0) - offset;
    json!({
        "raw": raw,
        "major": major,
        "minor": minor,
        "patch": patch,
        "build": build,
        "suffix": suffix,
        "suffix_version": suffix_version,
        "str": raw,
        "value": value,
    })
}

/// `GET /api/version`.
pub(crate) async fn version() -> Json<Value> {
    Json(version_json())
}

/// `GET /api/infos`: Otoroshi's fields, with this gateway's values.
pub(crate) async fn infos(State(admin): State<Admin>) -> ApiResult<Json<Value>> {
    let cluster_id = admin.cluster_id().await?;
    Ok(Json(json!({
        "otoroshi_cluster_id": cluster_id,
        "otoroshi_version": env!("CARGO_PKG_VERSION"),
        "otoroshi_version_sem": version_json(),
        "product": "komainu",
        "java_version": {"version": "none", "vendor": "none (a native binary)"},
        "os": {
            "name": std::env::consts::OS,
            "version": os_version(),
            "arch": std::env::consts::ARCH,
        },
        "datastore": admin.store_kind,
        "env": "prod",
    })))
}

fn os_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// `GET /api/health` and `GET /apis/cluster/node/health`: Otoroshi's health document, 200 when
/// healthy, 503 otherwise.
pub(crate) async fn health(State(admin): State<Admin>) -> Response {
    let loaded = admin.ready.load(std::sync::atomic::Ordering::Acquire);
    let store_ok = admin.store.ping().await.is_ok();
    let status = |ok: bool| if ok { "healthy" } else { "unhealthy" };
    let loading = |ok: bool| if ok { "loaded" } else { "loading" };
    let payload = json!({
        "otoroshi": status(store_ok && loaded),
        "datastore": if store_ok { "healthy" } else { "unreachable" },
        "proxy": {"initialized": loaded, "status": if loaded { "healthy" } else { "down" }},
        "storage": {"initialized": true, "status": status(store_ok)},
        "eventstore": {"initialized": false, "status": "unknown"},
        "certificates": {"initialized": loaded, "status": loading(loaded)},
        "scripts": {"initialized": true, "status": "loaded"},
    });
    let code = if store_ok && loaded {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(payload)).into_response()
}

/// `GET /.well-known/otoroshi/monitoring/metrics`, as Otoroshi's `processMetrics` answers: an
/// array of series (`name`, `type` of its group, `value`) by default or with `format=json`, the
/// registry document (`gauges`, `counters`, `histograms`) with `format=old_json`, Prometheus text
/// with `format=prometheus` (or `Accept: application/prometheus`).
pub(crate) async fn monitoring_metrics(
    State(admin): State<Admin>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let text = admin.metrics.render();
    let format = query
        .as_deref()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "format"))
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let accepts_prometheus = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/prometheus"));
    match format.as_str() {
        "prometheus" | "prom" => prometheus(text),
        "old_json" | "old" => Json(registry(&text)).into_response(),
        "" if accepts_prometheus => prometheus(text),
        _ => Json(series(&registry(&text))).into_response(),
    }
}

fn prometheus(text: String) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
        .into_response()
}

/// Prometheus text as a metrics registry document: each series under its family's type.
fn registry(text: &str) -> Value {
    let mut types: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let mut groups: [(&str, Map<String, Value>); 3] = [
        ("gauges", Map::new()),
        ("counters", Map::new()),
        ("histograms", Map::new()),
    ];
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some((name, kind)) = rest.split_once(' ') {
                types.insert(name, kind);
            }
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(f) == Some(&"histogram"))
            })
            .unwrap_or(name);
        let group = match types.get(family).copied() {
            Some("counter") => 1,
            Some("histogram") => 2,
            _ => 0,
        };
        groups[group]
            .1
            .insert(series.to_string(), json!({"value": value}));
    }
    let mut doc = Map::new();
    doc.insert("version".into(), json!("4.0.0"));
    for (name, series) in groups {
        doc.insert(name.into(), Value::Object(series));
    }
    Value::Object(doc)
}

/// The registry as Otoroshi's `transformToArray` lays it out: one object per series.
fn series(registry: &Value) -> Value {
    let mut out = Vec::new();
    for (group, members) in registry.as_object().into_iter().flatten() {
        for (name, value) in members.as_object().into_iter().flatten() {
            let mut item = value.clone();
            item["name"] = json!(name);
            item["type"] = json!(group);
            out.push(item);
        }
    }
    Value::Array(out)
}

/// Otoroshi's export keys Komainu has no entities for: written empty, so the document has every
/// key Otoroshi's importer reads.
const OTOROSHI_ONLY_KEYS: [&str; 14] = [
    "admins",
    "simpleAdmins",
    "serviceDescriptors",
    "errorTemplates",
    "authConfigs",
    "clientValidators",
    "scripts",
    "tcpServices",
    "dataExporters",
    "tenants",
    "teams",
    "routeCompositions",
    "wasmPlugins",
    "extensions",
];

/// Backend client settings Komainu writes in seed 001's camelCase and Otoroshi 18 reads in
/// snake_case only.
const CLIENT_KEYS: [(&str, &str); 9] = [
    ("maxErrors", "max_errors"),
    ("retryInitialDelay", "retry_initial_delay"),
    ("backoffFactor", "backoff_factor"),
    ("connectionTimeout", "connection_timeout"),
    ("idleTimeout", "idle_timeout"),
    ("callAndStreamTimeout", "call_and_stream_timeout"),
    ("callTimeout", "call_timeout"),
    ("globalTimeout", "global_timeout"),
    ("sampleInterval", "sample_interval"),
];

fn snake_client(client: Option<&mut Value>) {
    let Some(Value::Object(c)) = client else {
        return;
    };
    for (camel, snake) in CLIENT_KEYS {
        if let Some(v) = c.remove(camel) {
            c.insert(snake.into(), v);
        }
    }
    // Otoroshi's backoff factor is a whole number.
    if let Some(f) = c.get("backoff_factor").and_then(Value::as_f64)
        && f.fract() == 0.0
    {
        c.insert("backoff_factor".into(), json!(f as i64));
    }
}

/// Rewrites every backend client config of an export in Otoroshi's spelling.
fn otoroshi_spelling(doc: &mut Map<String, Value>) {
    let each = |doc: &mut Map<String, Value>, key: &str, f: &dyn Fn(&mut Value)| {
        if let Some(Value::Array(items)) = doc.get_mut(key) {
            items.iter_mut().for_each(f);
        }
    };
    let backend_client = |b: &mut Value| snake_client(b.pointer_mut("/backend/client"));
    each(doc, "routes", &backend_client);
    each(doc, "backends", &backend_client);
    each(doc, "apis", &|api: &mut Value| {
        if let Some(Value::Array(bs)) = api.get_mut("backends") {
            bs.iter_mut().for_each(backend_client);
        }
        if let Some(Value::Array(cs)) = api.get_mut("clients_backend_config") {
            cs.iter_mut()
                .for_each(|c| snake_client(c.get_mut("client")));
        }
    });
}

/// `GET /api/otoroshi.json`: everything, in Otoroshi's full-export shape.
pub(crate) async fn export_otoroshi(State(admin): State<Admin>) -> ApiResult<Json<Value>> {
    let mut doc = export(&*admin.store).await?;
    let obj = doc.as_object_mut().expect("an export is an object");
    otoroshi_spelling(obj);
    obj.insert("label".into(), json!("Otoroshi export"));
    let now = chrono_like_now();
    obj.insert("date".into(), json!(now));
    obj.insert(
        "stats".into(),
        json!({"calls": 0, "dataIn": 0, "dataOut": 0}),
    );
    if !obj.get("config").is_some_and(Value::is_object) {
        obj.insert("config".into(), admin.global_config().await?);
    }
    for key in OTOROSHI_ONLY_KEYS {
        let empty = if key == "extensions" {
            Value::Object(Map::new())
        } else {
            Value::Array(Vec::new())
        };
        obj.entry(key).or_insert(empty);
    }
    Ok(Json(doc))
}

/// `yyyy-MM-dd hh:mm:ss` in UTC, as Otoroshi writes the export date.
fn chrono_like_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `POST /api/otoroshi.json`: an Otoroshi full export replaces the state, as in Otoroshi. Kinds
/// Komainu does not have are reported in the answer's `warnings`.
pub(crate) async fn import_otoroshi(
    State(admin): State<Admin>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let doc = body::read(&headers, body, IMPORT_LIMIT, Formats::JsonOrYaml).await?;
    Ok(Json(admin.import(doc, ImportMode::Replace).await?))
}

/// `GET /api/plugins/all`: every plugin, in Otoroshi's shape.
pub(crate) async fn plugins(State(admin): State<Admin>) -> Json<Value> {
    Json(
        admin
            .plugin_catalog
            .map_or(Value::Array(Vec::new()), |c| c()),
    )
}

/// `GET /api/routes/:id/apikeys`: the keys authorized on the route or on one of its existing groups.
pub(crate) async fn route_keys(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let doc = admin
        .store
        .get(Kind::Route, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Route \"{id}\" does not exist")))?;
    let route: Route = parse(&doc).map_err(|e| ApiError::bad_request(e.message))?;
    let mut groups = Vec::new();
    for g in &route.groups {
        if admin.store.get(Kind::Group, g).await?.is_some() {
            groups.push(g.clone());
        }
    }
    keys::keys_where(&admin, |s| {
        s.names_route(&id) || groups.iter().any(|g| s.names_group(g))
    })
    .await
}

/// `GET /api/apikeys/:id/bearer`: the key's Otoroshi bearer (`bearer_next` too while a rotation
/// shows the coming secret); `?newSecret=` gives the bearer a new secret would have.
pub(crate) async fn bearer(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let doc = admin
        .store
        .get(Kind::ApiKey, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("ApiKey with clientId '{id}' not found")))?;
    let key: ApiKey = parse(&doc).map_err(|e| ApiError::bad_request(e.message))?;
    let mut out = json!({"bearer": komainu_keys::bearer(&key.client_id, &key.client_secret)});
    if let Some(next) = key.rotation.next_secret.as_deref() {
        out["bearer_next"] = json!(komainu_keys::bearer(&key.client_id, next));
    }
    if let Some(new) = params.get("newSecret") {
        out["bearer_new"] = json!(komainu_keys::bearer(&key.client_id, new));
    }
    Ok(Json(out))
}
