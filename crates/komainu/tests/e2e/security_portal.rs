//! The portal attacked as an outsider would: "try it" cannot leave its API nor borrow the
//! gateway's own address, sign-ins cannot be raced past the lockout, a developer cannot undo the
//! API team's pause, sign-up is bounded, sessions cannot be evicted by someone else, and remote
//! documentation cannot reach inside the network.

use std::net::IpAddr;

use reqwest::blocking::Client;
use serde_json::json;

use crate::support::upstream::Upstream;
use crate::support::{Gateway, keyless_plan};

/// A browser of the portal, connecting from `from` (any loopback address is this machine).
pub fn browser(from: &str) -> Client {
    Client::builder()
        .local_address(from.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..].split('"').next().unwrap().to_string()
}

/// A signed-in developer: its session cookie (`name=value`) and CSRF token.
pub struct Dev {
    pub cookie: String,
    pub csrf: String,
}

/// Signs `email` up with `client`.
pub fn signed_up(gw: &Gateway, client: &Client, email: &str) -> Dev {
    let r = client
        .post(format!("{}/signup", gw.portal))
        .form(&[("email", email), ("password", "a long passphrase")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    signed_in(gw, client, email)
}

/// Signs `email` in with `client`.
pub fn signed_in(gw: &Gateway, client: &Client, email: &str) -> Dev {
    let r = client
        .post(format!("{}/signin", gw.portal))
        .form(&[("email", email), ("password", "a long passphrase")])
        .send()
        .unwrap();
    if r.status() != 303 {
        panic!("sign-in of {email}: {} {}", r.status(), r.text().unwrap());
    }
    let line = r.headers()["set-cookie"].to_str().unwrap();
    let cookie = line.split(';').next().unwrap().to_string();
    let account = client
        .get(format!("{}/account", gw.portal))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    Dev {
        csrf: csrf_of(&account.text().unwrap()),
        cookie,
    }
}

#[test]
fn try_it_stays_inside_its_api_and_carries_the_developers_address() {
    let up = Upstream::start("try-up");
    let gw = Gateway::start();
    let only_here = |path: &str| {
        json!([{"plugin": "cp:otoroshi.next.plugins.IpAddressAllowedList",
                "config": {"addresses": ["127.0.0.1"]}, "include": [path]}])
    };
    gw.create(
        "apis",
        &json!({"id": "pets", "name": "Pets", "domain": "pets.test", "context_path": "/pets",
                "state": "published", "documentation": {"enabled": true, "plans": [keyless_plan()]},
                "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
                "routes": [{"id": "all", "frontend": {"domains": ["/"]}, "backend": "b"}],
                "flows": [{"id": "default_plugin_chain",
                           "plugins": {"slots": only_here("/pets/admin.*")}}]}),
    );
    gw.create(
        "routes",
        &json!({"id": "internal", "frontend": {"domains": ["pets.test/internal"]},
                "backend": {"targets": [up.target()]}, "plugins": only_here(".*")}),
    );
    let client = browser("127.0.0.2");
    let dev = signed_up(&gw, &client, "dev@example.com");
    let try_it = |path: &str| {
        let page = client
            .post(format!("{}/apis/pets/try", gw.portal))
            .header("cookie", &dev.cookie)
            .form(&[
                ("csrf", dev.csrf.as_str()),
                ("method", "GET"),
                ("anchor", "x"),
                ("path-x", path),
                ("sub-x", ""),
            ])
            .send()
            .unwrap();
        (page.status().as_u16(), page.text().unwrap())
    };
    let (status, page) = try_it("/list");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"try-status\">200<"), "{page}");
    for climb in [
        "/../internal/secret",
        "/%2e%2e/internal/secret",
        "/..;/internal/secret",
    ] {
        let (status, page) = try_it(climb);
        assert_eq!(status, 400, "{climb}: {page}");
        assert!(page.contains("leaves the API"), "{page}");
    }
    assert!(
        !up.seen().iter().any(|s| s.contains("internal")),
        "{:?}",
        up.seen()
    );
    // Inside the API, a path allowed to the gateway's own address only: the developer's address
    // is the one the allow list sees.
    let (_, page) = try_it("/admin/users");
    assert!(page.contains("id=\"try-status\">403<"), "{page}");
    // A header claiming the trial from outside is stripped and believed by nobody.
    let forged = gw
        .call(reqwest::Method::GET, "pets.test", "/pets/echo")
        .header("komainu-trial", "0000 127.0.0.1")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!forged.contains("komainu-trial"), "{forged}");

    // Each developer has a number of calls a minute.
    let mut refused = 0;
    for _ in 0..31 {
        let (_, page) = try_it("/list");
        refused += usize::from(page.contains("Too many calls"));
    }
    assert!(refused >= 1, "31 more calls within a minute");
}

/// `n` sign-ins with a wrong password at once, from one address: their statuses.
fn concurrent_wrong_sign_ins(url: &str, form: &[(&str, &str)], n: usize) -> Vec<u16> {
    let statuses = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..50 {
            s.spawn(|| {
                let client = browser("127.0.0.1");
                for _ in 0..n / 50 {
                    let status = client.post(url).form(form).send().unwrap().status();
                    statuses.lock().unwrap().push(status.as_u16());
                }
            });
        }
    });
    statuses.into_inner().unwrap()
}

#[test]
fn a_thousand_concurrent_wrong_passwords_get_ten_checks() {
    let gw = Gateway::start();
    signed_up(&gw, &browser("127.0.0.3"), "victim@example.com");
    let statuses = concurrent_wrong_sign_ins(
        &format!("{}/signin", gw.portal),
        &[
            ("email", "victim@example.com"),
            ("password", "guess guess guess"),
        ],
        1000,
    );
    let checked = statuses.iter().filter(|s| **s == 401).count();
    eprintln!("measured: {checked} of the concurrent wrong passwords were checked");
    assert!(checked <= 10, "{checked} passwords were checked");
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        1000 - checked
    );

    // The admin API's sign-ins too.
    let statuses = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..20 {
            s.spawn(|| {
                for _ in 0..10 {
                    let status = browser("127.0.0.4")
                        .get(gw.url("/api/apis"))
                        .basic_auth("test-admin", Some("not the secret"))
                        .send()
                        .unwrap()
                        .status();
                    statuses.lock().unwrap().push(status.as_u16());
                }
            });
        }
    });
    let statuses = statuses.into_inner().unwrap();
    assert!(statuses.iter().filter(|s| **s == 401).count() <= 10);
}

/// A published, documented API with a free API-key plan its flow enforces.
pub fn keyed_api(gw: &Gateway, up: &Upstream) {
    gw.create(
        "apis",
        &json!({"id": "orders", "name": "Orders", "domain": "orders.test", "context_path": "/orders",
                "state": "published",
                "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
                "routes": [{"id": "all", "frontend": {"domains": ["/"]}, "backend": "b"}],
                "flows": [{"id": "default_plugin_chain", "consumers": ["free"], "plugins": {"slots": []}}],
                "documentation": {"enabled": true, "plans": [{
                    "id": "free", "name": "Free", "status": "published",
                    "access_mode_configuration_type": "apikey",
                    "access_mode_configuration": {"dailyQuota": 100}}]}}),
    );
}

#[test]
fn a_developer_cannot_undo_the_api_teams_pause() {
    let up = Upstream::start("pause-up");
    let gw = Gateway::start();
    keyed_api(&gw, &up);
    let client = browser("127.0.0.1");
    let dev = signed_up(&gw, &client, "dev@example.com");
    let post = |path: &str, form: &[(&str, &str)]| {
        let mut fields = form.to_vec();
        fields.push(("csrf", dev.csrf.as_str()));
        client
            .post(format!("{}{path}", gw.portal))
            .header("cookie", &dev.cookie)
            .form(&fields)
            .send()
            .unwrap()
    };
    assert_eq!(
        post(
            "/apis/orders/subscribe",
            &[("plan", "free"), ("app", "shop")]
        )
        .status(),
        303
    );
    let (_, subs) = crate::support::json(gw.get("/api/api-subscriptions"));
    let id = subs[0]["id"].as_str().unwrap().to_string();
    let status = || {
        let (_, sub) = crate::support::json(gw.get(&format!("/api/api-subscriptions/{id}")));
        sub["status"].as_str().unwrap().to_string()
    };

    // The developer's own pause is theirs to undo.
    assert_eq!(
        post(&format!("/subscriptions/{id}/pause"), &[]).status(),
        303
    );
    assert_eq!(
        post(&format!("/subscriptions/{id}/resume"), &[]).status(),
        303
    );
    assert_eq!(status(), "enabled");

    // The team's pause is not.
    let (code, _) = crate::support::json(gw.patch(
        &format!("/api/api-subscriptions/{id}"),
        &json!({"enabled": false}),
    ));
    assert_eq!(code, 200);
    let refused = post(&format!("/subscriptions/{id}/resume"), &[]);
    assert_eq!(refused.status(), 409);
    assert_eq!(status(), "disabled");
    // The key, with its right secret, is refused with a cause that says why.
    let key = subs[0]["token_refs"][0].as_str().unwrap().to_string();
    let (_, doc) = crate::support::json(gw.get(&format!("/api/apikeys/{key}")));
    let secret = doc["clientSecret"].as_str().unwrap().to_string();
    let call = gw
        .call(reqwest::Method::GET, "orders.test", "/orders/list")
        .basic_auth(&key, Some(&secret))
        .send()
        .unwrap();
    assert_eq!(call.status(), 401);
    assert_eq!(
        call.headers()["otoroshi-error-cause"],
        "errors.subscription.paused"
    );
    let wrong = gw
        .call(reqwest::Method::GET, "orders.test", "/orders/list")
        .basic_auth(&key, Some("not the secret"))
        .send()
        .unwrap();
    assert_eq!(
        wrong.headers()["otoroshi-error-cause"],
        "errors.bad.api.key"
    );
    let account = client
        .get(format!("{}/account", gw.portal))
        .header("cookie", &dev.cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(account.contains("Paused by the API's team"), "{account}");
    assert!(!account.contains(&format!("/subscriptions/{id}/resume")));
}

/// An API documented with `resources`, published.
fn documented(gw: &Gateway, id: &str, resources: serde_json::Value) {
    gw.create(
        "apis",
        &json!({"id": id, "name": id, "domain": format!("{id}.test"), "context_path": "/",
                "state": "published",
                "documentation": {"enabled": true, "resources": resources}}),
    );
}

fn doc_page(gw: &Gateway, id: &str, page: &str) -> String {
    browser("127.0.0.1")
        .get(format!("{}/apis/{id}/pages/{page}", gw.portal))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

#[test]
fn remote_documentation_cannot_reach_inside_the_network() {
    let gw = Gateway::start();
    gw.create(
        "apikeys",
        &json!({"clientId": "victim", "clientSecret": "the-victims-secret"}),
    );
    let admin = gw.admin.trim_start_matches("http://").to_string();
    let port = admin.rsplit(':').next().unwrap().to_string();
    let basic = "Basic dGVzdC1hZG1pbjp0ZXN0LWFkbWluLXNlY3JldC0wMTIzNDU2Nzg5";
    let inside = [
        format!("http://{admin}/api/apikeys"),
        format!("http://localhost:{port}/api/apikeys"),
        format!("http://[::ffff:127.0.0.1]:{port}/api/apikeys"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ];
    let resources: Vec<_> = inside
        .iter()
        .enumerate()
        .map(|(i, url)| {
            json!({"path": [format!("p{i}")], "title": format!("P{i}"), "url": url,
                   "headers": {"Authorization": basic}})
        })
        .collect();
    documented(&gw, "ssrf", json!(resources));
    for (i, url) in inside.iter().enumerate() {
        let page = doc_page(&gw, "ssrf", &format!("p{i}"));
        assert!(!page.contains("the-victims-secret"), "{page}");
        assert!(page.contains("remote content unavailable"), "{url}: {page}");
    }
    // The same rule for an OpenAPI document by URL.
    let (status, body) = crate::support::json(gw.post(
        "/api/apis/_openapi",
        &json!({"url": format!("http://{admin}/apis/openapi.json")}),
    ));
    assert_eq!(status, 502, "{body}");
}

#[test]
fn remote_documentation_is_bounded_in_size_and_time_and_fetched_once() {
    let up = Upstream::start("docs-up");
    let gw = Gateway::start_with(crate::support::Options {
        extra_args: ["--portal-fetch-private", "--fetch-timeout", "1"]
            .map(String::from)
            .to_vec(),
        ..crate::support::Options::default()
    });
    let at = |path: &str| format!("http://127.0.0.1:{}{path}", up.port());
    documented(
        &gw,
        "big",
        json!([
            {"path": ["huge"], "url": at("/bytes/50000000")},
            {"path": ["slow"], "url": at("/stall"), "timeout": 600000},
            {"path": ["fine"], "url": at("/fine")},
        ]),
    );
    let rss = gw.rss_kib();
    for _ in 0..3 {
        let page = doc_page(&gw, "big", "huge");
        assert!(page.contains("larger than"), "{page}");
    }
    let grown = gw.peak_rss_kib().saturating_sub(rss);
    eprintln!("measured: three views of a 50 MB remote document grew the gateway by {grown} KiB");
    assert!(
        grown < 40 * 1024,
        "a 50 MB document grew the gateway by {grown} KiB"
    );
    let started = std::time::Instant::now();
    let page = doc_page(&gw, "big", "slow");
    assert!(page.contains("remote content unavailable"), "{page}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "a resource's 600 s is capped"
    );
    let before = up.hits();
    for _ in 0..5 {
        assert!(doc_page(&gw, "big", "fine").contains("docs-up"));
    }
    assert_eq!(up.hits(), before + 1, "kept between views");
}

#[test]
fn sign_up_is_bounded_rate_limited_and_tells_nobody_which_addresses_exist() {
    let gw = Gateway::start();
    let signup = |client: &Client, email: &str, name: &str| {
        let r = client
            .post(format!("{}/signup", gw.portal))
            .form(&[
                ("email", email),
                ("name", name),
                ("password", "a long passphrase"),
            ])
            .send()
            .unwrap();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        (
            r.status().as_u16(),
            location,
            r.headers().get("set-cookie").is_some(),
        )
    };
    let first = browser("127.0.0.5");
    let new = signup(&first, "taken@example.com", "");
    let again = signup(&browser("127.0.0.6"), "taken@example.com", "");
    assert_eq!(new, (303, Some("/signin?new".into()), false));
    assert_eq!(
        again, new,
        "the same answer for an address that has an account"
    );

    // A name of a MiB is refused at its field (a 2 MiB form is over the body limit: 413), and
    // nothing is stored.
    let huge = "n".repeat(1 << 20);
    let (status, _, _) = signup(&browser("127.0.0.7"), "big@example.com", &huge);
    assert_eq!(status, 400);
    let (_, devs) = crate::support::json(gw.get("/api/developers"));
    assert_eq!(devs.as_array().unwrap().len(), 1, "{devs}");

    // Five sign-ups per address, then 429.
    let flood = browser("127.0.0.8");
    let statuses: Vec<u16> = (0..7)
        .map(|i| signup(&flood, &format!("bot{i}@example.com"), "").0)
        .collect();
    assert_eq!(statuses, [303, 303, 303, 303, 303, 429, 429]);
}

#[test]
fn one_person_signing_in_again_and_again_signs_nobody_else_out() {
    let gw = Gateway::start();
    let victim = signed_up(&gw, &browser("127.0.0.9"), "victim@example.com");
    let attacker = browser("127.0.0.10");
    signed_up(&gw, &attacker, "attacker@example.com");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..12 {
                    signed_in(&gw, &attacker, "attacker@example.com");
                }
            });
        }
    });
    let account = browser("127.0.0.9")
        .get(format!("{}/account", gw.portal))
        .header("cookie", &victim.cookie)
        .send()
        .unwrap();
    assert_eq!(account.status(), 200, "still signed in");
}
