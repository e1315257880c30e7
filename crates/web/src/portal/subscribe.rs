//! Self-service: a developer's application (an API client) subscribes to a published plan and
//! gets working credentials; the account page shows them with how to call, the usage per day and
//! the quota left, and offers rotate, pause, resume and close.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use komainu_model::{
    AccessMode, Api, ApiSubscription, DeveloperAccount, Kind, PlanStatus, SubscriptionStatus,
};
use maud::{Markup, html};
use serde_json::{Value, json};

use crate::form::{PortalWrite, Write};
use crate::page::{self, Face};
use crate::session::Session;
use crate::{Web, seg};

/// The metadata key naming the developer account that owns a client or a subscription.
const OWNER: &str = "developer";

fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(40);
    out.trim_matches('-').to_string()
}

fn problem(session: &Session, status: StatusCode, message: &str) -> Response {
    page::render_with(
        status,
        Face::Portal,
        "Subscription",
        Some(&super::viewer(session)),
        html! { h1 { "Nothing was changed" } div class="alert" role="alert" { (message) } p { a href="/account" { "My subscriptions" } } },
    )
}

pub async fn subscribe(
    State(web): State<Web>,
    Path(id): Path<String>,
    Write {
        session, fields, ..
    }: PortalWrite,
) -> Response {
    let Some(api) = super::listed_api(&web, &id).await else {
        return problem(
            &session,
            StatusCode::NOT_FOUND,
            "This API is not in the catalogue.",
        );
    };
    let plan_id = fields.get("plan");
    let Some(plan) = super::visible_plans(&api).find(|p| p.id == plan_id) else {
        return problem(&session, StatusCode::NOT_FOUND, "This plan is not offered.");
    };
    if plan.status != PlanStatus::Published {
        return problem(
            &session,
            StatusCode::CONFLICT,
            "This plan takes no new subscriptions.",
        );
    }
    if komainu_apim::visibility_kind(plan) == "semi_public" {
        let account = web
            .0
            .store
            .get(Kind::Developer, &session.who)
            .await
            .ok()
            .flatten();
        let trusted = account
            .and_then(|a| komainu_model::parse::<DeveloperAccount>(&a).ok())
            .is_some_and(|a| a.trusted);
        if !trusted {
            return problem(
                &session,
                StatusCode::FORBIDDEN,
                "This plan is open to accounts the API's team has allowed: ask them to allow yours.",
            );
        }
    }
    let app = fields.get("app").trim();
    let app = if app.is_empty() { "application" } else { app };
    let mut status = None;
    if komainu_apim::validation_kind(plan) == "webhook" {
        let who = (session.who.as_str(), session.display.as_str());
        match super::webhook::ask(&web, plan, &api.id, who, app).await {
            super::webhook::Decision::Accepted => {}
            super::webhook::Decision::Refused(reason) => {
                return problem(&session, StatusCode::FORBIDDEN, &reason);
            }
            super::webhook::Decision::Undecided(why) => {
                tracing::warn!(api = %api.id, plan = %plan.id, %why, "subscription left pending");
                status = Some("pending");
            }
        }
    }
    let client_id = format!("{}_{}", session.who, slug(app));
    if !api.clients.iter().any(|c| c.id == client_id) {
        let patch = json!([{"op": "add", "path": "/clients/-", "value": {
            "id": client_id, "name": app, "metadata": {OWNER: session.who},
        }}]);
        let answer = web
            .0
            .api
            .call(
                Method::PATCH,
                &format!("/api/apis/{}", seg(&api.id)),
                Some(&patch),
            )
            .await;
        if !answer.ok() {
            return problem(&session, answer.status, &answer.message());
        }
    } else if api
        .clients
        .iter()
        .any(|c| c.id == client_id && c.metadata.get(OWNER) != Some(&session.who))
    {
        return problem(
            &session,
            StatusCode::CONFLICT,
            "This application name is taken.",
        );
    }
    let mut sub = json!({
        "name": format!("{app} on {}", plan.name),
        "api_ref": api.id,
        "plan_ref": plan.id,
        "owner_ref": client_id,
        "metadata": {OWNER: session.who},
    });
    if let Some(s) = status {
        sub["status"] = json!(s);
    }
    let answer = web
        .0
        .api
        .call(Method::POST, "/api/api-subscriptions", Some(&sub))
        .await;
    if !answer.ok() {
        return problem(&session, answer.status, &answer.message());
    }
    let sid = answer.body["id"].as_str().unwrap_or_default();
    page::see_other(&format!("/account#{}", seg(sid)))
}

/// The subscriptions `who` owns.
pub(crate) async fn owned(web: &Web, who: &str) -> Vec<ApiSubscription> {
    web.list(Kind::ApiSubscription)
        .await
        .iter()
        .filter_map(|s| komainu_model::parse::<ApiSubscription>(s).ok())
        .filter(|s| s.metadata.get(OWNER).map(String::as_str) == Some(who))
        .collect()
}

/// A call the plan admits, ready to paste: a route of the API whose flow enforces `plan`, with
/// the first method it accepts, a concrete path (`:id` → `1`) and the host it is served on, as
/// `(method, " -H 'Host: ...'" or "", path)`.
pub(crate) fn example_call(api: &Api, plan: &str) -> Option<(String, String, String)> {
    let route = api.routes.iter().filter(|r| r.enabled).find(|r| {
        api.flow(&r.flow_ref)
            .is_some_and(|f| api.flow_plans(f).contains(&plan))
    })?;
    let (host, path) = api.route_addresses(route).into_iter().next()?;
    let path: Vec<String> = path
        .split('/')
        .map(|s| match s.chars().next() {
            Some(':' | '{') => "1".to_string(),
            _ => s.replace('*', ""),
        })
        .collect();
    let method = route
        .frontend
        .methods
        .first()
        .map_or("GET".to_string(), |m| m.to_ascii_uppercase());
    let host = if host.is_empty() {
        String::new()
    } else {
        format!(" -H 'Host: {host}'")
    };
    Some((method, host, path.join("/")))
}

/// How to call with this subscription's credentials: a command that works as it is.
fn how_to_call(web: &Web, api: Option<&Api>, sub: &ApiSubscription, key: &Value) -> Markup {
    let gateway = &web.0.portal.gateway;
    let (method, host, path) = api.and_then(|a| example_call(a, &sub.plan_ref)).unwrap_or((
        "GET".into(),
        String::new(),
        "/".into(),
    ));
    let verb = if method == "GET" {
        String::new()
    } else {
        format!(" -X {method}")
    };
    let cid = key["clientId"].as_str().unwrap_or_default();
    let secret = key["clientSecret"].as_str().unwrap_or_default();
    let sid = &sub.id;
    html! {
        @match sub.subscription_kind {
            AccessMode::Apikey | AccessMode::Oauth2Local => {
                dl class="props" {
                    dt { "Client id" } dd { code id={"cid-" (sid)} class="secret" { (cid) } " " button type="button" class="secondary" data-copy={"cid-" (sid)} { "Copy the client id" } }
                    dt { "Client secret" } dd { code id={"secret-" (sid)} class="secret" { (secret) } " " button type="button" class="secondary" data-copy={"secret-" (sid)} { "Copy the client secret" } }
                }
                @if sub.subscription_kind == AccessMode::Oauth2Local {
                    p { "Trade the credentials for a bearer token, then call with it:" }
                    pre class="example" { "TOKEN=$(curl -s" (host) " " (gateway) "/.well-known/otoroshi/oauth/token -d grant_type=client_credentials -d client_id=" (cid) " -d client_secret=" (secret) " | jq -r .access_token)\ncurl" (verb) (host) " -H \"Authorization: Bearer $TOKEN\" " (gateway) (path) }
                } @else {
                    p { "Call with the credentials (in headers, or as Basic credentials):" }
                    pre class="example" { "curl" (verb) (host) " -H 'Otoroshi-Client-Id: " (cid) "' -H 'Otoroshi-Client-Secret: " (secret) "' " (gateway) (path) "\ncurl" (verb) (host) " -u '" (cid) ":" (secret) "' " (gateway) (path) }
                }
            }
            AccessMode::Jwt => { p { "Present a JWT the API's verifier accepts (see the plan's settings):" } pre { (page::pretty(&json!(api.and_then(|a| a.documentation.plans.iter().find(|p| p.id == sub.plan_ref)).map(|p| &p.access_mode_configuration)))) } }
            AccessMode::Mtls => { p { "Present a client certificate that the plan admits (issued by the API's team), over HTTPS." } }
            _ => { p { "This plan needs no credentials:" } pre class="example" { "curl" (verb) (host) " " (gateway) (path) } }
        }
    }
}

/// Until when the secret a rotation replaced is accepted, when it still is.
fn previous_secret_until(key: &Value) -> Option<i64> {
    let r = &key["rotation"];
    r["previousSecret"].as_str()?;
    let until = r["rotationStartedAt"].as_i64()? + r["gracePeriod"].as_i64()? * 3_600_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    (until > now).then_some(until)
}

pub async fn account(State(web): State<Web>, headers: HeaderMap) -> Response {
    let Some(session) = super::developer(&web, &headers) else {
        return page::see_other("/signin");
    };
    let subs = owned(&web, &session.who).await;
    let apis: Vec<Api> = web
        .list(Kind::Api)
        .await
        .iter()
        .filter_map(|a| komainu_model::parse::<Api>(a).ok())
        .collect();
    let mut cards = Vec::new();
    for sub in &subs {
        let api = apis.iter().find(|a| a.id == sub.api_ref);
        let key_id = komainu_apim::key_ids(sub).into_iter().next();
        let (key, quotas) = match &key_id {
            Some(k) => (
                web.0
                    .api
                    .get(&format!("/api/apikeys/{}", seg(k)))
                    .await
                    .body,
                web.0
                    .api
                    .get(&format!("/api/apikeys/{}/quotas", seg(k)))
                    .await
                    .body,
            ),
            None => (Value::Null, Value::Null),
        };
        let usage = web
            .0
            .api
            .get(&format!("/api/api-subscriptions/{}/usage", seg(&sub.id)))
            .await
            .body;
        cards.push(card(&web, &session, sub, api, &key, &quotas, &usage));
    }
    page::render(
        Face::Portal,
        "My subscriptions",
        Some(&super::viewer(&session)),
        html! {
            h1 { "My subscriptions" }
            p { a href="/account/settings" { "Account settings" } ": password, e-mail address, deleting the account." }
            @if subs.is_empty() { p { "None yet: pick a plan on an " a href="/" { "API's page" } "." } }
            @for c in cards { (c) }
        },
    )
}

fn card(
    web: &Web,
    session: &Session,
    sub: &ApiSubscription,
    api: Option<&Api>,
    key: &Value,
    quotas: &Value,
    usage: &Value,
) -> Markup {
    let status = sub
        .status
        .and_then(|s| serde_json::to_value(s).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let by_team = status == "disabled" && komainu_apim::paused_by(sub) != Some("developer");
    let actions: &[(&str, &str)] = match status.as_str() {
        "enabled" => &[
            ("rotate", "Rotate the secret"),
            ("pause", "Pause"),
            ("close", "Close"),
        ],
        "disabled" if by_team => &[("close", "Close")],
        "disabled" => &[("resume", "Resume"), ("close", "Close")],
        "pending" => &[("close", "Withdraw")],
        _ => &[],
    };
    html! {
        section class="card" id=(sub.id) data-subscription=(sub.id) {
            h2 { (sub.name) " " (page::badge(&status)) }
            p { "API: " (api.map_or(sub.api_ref.as_str(), |a| a.name.as_str())) " · plan " (sub.plan_ref) }
            @if status == "pending" { p { "Waiting for the API's team to approve it." } }
            @if by_team { p class="paused-by-team" { "Paused by the API's team: ask them to resume it." } }
            @if let Some(reason) = sub.extra.get("rejection").and_then(|r| r["reason"].as_str()).filter(|r| !r.is_empty()) {
                p class="rejection" { "Rejected by the API's team: " (reason) }
            }
            @if let Some(until) = previous_secret_until(key) {
                p class="previous-secret" { "The previous secret still works until " (page::when(until)) ", then it is refused." }
            }
            @if status != "closed" && !key.is_null() { (how_to_call(web, api, sub, key)) }
            @else if status != "closed" { (how_to_call(web, api, sub, &Value::Null)) }
            h3 { "Usage" }
            p { "Calls in total: " strong class="usage-total" { (usage["total"]) } }
            @if let Some(days) = usage["days"].as_array().filter(|d| !d.is_empty()) {
                table {
                    thead { tr { th { "Day" } th { "Calls" } } }
                    tbody { @for d in days { tr { td { (d["date"].as_str().unwrap_or_default()) } td { (d["calls"]) } } } }
                }
            }
            @if !quotas.is_null() { (page::quota_report(quotas)) }
            @for (action, label) in actions {
                (page::action_button(&format!("/subscriptions/{}/{action}", seg(&sub.id)), &session.csrf, &[], label, None))
            }
        }
    }
}

/// The confirmation step of rotating a secret or closing a subscription.
async fn confirm(web: &Web, session: &Session, sub: &ApiSubscription, action: &str) -> Response {
    let (question, consequence, yes) = if action == "rotate" {
        let grace = match komainu_apim::key_ids(sub).first() {
            Some(k) => web
                .0
                .api
                .get(&format!("/api/apikeys/{}", seg(k)))
                .await
                .body["rotation"]["gracePeriod"]
                .as_u64(),
            None => None,
        };
        (
            "Rotate the secret?",
            format!(
                "A new secret replaces the current one. The current secret keeps working for {} hours, then is refused: update your applications meanwhile.",
                grace.unwrap_or(0)
            ),
            "Rotate the secret",
        )
    } else {
        (
            "Close the subscription?",
            "Its credentials stop working at once, and a closed subscription cannot be reopened."
                .to_string(),
            "Close the subscription",
        )
    };
    page::confirm_page(
        Face::Portal,
        &super::viewer(session),
        &page::Confirm {
            question,
            consequence: &consequence,
            action: &format!("/subscriptions/{}/{action}", seg(&sub.id)),
            hidden: &[],
            yes,
            back: &format!("/account#{}", seg(&sub.id)),
        },
    )
}

pub async fn act(
    State(web): State<Web>,
    Path((id, action)): Path<(String, String)>,
    Write {
        session, fields, ..
    }: PortalWrite,
) -> Response {
    let Some(sub) = owned(&web, &session.who)
        .await
        .into_iter()
        .find(|s| s.id == id)
    else {
        return problem(
            &session,
            StatusCode::NOT_FOUND,
            "No such subscription of yours.",
        );
    };
    // A developer pauses and resumes what they paused; approval, and a pause by the API's
    // team, stay the team's.
    let allowed = match action.as_str() {
        "rotate" | "pause" => sub.status == Some(SubscriptionStatus::Enabled),
        "resume" => {
            sub.status == Some(SubscriptionStatus::Disabled)
                && komainu_apim::paused_by(&sub) == Some("developer")
        }
        _ => true,
    };
    if !allowed {
        return problem(
            &session,
            StatusCode::CONFLICT,
            "The subscription is not in a state that allows this.",
        );
    }
    if matches!(action.as_str(), "rotate" | "close") && !fields.confirmed() {
        return confirm(&web, &session, &sub, &action).await;
    }
    let answer = match action.as_str() {
        "rotate" => {
            web.0
                .api
                .call(
                    Method::POST,
                    &format!("/api/api-subscriptions/{}/_rotate", seg(&id)),
                    None,
                )
                .await
        }
        "pause" | "resume" | "close" => {
            let patch = match action.as_str() {
                "pause" => {
                    json!({"status": "disabled", "enabled": false, "paused_by": "developer"})
                }
                "resume" => json!({"status": "enabled", "enabled": true}),
                _ => json!({"status": "closed"}),
            };
            web.0
                .api
                .call(
                    Method::PATCH,
                    &format!("/api/api-subscriptions/{}", seg(&id)),
                    Some(&patch),
                )
                .await
        }
        _ => return problem(&session, StatusCode::NOT_FOUND, "No such action."),
    };
    if !answer.ok() {
        return problem(&session, answer.status, &answer.message());
    }
    page::see_other(&format!("/account#{}", seg(&id)))
}
