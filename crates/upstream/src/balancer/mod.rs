//! Target selection: Otoroshi's load-balancing algorithms over the targets that are available
//! (healthy, circuit closed) and, on a retry, not tried yet.

mod hash;
mod load;
mod wheel;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{HeaderMap, HeaderName};
use komainu_http::{cookie, query_param};
use komainu_model::{LoadBalancing, LoadBalancingType};

use crate::target::Target;
use wheel::Wheel;

/// What selection may look at in a request.
pub(crate) struct Pick<'a> {
    pub client_ip: IpAddr,
    pub headers: &'a HeaderMap,
    pub query: Option<&'a str>,
    pub tracking_id: Option<&'a str>,
}

pub(crate) enum Balancer {
    RoundRobin(Wheel),
    Random(Wheel),
    Sticky,
    IpAddressHash,
    HeaderHash(HeaderName, AtomicUsize),
    CookieHash(String, AtomicUsize),
    QueryHash(String, AtomicUsize),
    BestResponseTime,
    WeightedBestResponseTime(f64),
    LeastConnections(AtomicUsize),
    PowerOfTwoRandomChoices,
}

fn text<'a>(lb: &'a LoadBalancing, key: &str) -> Option<&'a str> {
    lb.extra
        .get(key)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
}

impl Balancer {
    pub(crate) fn new(lb: &LoadBalancing, targets: &[Arc<Target>]) -> Self {
        let name = |key: &str| text(lb, key).unwrap_or("session-id").to_string();
        match lb.kind {
            LoadBalancingType::RoundRobin => Balancer::RoundRobin(Wheel::new(targets)),
            LoadBalancingType::Random => Balancer::Random(Wheel::new(targets)),
            LoadBalancingType::Sticky => Balancer::Sticky,
            LoadBalancingType::IpAddressHash => Balancer::IpAddressHash,
            LoadBalancingType::HeaderHash => {
                let header = HeaderName::try_from(name("header_name"))
                    .unwrap_or(HeaderName::from_static("session-id"));
                Balancer::HeaderHash(header, AtomicUsize::new(0))
            }
            LoadBalancingType::CookieHash => {
                Balancer::CookieHash(name("cookie_name"), AtomicUsize::new(0))
            }
            LoadBalancingType::QueryHash => {
                Balancer::QueryHash(name("query_name"), AtomicUsize::new(0))
            }
            LoadBalancingType::BestResponseTime => Balancer::BestResponseTime,
            LoadBalancingType::WeightedBestResponseTime => {
                let ratio = lb
                    .extra
                    .get("ratio")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.5);
                Balancer::WeightedBestResponseTime(ratio.clamp(0.0, 1.0))
            }
            LoadBalancingType::LeastConnections => Balancer::LeastConnections(AtomicUsize::new(0)),
            LoadBalancingType::PowerOfTwoRandomChoices => Balancer::PowerOfTwoRandomChoices,
        }
    }

    pub(crate) fn needs_tracking_cookie(&self) -> bool {
        matches!(self, Balancer::Sticky)
    }

    /// The index of the target for this attempt, or `None` when no target is available.
    pub(crate) fn select(
        &self,
        targets: &[Arc<Target>],
        pick: &Pick<'_>,
        tried: &[usize],
    ) -> Option<usize> {
        let fresh = |i: usize| targets[i].available() && !tried.contains(&i);
        let any = |i: usize| targets[i].available();
        if (0..targets.len()).any(fresh) {
            self.select_among(targets, pick, &fresh)
        } else if (0..targets.len()).any(any) {
            self.select_among(targets, pick, &any)
        } else {
            None
        }
    }

    fn select_among(
        &self,
        targets: &[Arc<Target>],
        pick: &Pick<'_>,
        ok: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = targets.len();
        let by_key = |key: Option<&str>, counter: &AtomicUsize| match key {
            Some(k) => hash::consistent(k, n, ok),
            None => hash::next(counter.fetch_add(1, Ordering::Relaxed), n, ok),
        };
        match self {
            Balancer::RoundRobin(wheel) => wheel.next(ok),
            Balancer::Random(wheel) => wheel.random(ok),
            Balancer::Sticky => hash::consistent(pick.tracking_id.unwrap_or(""), n, ok),
            Balancer::IpAddressHash => hash::consistent(&pick.client_ip.to_string(), n, ok),
            Balancer::HeaderHash(name, c) => {
                by_key(pick.headers.get(name).and_then(|v| v.to_str().ok()), c)
            }
            Balancer::CookieHash(name, c) => by_key(cookie(pick.headers, name), c),
            Balancer::QueryHash(name, c) => by_key(query_param(pick.query, name), c),
            Balancer::BestResponseTime => load::best_response_time(targets, ok, 1.0),
            Balancer::WeightedBestResponseTime(ratio) => {
                load::best_response_time(targets, ok, *ratio)
            }
            Balancer::LeastConnections(c) => load::least_connections(targets, ok, c),
            Balancer::PowerOfTwoRandomChoices => load::power_of_two(targets, ok),
        }
    }
}
