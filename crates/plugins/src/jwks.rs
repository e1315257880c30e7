//! Remote JSON Web Key Sets, fetched in the background and read lock-free by requests.
//!
//! A set is fetched when a verifier first names its URL, again once its `ttl` has passed, and
//! at once (at most every few seconds) when a token names a key id the set does not have — how a
//! provider's key rotation is picked up. Plans never wait for the network (until the first fetch
//! lands, their tokens are refused); the JwtVerification plugins wait for that first fetch
//! ([`KeySet::first_fetch`]), bounded by the set's timeout. Fetches go through the gateway's
//! fetch policy (`komainu_fetch`): public addresses only unless allowed, bounded in size and time.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};

/// Least time between two fetches of one set triggered by unknown key ids.
const REFETCH_GAP_MS: u64 = 5_000;

/// A usable key of a set.
pub struct Key {
    pub kid: Option<String>,
    pub alg: Option<Algorithm>,
    pub key: DecodingKey,
}

/// Where and how to fetch a set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout_ms: u64,
    pub ttl_ms: u64,
}

pub struct KeySet {
    source: Source,
    fetcher: Arc<komainu_fetch::Fetcher>,
    keys: ArcSwap<Vec<Key>>,
    fetched_at_ms: AtomicU64,
    fetching: AtomicBool,
    /// True once a first fetch ended (well or not).
    tried: tokio::sync::watch::Sender<bool>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl KeySet {
    /// The keys now (empty before the first fetch); starts a refresh when stale.
    pub fn keys(self: &Arc<Self>) -> arc_swap::Guard<Arc<Vec<Key>>> {
        let age = now_ms().saturating_sub(self.fetched_at_ms.load(Ordering::Relaxed));
        if age > self.source.ttl_ms {
            self.refresh();
        }
        self.keys.load()
    }

    /// Until a first fetch has ended, what resolves when it does (at most the fetch timeout later).
    pub fn first_fetch(
        self: &Arc<Self>,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        if *self.tried.borrow() {
            return None;
        }
        let mut tried = self.tried.subscribe();
        let bound = Duration::from_millis(self.source.timeout_ms.max(1) + 100);
        Some(async move {
            let _ = tokio::time::timeout(bound, tried.wait_for(|t| *t)).await;
        })
    }

    /// Asks for a new fetch because a token named a key the set lacks.
    pub fn missing_key(self: &Arc<Self>) {
        let age = now_ms().saturating_sub(self.fetched_at_ms.load(Ordering::Relaxed));
        if age > REFETCH_GAP_MS {
            self.refresh();
        }
    }

    fn refresh(self: &Arc<Self>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.fetching.swap(true, Ordering::AcqRel) {
            return;
        }
        let set = self.clone();
        rt.spawn(async move {
            match fetch(&set.fetcher, &set.source).await {
                Ok(keys) => {
                    set.keys.store(Arc::new(keys));
                    set.fetched_at_ms.store(now_ms(), Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!(url = %set.source.url, error = %e, "cannot fetch JWKS: keeping the keys we have");
                    // Try again after the gap, not on every request.
                    let retry_at = now_ms().saturating_sub(set.source.ttl_ms) + REFETCH_GAP_MS;
                    set.fetched_at_ms.store(retry_at, Ordering::Relaxed);
                }
            }
            set.fetching.store(false, Ordering::Release);
            set.tried.send_replace(true);
        });
    }
}

async fn fetch(fetcher: &komainu_fetch::Fetcher, source: &Source) -> Result<Vec<Key>, String> {
    let request = komainu_fetch::Request {
        url: source.url.clone(),
        headers: source.headers.clone(),
        timeout: Duration::from_millis(source.timeout_ms.max(1)),
        follow_redirects: true,
        max_bytes: 0,
    };
    let fetched = fetcher.fetch(&request).await?;
    if !(200..300).contains(&fetched.status) {
        return Err(format!("answered {}", fetched.status));
    }
    let set: JwkSet = serde_json::from_slice(&fetched.body).map_err(|e| e.to_string())?;
    Ok(set
        .keys
        .iter()
        .filter_map(|jwk| {
            let key = DecodingKey::from_jwk(jwk).ok()?;
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| Algorithm::from_str(&a.to_string()).ok());
            Some(Key {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            })
        })
        .collect())
}

/// Every key set in use, shared by all snapshots so a rebuild does not refetch.
pub struct Jwks {
    sets: Mutex<HashMap<Source, Arc<KeySet>>>,
    fetcher: Arc<komainu_fetch::Fetcher>,
}

impl Default for Jwks {
    fn default() -> Self {
        Jwks::new(komainu_fetch::Fetcher::new(komainu_fetch::Policy::default()))
    }
}

impl Jwks {
    pub fn new(fetcher: Arc<komainu_fetch::Fetcher>) -> Jwks {
        Jwks {
            sets: Mutex::default(),
            fetcher,
        }
    }

    /// The set for `source`, created (and its first fetch started) on first use.
    pub fn set(&self, source: Source) -> Arc<KeySet> {
        let mut sets = self.sets.lock().expect("jwks lock");
        let set = sets
            .entry(source.clone())
            .or_insert_with(|| {
                Arc::new(KeySet {
                    source,
                    fetcher: self.fetcher.clone(),
                    keys: ArcSwap::from_pointee(Vec::new()),
                    fetched_at_ms: AtomicU64::new(0),
                    fetching: AtomicBool::new(false),
                    tried: tokio::sync::watch::Sender::new(false),
                })
            })
            .clone();
        drop(sets);
        set.keys();
        set
    }
}
