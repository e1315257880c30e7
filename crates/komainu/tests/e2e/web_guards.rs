//! What guards the web faces' writes, over plain HTTP: no session, no CSRF token, another
//! origin, or another face's cookie, and nothing changes; the cookies' flags; sign-out.

use reqwest::blocking::Client;
use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};

use crate::support::{ADMIN_ID, ADMIN_SECRET, Gateway, json};

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in with the form; the session cookie (`name=value`) and its full `Set-Cookie` line.
fn admin_session(gw: &Gateway) -> (String, String) {
    let r = client()
        .post(gw.url("/ui/signin"))
        .form(&[("client_id", ADMIN_ID), ("client_secret", ADMIN_SECRET)])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let line = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
    (line.split(';').next().unwrap().to_string(), line)
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..].split('"').next().unwrap().to_string()
}

#[test]
fn writes_without_a_session_a_token_or_from_another_origin_change_nothing() {
    let gw = Gateway::start();
    gw.create(
        "apis",
        &serde_json::json!({"id": "a", "name": "A", "context_path": "/a"}),
    );
    let (cookie, line) = admin_session(&gw);
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict"),
        "{line}"
    );
    assert!(line.starts_with("komainu_admin_session="));
    let page = client()
        .get(gw.url("/ui/apis/a"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf = csrf_of(&page.text().unwrap());
    let publish = |cookie: Option<&str>, token: &str, origin: Option<&str>| {
        let mut rb = client()
            .post(gw.url("/ui/apis/a/state"))
            .form(&[("csrf", token), ("state", "published")]);
        if let Some(c) = cookie {
            rb = rb.header(COOKIE, c);
        }
        if let Some(o) = origin {
            rb = rb.header(ORIGIN, o);
        }
        rb.send().unwrap().status().as_u16()
    };
    let own = gw.admin.clone();
    assert_eq!(publish(None, &csrf, Some(&own)), 403, "no session");
    assert_eq!(publish(Some(&cookie), "", Some(&own)), 403, "no token");
    assert_eq!(
        publish(Some(&cookie), "forged", Some(&own)),
        403,
        "a wrong token"
    );
    assert_eq!(
        publish(Some(&cookie), &csrf, Some("http://evil.example")),
        403,
        "another origin"
    );
    let portal_cookie = cookie.replace("komainu_admin_session", "komainu_portal_session");
    assert_eq!(
        publish(Some(&portal_cookie), &csrf, Some(&own)),
        403,
        "the portal's cookie"
    );
    assert_eq!(
        json(gw.get("/api/apis/a")).1["state"],
        "staging",
        "nothing changed"
    );
    assert_eq!(publish(Some(&cookie), &csrf, Some(&own)), 303);
    assert_eq!(json(gw.get("/api/apis/a")).1["state"], "published");

    // Sign-in from another site's page is refused; sign-out ends the session.
    let foreign = client()
        .post(gw.url("/ui/signin"))
        .header(ORIGIN, "http://evil.example")
        .form(&[("client_id", ADMIN_ID), ("client_secret", ADMIN_SECRET)])
        .send()
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let out = client()
        .post(gw.url("/ui/signout"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(out.status(), 303);
    let after = client()
        .get(gw.url("/ui/"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    assert_eq!(after.status(), 303);
    assert_eq!(after.headers()["location"], "/ui/signin");

    // The portal: no write without a developer session.
    let sub = client()
        .post(format!("{}/apis/a/subscribe", gw.portal))
        .form(&[("plan", "x"), ("csrf", "x")])
        .send()
        .unwrap();
    assert_eq!(sub.status(), 403);
    let signup_foreign = client()
        .post(format!("{}/signup", gw.portal))
        .header(ORIGIN, "http://evil.example")
        .form(&[
            ("email", "e@example.com"),
            ("password", "long enough password"),
        ])
        .send()
        .unwrap();
    assert_eq!(signup_foreign.status(), 403);
    assert_eq!(json(gw.get("/api/developers")).1, serde_json::json!([]));
}

#[test]
fn portal_sign_up_can_be_switched_off_and_pages_carry_their_guards() {
    let gw = Gateway::start_with(crate::support::Options {
        extra_args: vec!["--portal-signup".into(), "false".into()],
        ..Default::default()
    });
    let r = client()
        .get(format!("{}/signup", gw.portal))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client()
        .post(format!("{}/signup", gw.portal))
        .form(&[
            ("email", "e@example.com"),
            ("password", "long enough password"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(json(gw.get("/api/developers")).1, serde_json::json!([]));
    let home = client().get(&gw.portal).send().unwrap();
    let csp = home.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    // A developer account written through the admin API cannot carry a plain password.
    let (status, body) = json(gw.post(
        "/api/developers",
        &serde_json::json!({"email": "x@example.com", "password_hash": "hunter2"}),
    ));
    assert_eq!(status, 400, "{body}");
    assert!(crate::support::error_paths(&body).contains(&"password_hash".to_string()));
}

#[test]
fn documentation_redirections_stay_on_the_site_or_go_to_http_urls() {
    let gw = Gateway::start();
    gw.create(
        "apis",
        &serde_json::json!({"id": "docs", "name": "Docs", "context_path": "/docs", "state": "published",
            "documentation": {"enabled": true,
                "resources": [{"path": ["guide"], "title": "Guide", "text_content": "# Guide"}],
                "redirections": [
                    {"from": "/moved", "to": "/apis/docs/pages/guide"},
                    {"from": "/away", "to": "https://example.com/docs"},
                    {"from": "/sneaky", "to": "/\\evil.example"},
                    {"from": "/relative", "to": "//evil.example"},
                    {"from": "/script", "to": "javascript:alert(1)"}]}}),
    );
    let get = |page: &str| {
        client()
            .get(format!("{}/apis/docs/pages/{page}", gw.portal))
            .send()
            .unwrap()
    };
    let moved = get("moved");
    assert_eq!(moved.status(), 303);
    assert_eq!(moved.headers()["location"], "/apis/docs/pages/guide");
    assert_eq!(
        get("away").headers()["location"],
        "https://example.com/docs"
    );
    for page in ["sneaky", "relative", "script"] {
        let r = get(page);
        assert_eq!(r.status(), 404, "{page} is not followed");
        assert!(r.headers().get("location").is_none());
    }
}

#[test]
fn repeated_failed_developer_sign_ins_lock_the_address_out() {
    let gw = Gateway::start();
    let form = |path: &str, password: &str| {
        client()
            .post(format!("{}{path}", gw.portal))
            .form(&[("email", "dev@example.com"), ("password", password)])
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(form("/signup", "the right passphrase"), 303);
    assert_eq!(form("/signin", "the right passphrase"), 303);
    for _ in 0..10 {
        assert_eq!(form("/signin", "a wrong guess"), 401);
    }
    assert_eq!(
        form("/signin", "the right passphrase"),
        429,
        "locked out, even with the right password"
    );
}

#[test]
fn a_developer_replaced_without_its_hash_keeps_it() {
    let gw = Gateway::start();
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";
    let created = gw.create(
        "developers",
        &serde_json::json!({"id": "dev_1", "email": "Dev@Example.com", "password_hash": hash}),
    );
    assert!(created.get("password_hash").is_none(), "{created}");
    assert_eq!(created["email"], "dev@example.com");
    let (status, body) = json(gw.put(
        "/api/developers/dev_1",
        &serde_json::json!({"email": "dev@example.com", "enabled": false}),
    ));
    assert_eq!(status, 200, "{body}");
    assert!(body.get("password_hash").is_none());
    let (_, export) = json(gw.get("/api/export"));
    assert_eq!(export["developers"][0]["password_hash"], hash);
    assert_eq!(export["developers"][0]["enabled"], false);
}
