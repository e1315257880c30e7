//! A client flooding one route with distinct values of a limit's expression costs only that route:
//! its counters are bounded per route and it evicts its own least counted ones, so another route's
//! throttling still admits, and the flooded route's real consumers keep their counts.

use serde_json::json;

use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options};

const P: &str = "cp:otoroshi.next.plugins.";

#[test]
fn a_flood_of_distinct_counter_keys_costs_only_its_own_route() {
    let up = Upstream::start("limits");
    let gw = Gateway::start_with(Options {
        extra_args: [
            "--limit-counters-per-route",
            "200",
            "--limit-counters",
            "1000",
        ]
        .map(String::from)
        .to_vec(),
        ..Options::default()
    });
    gw.create(
        "routes",
        &json!({"id": "quotas", "frontend": {"domains": ["quotas.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": format!("{P}NgCustomQuotas"),
                             "config": {"daily_quota": 5, "expression": "${req.query.u}"}}]}),
    );
    gw.create(
        "routes",
        &json!({"id": "other", "frontend": {"domains": ["other.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": format!("{P}NgCustomThrottling"),
                             "config": {"throttling_quota": 1000}}]}),
    );
    let status = |host: &str, path: &str| gw.proxy_get(host, path).status().as_u16();
    for _ in 0..5 {
        assert_eq!(status("quotas.test", "/?u=alice"), 200);
    }
    assert_eq!(
        status("quotas.test", "/?u=alice"),
        403,
        "alice's quota is spent"
    );

    // 1,500 distinct values: more than the route's share and than the whole table.
    std::thread::scope(|s| {
        for t in 0..4 {
            let gw = &gw;
            s.spawn(move || {
                for i in 0..375 {
                    let path = format!("/?u=flood-{t}-{i}");
                    assert_eq!(gw.proxy_get("quotas.test", &path).status(), 200);
                }
            });
        }
    });

    assert_eq!(status("other.test", "/"), 200, "another route still admits");
    assert_eq!(
        status("quotas.test", "/?u=alice"),
        403,
        "the flood did not reset alice's count"
    );
    assert_eq!(
        status("quotas.test", "/?u=bob"),
        200,
        "a newcomer gets a counter"
    );
}
