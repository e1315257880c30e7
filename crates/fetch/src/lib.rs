//! Fetches of remote documents the gateway makes for itself: an API's remote documentation
//! (`documentation.source`, a resource's `url`), an OpenAPI document given by URL, a JWT
//! verifier's JWKS. The URLs are written by admins (a team's, in a shared gateway) and the answers
//! are shown to anonymous visitors, so every fetch is bounded and kept out of the gateway's own
//! network:
//! - only `http` and `https`; every address a name resolves to, and every literal address, of
//!   the first request and of each redirect, must be public ([`addresses`]) unless
//!   [`Policy::allow_private`] (`--portal-fetch-private`); no proxy from the environment;
//! - the body is read at most to its bound (the rest is never read), the whole fetch within its
//!   time (at most [`Policy::max_time`], whatever the document's own `timeout` asks);
//! - results are kept for [`Policy::ttl`] (failures for a second or so), and concurrent fetches
//!   of one URL share one request.

pub mod addresses;
mod cache;
mod guard;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

pub use addresses::is_public;

/// How every fetch is bounded.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Whether loopback, private and link-local addresses may be reached.
    pub allow_private: bool,
    /// Bytes of a body at most, unless a fetch asks for less.
    pub max_bytes: usize,
    /// The longest a fetch may take, whatever it asks.
    pub max_time: Duration,
    /// How long a fetched document is kept.
    pub ttl: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow_private: false,
            max_bytes: 4 << 20,
            max_time: Duration::from_secs(10),
            ttl: Duration::from_secs(60),
        }
    }
}

/// One fetch.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// What the document asks for (capped by the policy's `max_time`); zero for the policy's.
    pub timeout: Duration,
    pub follow_redirects: bool,
    /// A bound of this fetch's own on the body (zero: the policy's): an OpenAPI document has
    /// the specification limit.
    pub max_bytes: usize,
}

/// A fetched document.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl Fetched {
    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Fetches under one policy, with a cache.
pub struct Fetcher {
    client: reqwest::Client,
    no_redirects: reqwest::Client,
    policy: Policy,
    cache: cache::Cache,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Fetcher {
    pub fn new(policy: Policy) -> Arc<Fetcher> {
        Arc::new(Fetcher {
            client: guard::client(&policy, true),
            no_redirects: guard::client(&policy, false),
            cache: cache::Cache::default(),
            policy,
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The document `request` names, from the cache when fetched within the TTL.
    pub async fn get(&self, request: &Request) -> Result<Fetched, String> {
        let key = format!(
            "{}\n{:?}\n{}",
            request.url, request.headers, request.follow_redirects
        );
        self.cache
            .get_or_fetch(key, self.policy.ttl, || self.fetch(request))
            .await
    }

    /// The document `request` names, fetched now (for callers with their own refresh rules).
    pub async fn fetch(&self, request: &Request) -> Result<Fetched, String> {
        let time = match request.timeout {
            t if t.is_zero() => self.policy.max_time,
            t => t.min(self.policy.max_time),
        };
        let max = match request.max_bytes {
            0 => self.policy.max_bytes,
            n => n,
        };
        tokio::time::timeout(time, self.fetch_within(request, max))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} ms", time.as_millis())))
    }

    async fn fetch_within(&self, request: &Request, max: usize) -> Result<Fetched, String> {
        let url = guard::checked_url(&request.url, self.policy.allow_private)?;
        let client = if request.follow_redirects {
            &self.client
        } else {
            &self.no_redirects
        };
        let mut builder = client.get(url);
        for (k, v) in &request.headers {
            builder = builder.header(k, v);
        }
        let mut response = builder.send().await.map_err(guard::describe)?;
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(format!("the document is larger than {max} bytes"));
        }
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(guard::describe)? {
            if body.len() + chunk.len() > max {
                return Err(format!("the document is larger than {max} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            status,
            content_type,
            body: body.freeze(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server answering each connection with `answer`, counting them.
    async fn server(answer: &'static str) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                if answer.is_empty() {
                    // Holds the connection, silent.
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(600)).await;
                        drop(s);
                    });
                    continue;
                }
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        (format!("http://{addr}"), hits)
    }

    fn get(url: &str) -> Request {
        Request {
            url: url.into(),
            follow_redirects: true,
            ..Request::default()
        }
    }

    #[tokio::test]
    async fn the_gateways_own_network_is_out_of_reach_unless_allowed() {
        let (url, hits) = server("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
        let strict = Fetcher::new(Policy::default());
        let err = strict.fetch(&get(&url)).await.unwrap_err();
        assert!(err.contains("own network"), "{err}");
        let by_name = url.replace("127.0.0.1", "localhost");
        let err = strict.fetch(&get(&by_name)).await.unwrap_err();
        assert!(err.contains("no public address"), "{err}");
        assert!(strict.fetch(&get("file:///etc/passwd")).await.is_err());
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
        let open = Fetcher::new(Policy {
            allow_private: true,
            ..Policy::default()
        });
        assert_eq!(&open.fetch(&get(&url)).await.unwrap().body[..], b"ok");
    }

    #[tokio::test]
    async fn bodies_and_times_are_bounded_and_results_kept() {
        let (big, _) = server("HTTP/1.1 200 OK\r\n\r\n0123456789abcdef").await;
        let (silent, _) = server("").await;
        let (ok, hits) = server("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
        let f = Fetcher::new(Policy {
            allow_private: true,
            max_bytes: 8,
            max_time: Duration::from_millis(300),
            ..Policy::default()
        });
        assert!(
            f.fetch(&get(&big))
                .await
                .unwrap_err()
                .contains("larger than 8")
        );
        let slow = Request {
            timeout: Duration::from_secs(600),
            ..get(&format!("{silent}/never"))
        };
        let started = std::time::Instant::now();
        assert!(f.fetch(&slow).await.unwrap_err().contains("within 300 ms"));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "capped by the policy"
        );
        for _ in 0..3 {
            f.get(&get(&ok)).await.unwrap();
        }
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1, "kept");
    }
}
