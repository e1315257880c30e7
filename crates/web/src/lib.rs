//! Komainu's web faces, both server-rendered and both clients of the admin API in-process:
//! the admin UI on the admin listener (`/ui/`) and the developer portal on `--portal-addr`.
//!
//! Neither touches the store for writes: a form becomes an admin API call, so validation, effects
//! and field errors are exactly the REST API's. Every asset is compiled in; the only script is
//! `assets/komainu.js`, and pages forbid any other by their Content-Security-Policy.

// A refused session or form is a whole page answered as is; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

mod assets;
mod call;
mod form;
mod gateway;
mod markdown;
mod page;
pub(crate) mod portal;
mod schema_form;
mod session;
mod throttle;
mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use komainu_admin::Admin;
use komainu_store::Store;

use call::AdminApi;
use session::Sessions;

/// A path segment as the admin API expects it in a URL.
pub(crate) fn seg(s: &str) -> String {
    // A space is `+` in a form but only `%20` in a path (a literal `+` is already `%2B`).
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// What the portal needs to know beyond the admin API.
#[derive(Clone)]
pub struct PortalSettings {
    /// Whether anyone may create an account (`--portal-signup`).
    pub signup: bool,
    /// The gateway's address as developers call it (`http://host:port`), shown in examples.
    pub gateway: String,
    /// The proxy listener of this process (`http://127.0.0.1:port`), where "try it" calls go.
    pub trial_url: String,
    /// What vouches for the developer's address on those calls (`komainu_http::trial`).
    pub trial_token: komainu_http::trial::TrialToken,
    /// Remote documentation is fetched under the gateway's fetch policy.
    pub fetcher: Arc<komainu_fetch::Fetcher>,
    /// The portal's URL as developers reach it: what mailed links point to.
    pub url: String,
    /// Sends the account e-mails (address proof, password reset) when an SMTP server is set.
    pub notifier: Option<komainu_notify::Notifier>,
    /// What the links of those e-mails are signed with (the cluster's signing key).
    pub link_key: Vec<u8>,
}

/// "Try it" calls one person may make per minute.
const TRIALS_PER_MINUTE: u32 = 30;

/// A kind's documents as read at a store revision.
type Listed = (u64, Arc<Vec<serde_json::Value>>);

/// The state both faces share.
#[derive(Clone)]
pub struct Web(Arc<Inner>);

struct Inner {
    api: AdminApi,
    admin: Admin,
    /// Read for developer sign-in only (the admin API never answers password hashes).
    store: Arc<dyn Store>,
    admin_sessions: Sessions,
    portal_sessions: Sessions,
    portal: PortalSettings,
    /// Failed developer sign-ins per address.
    portal_lockout: komainu_admin::Lockout,
    /// "Try it" calls per signed-in person.
    trials: throttle::PerKey<String>,
    /// Developer accounts by e-mail.
    accounts: portal::accounts::Accounts,
    /// Sign-ups per address.
    signups: throttle::PerKey<std::net::IpAddr>,
    http: reqwest::Client,
    /// The last list of each kind read, with the store revision it was read at.
    lists: std::sync::Mutex<std::collections::HashMap<komainu_model::Kind, Listed>>,
    /// The parsed specifications the portal's reference pages show.
    specs: Arc<portal::reference::spec::Specs>,
}

impl Web {
    /// `admin_api` is `admin.router()`: the pages call it in-process.
    pub async fn new(
        admin: Admin,
        admin_api: Router,
        store: Arc<dyn Store>,
        portal: PortalSettings,
    ) -> Self {
        let accounts = portal::accounts::Accounts::follow(store.clone()).await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        let specs = Arc::new(portal::reference::spec::Specs::default());
        specs.follow(&store);
        Web(Arc::new(Inner {
            api: AdminApi(admin_api),
            admin,
            store,
            admin_sessions: Sessions::new(
                "komainu_admin_session",
                Duration::from_secs(30 * 60),
                Duration::from_secs(8 * 3600),
            ),
            portal_sessions: Sessions::new(
                "komainu_portal_session",
                Duration::from_secs(24 * 3600),
                Duration::from_secs(7 * 24 * 3600),
            ),
            portal,
            portal_lockout: Default::default(),
            trials: throttle::PerKey::new(TRIALS_PER_MINUTE, Duration::from_secs(60)),
            accounts,
            signups: throttle::PerKey::new(portal::SIGNUPS_PER_ADDRESS, portal::SIGNUP_WINDOW),
            http,
            lists: Default::default(),
            specs,
        }))
    }

    /// Every stored document of `kind`, read from the store: pages list APIs and subscriptions
    /// without the admin API's JSON round trip (reads need no validation; developers, whose
    /// hashes the admin API hides, are never listed this way). Kept while the store's revision
    /// stays the same, so a page over 1,000 APIs does not read 1,000 documents each time.
    pub(crate) async fn list(&self, kind: komainu_model::Kind) -> Arc<Vec<serde_json::Value>> {
        debug_assert!(kind != komainu_model::Kind::Developer);
        let revision = self.0.store.revision();
        if let Some((at, docs)) = self.0.lists.lock().expect("lists").get(&kind)
            && *at == revision
        {
            return docs.clone();
        }
        let docs = Arc::new(self.0.store.list(kind).await.unwrap_or_default());
        self.0
            .lists
            .lock()
            .expect("lists")
            .insert(kind, (revision, docs.clone()));
        docs
    }

    /// The admin UI's routes, to merge with the admin API's.
    pub fn admin_ui(&self) -> Router {
        ui::router(self.clone())
    }

    /// The developer portal's routes (its own listener).
    pub fn portal(&self) -> Router {
        portal::router(self.clone())
    }
}

/// The renderers of outside documents, for the fuzz targets (`fuzz/`) only.
#[cfg(fuzzing)]
pub mod fuzzing {
    pub use crate::markdown::render as render_markdown;
}
