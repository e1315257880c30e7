//! SecurityHeadersPlugin: the response's security headers, as Otoroshi sets them: `frame_options`
//! (`DENY`, `SAMEORIGIN`), `xss_protection` (`OFF`, `ON`, `BLOCK`), `content_type_options`
//! (`nosniff`), `hsts` (`enabled`, `max_age`, `include_subdomains`, `preload`; over TLS only unless
//! `on_http`), `csp` (`mode` `ENABLED` / `REPORT_ONLY`, `csp`), `referrer_policy`,
//! `permissions_policy` (`enabled`, `policy`). A header set to `DISABLED` (or turned off) is
//! removed from the response, the backend's included: the plugin owns these headers.

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Response, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Body, Plugin, RequestCtx, config};

#[derive(Clone, Copy, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "UPPERCASE")]
enum FrameOptions {
    Deny,
    Sameorigin,
    #[default]
    Disabled,
}

#[derive(Clone, Copy, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "UPPERCASE")]
enum XssProtection {
    Off,
    On,
    Block,
    #[default]
    Disabled,
}

#[derive(Clone, Copy, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum CspMode {
    Enabled,
    ReportOnly,
    #[default]
    Disabled,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Hsts {
    enabled: bool,
    include_subdomains: bool,
    max_age: u64,
    preload: bool,
    on_http: bool,
}

impl Default for Hsts {
    fn default() -> Self {
        Hsts {
            enabled: false,
            include_subdomains: false,
            max_age: 3600,
            preload: false,
            on_http: false,
        }
    }
}

#[derive(Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Csp {
    mode: CspMode,
    csp: String,
}

#[derive(Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Permissions {
    enabled: bool,
    policy: String,
}

#[derive(Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    frame_options: FrameOptions,
    xss_protection: XssProtection,
    content_type_options: bool,
    hsts: Hsts,
    csp: Csp,
    /// A Referrer-Policy value (`no-referrer`, `strict-origin-when-cross-origin`, ...) or `DISABLED`.
    referrer_policy: Option<String>,
    permissions_policy: Permissions,
}

const REFERRER_POLICIES: [&str; 8] = [
    "no-referrer",
    "no-referrer-when-downgrade",
    "origin",
    "origin-when-cross-origin",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
];

const PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");
const XSS: HeaderName = HeaderName::from_static("x-xss-protection");
const CSP_REPORT_ONLY: HeaderName = HeaderName::from_static("content-security-policy-report-only");

struct SecurityHeaders {
    /// Headers set on every response.
    set: Vec<(HeaderName, HeaderValue)>,
    /// Strict-Transport-Security, and whether plain-HTTP responses get it too.
    hsts: Option<(HeaderValue, bool)>,
    /// Headers the plugin owns but does not set: removed.
    removed: Vec<HeaderName>,
}

impl Plugin for SecurityHeaders {
    fn transform_response(&self, resp: &mut Response<Body>, ctx: &mut RequestCtx) {
        let h = resp.headers_mut();
        for n in &self.removed {
            h.remove(n);
        }
        for (n, v) in &self.set {
            h.insert(n.clone(), v.clone());
        }
        match &self.hsts {
            Some((v, on_http)) if ctx.https || *on_http => {
                h.insert(header::STRICT_TRANSPORT_SECURITY, v.clone());
            }
            _ => {
                h.remove(header::STRICT_TRANSPORT_SECURITY);
            }
        }
    }
}

fn value(text: &str, at: &str) -> Result<HeaderValue, ConfigError> {
    HeaderValue::try_from(text.trim()).map_err(|_| ConfigError::at(at, "not a valid header value"))
}

fn build(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let mut set = Vec::new();
    let mut removed = Vec::new();
    match cfg.frame_options {
        FrameOptions::Deny => set.push((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"))),
        FrameOptions::Sameorigin => set.push((
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        )),
        FrameOptions::Disabled => removed.push(header::X_FRAME_OPTIONS),
    }
    match cfg.xss_protection {
        XssProtection::Off => set.push((XSS, HeaderValue::from_static("0"))),
        XssProtection::On => set.push((XSS, HeaderValue::from_static("1"))),
        XssProtection::Block => set.push((XSS, HeaderValue::from_static("1; mode=block"))),
        XssProtection::Disabled => removed.push(XSS),
    }
    if cfg.content_type_options {
        set.push((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    } else {
        removed.push(header::X_CONTENT_TYPE_OPTIONS);
    }
    match cfg.csp.mode {
        CspMode::Enabled => {
            set.push((
                header::CONTENT_SECURITY_POLICY,
                value(&cfg.csp.csp, "csp.csp")?,
            ));
            removed.push(CSP_REPORT_ONLY);
        }
        CspMode::ReportOnly => {
            set.push((CSP_REPORT_ONLY, value(&cfg.csp.csp, "csp.csp")?));
            removed.push(header::CONTENT_SECURITY_POLICY);
        }
        CspMode::Disabled => removed.extend([header::CONTENT_SECURITY_POLICY, CSP_REPORT_ONLY]),
    }
    match cfg.referrer_policy.as_deref() {
        None | Some("DISABLED") => removed.push(header::REFERRER_POLICY),
        Some(p) if REFERRER_POLICIES.contains(&p.to_ascii_lowercase().as_str()) => {
            set.push((
                header::REFERRER_POLICY,
                value(&p.to_ascii_lowercase(), "referrer_policy")?,
            ));
        }
        Some(p) => {
            return Err(ConfigError::at(
                "referrer_policy",
                format!("\"{p}\" is not a Referrer-Policy"),
            ));
        }
    }
    if cfg.permissions_policy.enabled {
        set.push((
            PERMISSIONS_POLICY,
            value(&cfg.permissions_policy.policy, "permissions_policy.policy")?,
        ));
    } else {
        removed.push(PERMISSIONS_POLICY);
    }
    let hsts = cfg.hsts.enabled.then(|| {
        let mut v = format!("max-age={}", cfg.hsts.max_age);
        if cfg.hsts.include_subdomains {
            v.push_str("; includeSubDomains");
        }
        if cfg.hsts.preload {
            v.push_str("; preload");
        }
        (
            HeaderValue::try_from(v).expect("digits and ascii"),
            cfg.hsts.on_http,
        )
    });
    Ok(Arc::new(SecurityHeaders { set, hsts, removed }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "SecurityHeadersPlugin",
    title: "Security Headers",
    description: "Inject common HTTP security headers on responses (HSTS, CSP, XFO, X-XSS-Protection, X-Content-Type-Options, Referrer-Policy, Permissions-Policy)",
    categories: &["Security"],
    steps: &["TransformResponse"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};
