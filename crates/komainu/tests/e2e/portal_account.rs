//! A developer's own account on the portal: a new password and a new e-mail address, each asking
//! for the current password, and deleting the account, which ends its subscriptions and their
//! keys at once.

use reqwest::Method;

use crate::security_portal::{browser, csrf_of, keyed_api, signed_up};
use crate::support::upstream::Upstream;
use crate::support::{Gateway, json};

fn sign_in_status(gw: &Gateway, email: &str, password: &str) -> u16 {
    browser("127.0.0.1")
        .post(format!("{}/signin", gw.portal))
        .form(&[("email", email), ("password", password)])
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn a_developer_changes_password_and_address_then_deletes_the_account() {
    let up = Upstream::start("account-up");
    let gw = Gateway::start();
    keyed_api(&gw, &up);
    let client = browser("127.0.0.1");
    let dev = signed_up(&gw, &client, "dev@example.com");
    let post = |cookie: &str, csrf: &str, path: &str, form: &[(&str, &str)]| {
        let mut fields = form.to_vec();
        fields.push(("csrf", csrf));
        client
            .post(format!("{}{path}", gw.portal))
            .header("cookie", cookie)
            .form(&fields)
            .send()
            .unwrap()
    };

    // A subscription and its key, which work.
    let r = post(
        &dev.cookie,
        &dev.csrf,
        "/apis/orders/subscribe",
        &[("plan", "free"), ("app", "shop")],
    );
    assert_eq!(r.status(), 303);
    let (_, keys) = json(gw.get("/api/apikeys"));
    let (cid, secret) = (
        keys[0]["clientId"].as_str().unwrap().to_string(),
        keys[0]["clientSecret"].as_str().unwrap().to_string(),
    );
    let call = || {
        gw.call(Method::GET, "orders.test", "/orders/x")
            .basic_auth(&cid, Some(&secret))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(call(), 200);

    // A wrong current password changes nothing.
    let r = post(
        &dev.cookie,
        &dev.csrf,
        "/account/settings/password",
        &[
            ("current", "not it at all"),
            ("password", "another long passphrase"),
        ],
    );
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("not your current password"));
    assert_eq!(
        sign_in_status(&gw, "dev@example.com", "a long passphrase"),
        303
    );

    // The new password replaces the old one.
    let r = post(
        &dev.cookie,
        &dev.csrf,
        "/account/settings/password",
        &[
            ("current", "a long passphrase"),
            ("password", "another long passphrase"),
        ],
    );
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        sign_in_status(&gw, "dev@example.com", "a long passphrase"),
        401
    );
    assert_eq!(
        sign_in_status(&gw, "dev@example.com", "another long passphrase"),
        303
    );
    let page = client
        .get(format!("{}/account/settings", gw.portal))
        .header("cookie", &cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let csrf = csrf_of(&page);

    // A new address (this portal sends no mail: it is taken at once); one in use is refused.
    signed_up(&gw, &browser("127.0.0.2"), "other@example.com");
    let r = post(
        &cookie,
        &csrf,
        "/account/settings/email",
        &[
            ("current", "another long passphrase"),
            ("email", "other@example.com"),
        ],
    );
    assert_eq!(r.status(), 400);
    let r = post(
        &cookie,
        &csrf,
        "/account/settings/email",
        &[
            ("current", "another long passphrase"),
            ("email", "new@example.com"),
        ],
    );
    assert_eq!(r.status(), 303);
    assert_eq!(
        sign_in_status(&gw, "new@example.com", "another long passphrase"),
        303
    );
    assert_eq!(
        sign_in_status(&gw, "dev@example.com", "another long passphrase"),
        401
    );

    // Deleting asks for the box, then ends the account, its subscription and its key.
    let r = post(
        &cookie,
        &csrf,
        "/account/settings/delete",
        &[("current", "another long passphrase")],
    );
    assert_eq!(r.status(), 400);
    assert_eq!(call(), 200);
    let r = post(
        &cookie,
        &csrf,
        "/account/settings/delete",
        &[("current", "another long passphrase"), ("confirm", "yes")],
    );
    assert_eq!(r.status(), 303);
    let (_, devs) = json(gw.get("/api/developers"));
    assert!(
        devs.as_array()
            .unwrap()
            .iter()
            .all(|d| d["email"] != "new@example.com"),
        "{devs}"
    );
    let (_, subs) = json(gw.get("/api/api-subscriptions"));
    assert_eq!(subs.as_array().unwrap().len(), 0);
    crate::support::until("the key refused", || (call() != 200).then_some(()));
}
