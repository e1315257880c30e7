//! The HTTP client of remote fetches: names resolved by a resolver that drops every address the
//! policy refuses (so a name cannot point inside the network, nor a redirect to one), literal
//! addresses checked in the URL and in every redirect, and no proxy from the environment.

use std::net::SocketAddr;

use reqwest::dns::{Name, Resolve, Resolving};

use crate::Policy;
use crate::addresses::is_public;

/// Redirects followed at most.
const REDIRECTS: usize = 5;

struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() {
                let why = format!("{host} resolves to no public address");
                return Err(why.into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether the URL's host, when it is a literal address, may be reached.
fn literal_allowed(url: &reqwest::Url, allow_private: bool) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(v4)) => allow_private || is_public(v4.into()),
        Some(url::Host::Ipv6(v6)) => allow_private || is_public(v6.into()),
        Some(url::Host::Domain(_)) => true,
        None => false,
    }
}

/// `text` as a URL this policy may fetch.
pub(crate) fn checked_url(text: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("{text} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text} is not an http(s) URL"));
    }
    if !literal_allowed(&url, allow_private) {
        return Err(format!("{text} is an address of the gateway's own network"));
    }
    Ok(url)
}

pub(crate) fn client(policy: &Policy, follow: bool) -> reqwest::Client {
    let allow_private = policy.allow_private;
    let redirects = if follow {
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= REDIRECTS {
                attempt.error("too many redirects")
            } else if !matches!(attempt.url().scheme(), "http" | "https") {
                attempt.error("a redirect to another scheme than http(s)")
            } else if !literal_allowed(attempt.url(), allow_private) {
                attempt.error("a redirect into the gateway's own network")
            } else {
                attempt.follow()
            }
        })
    } else {
        reqwest::redirect::Policy::none()
    };
    // Each fetch is bounded by its own time (`Fetcher::fetch`).
    let mut builder = reqwest::Client::builder().redirect(redirects).no_proxy();
    if !allow_private {
        builder = builder.dns_resolver(std::sync::Arc::new(PublicOnly));
    }
    builder.build().expect("an HTTP client")
}

/// An error of the HTTP client, with what caused it.
pub(crate) fn describe(e: reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
