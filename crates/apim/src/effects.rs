//! A write and everything it implies, as one batch of store operations.

use komainu_model::{Api, ApiKey, ApiState, ApiSubscription, Entity, Kind, parse};
use komainu_store::{Op, Store, load_all};
use serde_json::Value;

use crate::Refusal;
use crate::credentials::{desired_key, key_ids, template};
use crate::lifecycle::{check_move, deployment, publishes, without_history};
use crate::subscriptions::{admit_new, admit_update};

/// Who writes, and when.
pub struct WriteCtx<'a> {
    pub store: &'a dyn Store,
    /// The admin identity recorded as a deployment's owner.
    pub actor: &'a str,
    pub now_ms: i64,
}

/// The document as it will be stored, and every operation to commit (its own write first).
pub struct Planned {
    pub doc: Value,
    pub ops: Vec<Op>,
}

fn typed<T: Entity>(doc: &Value) -> Result<T, Refusal> {
    parse(doc).map_err(|e| Refusal::Invalid(vec![e]))
}

fn put(kind: Kind, id: &str, doc: Value) -> Op {
    Op::Put {
        kind,
        id: id.to_string(),
        doc,
    }
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("entities serialize")
}

/// What writing `doc` (already validated by the model) implies. `raw` is the document as the
/// client sent it (to tell given fields from defaults); `previous` the stored one.
pub async fn on_write(
    ctx: &WriteCtx<'_>,
    kind: Kind,
    doc: Value,
    raw: &Value,
    previous: Option<&Value>,
) -> Result<Planned, Refusal> {
    match kind {
        Kind::Api => api_write(ctx, doc, previous, false).await,
        Kind::ApiSubscription => subscription_write(ctx, doc, raw, previous).await,
        _ => {
            let id = kind.id_of(&doc).unwrap_or_default().to_string();
            Ok(Planned {
                ops: vec![put(kind, &id, doc.clone())],
                doc,
            })
        }
    }
}

/// The API as `POST /api/apis/:id/_publish` would make it: its draft (or itself) in state
/// `published`; to validate, then write with [`publish`]. Also says whether a draft was used.
pub async fn publish_candidate(
    store: &dyn Store,
    id: &str,
) -> Result<(Value, Value, bool), Refusal> {
    let live = store
        .get(Kind::Api, id)
        .await?
        .ok_or_else(|| Refusal::NotFound(format!("Api \"{id}\" does not exist")))?;
    let draft = store.get(Kind::Draft, id).await?;
    let has_draft = draft.is_some();
    let mut next = match draft {
        Some(d) => without_history(d.get("content").cloned().unwrap_or(Value::Null)),
        None => live.clone(),
    };
    let Some(obj) = next.as_object_mut() else {
        return Err(Refusal::field("content", "the draft holds no API"));
    };
    obj.insert("id".into(), Value::String(id.into()));
    obj.insert(
        "state".into(),
        Value::String(ApiState::Published.as_str().into()),
    );
    Ok((next, live, has_draft))
}

/// The API as rolling back to its deployment `deployment` would make it: that deployment's
/// definition, `published`; to validate, then write with [`publish`] (which records a new
/// deployment, the earlier ones kept). Also answers the live API.
pub async fn rollback_candidate(
    store: &dyn Store,
    id: &str,
    deployment: &str,
) -> Result<(Value, Value), Refusal> {
    let live = store
        .get(Kind::Api, id)
        .await?
        .ok_or_else(|| Refusal::NotFound(format!("Api \"{id}\" does not exist")))?;
    let api: Api = typed(&live)?;
    let record = api
        .deployments
        .iter()
        .find(|d| d.id == deployment)
        .ok_or_else(|| {
            Refusal::NotFound(format!("Api \"{id}\" has no deployment \"{deployment}\""))
        })?;
    let mut next = without_history(record.api_definition.clone());
    let Some(obj) = next.as_object_mut() else {
        return Err(Refusal::field(
            "apiDefinition",
            "the deployment holds no API",
        ));
    };
    obj.insert("id".into(), Value::String(id.into()));
    obj.insert(
        "state".into(),
        Value::String(ApiState::Published.as_str().into()),
    );
    Ok((next, live))
}

/// Writes a validated publication candidate: records a deployment and drops the draft.
pub async fn publish(
    ctx: &WriteCtx<'_>,
    doc: Value,
    live: &Value,
    had_draft: bool,
) -> Result<Planned, Refusal> {
    let mut planned = api_write(ctx, doc, Some(live), true).await?;
    if had_draft {
        let id = Kind::Api.id_of(live).unwrap_or_default().to_string();
        planned.ops.push(Op::Delete {
            kind: Kind::Draft,
            id,
        });
    }
    Ok(planned)
}

async fn api_write(
    ctx: &WriteCtx<'_>,
    doc: Value,
    previous: Option<&Value>,
    explicit_publish: bool,
) -> Result<Planned, Refusal> {
    let mut api: Api = typed(&doc)?;
    let prev: Option<Api> = previous.map(typed).transpose()?;
    if let Some(p) = &prev {
        check_move(p.state, api.state)?;
        // The deployment history is the gateway's record, not something a write replaces.
        api.deployments = p.deployments.clone();
    }
    stamp_deprecation(&mut api, prev.as_ref(), ctx.now_ms);
    if publishes(prev.as_ref().map(|p| p.state), api.state, explicit_publish) {
        let record = deployment(&api, ctx.actor, ctx.now_ms);
        api.deployments.push(record);
    }
    let doc = json(&api);
    let mut ops = vec![put(Kind::Api, &api.id, doc.clone())];
    ops.extend(reconcile(ctx.store, &api).await?);
    Ok(Planned { doc, ops })
}

/// Stamps when the API entered `deprecated` (what its responses' `Deprecation` says); the stamp
/// is the gateway's, kept from the stored API whatever a write says.
fn stamp_deprecation(api: &mut Api, prev: Option<&Api>, now_ms: i64) {
    let key = komainu_model::DEPRECATED_AT.to_string();
    match prev.and_then(Api::deprecated_at) {
        Some(at) => api.extra.insert(key, at.into()),
        None if api.state >= ApiState::Deprecated => api.extra.insert(key, now_ms.into()),
        None => api.extra.remove(&key),
    };
}

async fn subscriptions_of(
    store: &dyn Store,
    api_id: &str,
) -> Result<Vec<ApiSubscription>, Refusal> {
    let mut subs = load_all::<ApiSubscription>(store, Kind::ApiSubscription).await?;
    subs.retain(|s| s.api_ref == api_id);
    Ok(subs)
}

async fn key(store: &dyn Store, id: &str) -> Result<Option<ApiKey>, Refusal> {
    match store.get(Kind::ApiKey, id).await? {
        Some(doc) => Ok(parse(&doc).ok()),
        None => Ok(None),
    }
}

/// Rewrites the keys of every subscription of `api` that no longer match its plan or state.
async fn reconcile(store: &dyn Store, api: &Api) -> Result<Vec<Op>, Refusal> {
    let mut ops = Vec::new();
    for sub in subscriptions_of(store, &api.id).await? {
        let plan = api
            .documentation
            .plans
            .iter()
            .find(|p| p.id == sub.plan_ref);
        for id in key_ids(&sub) {
            let Some(existing) = key(store, &id).await? else {
                continue;
            };
            let desired = match plan.and_then(|p| template(p).map(|t| (p, t))) {
                Some((plan, t)) => desired_key(api, plan, &t, &sub, Some(&existing)),
                // The plan is gone or issues no keys any more: its keys stop working.
                None => ApiKey {
                    enabled: false,
                    ..existing.clone()
                },
            };
            if desired != existing {
                ops.push(put(Kind::ApiKey, &id, json(&desired)));
            }
        }
    }
    Ok(ops)
}

async fn subscription_write(
    ctx: &WriteCtx<'_>,
    doc: Value,
    raw: &Value,
    previous: Option<&Value>,
) -> Result<Planned, Refusal> {
    let mut sub: ApiSubscription = typed(&doc)?;
    let prev: Option<ApiSubscription> = previous.map(typed).transpose()?;
    if sub.api_ref.is_empty() {
        return Err(Refusal::field("api_ref", "a subscription needs an API"));
    }
    let api: Api = match ctx.store.get(Kind::Api, &sub.api_ref).await? {
        Some(doc) => typed(&doc)?,
        None => {
            return Err(Refusal::NotFound(format!(
                "Api \"{}\" does not exist",
                sub.api_ref
            )));
        }
    };
    match &prev {
        None => admit_new(&api, &mut sub, raw, ctx.now_ms)?,
        Some(p) => admit_update(p, &mut sub, raw, ctx.now_ms)?,
    }
    let mut ops = Vec::new();
    let plan = api
        .documentation
        .plans
        .iter()
        .find(|p| p.id == sub.plan_ref);
    if let Some((plan, t)) = plan.and_then(|p| template(p).map(|t| (p, t))) {
        let existing = match key_ids(&sub).first() {
            Some(id) => key(ctx.store, id).await?,
            None => None,
        };
        let desired = desired_key(&api, plan, &t, &sub, existing.as_ref());
        if existing.is_none() {
            if ctx
                .store
                .get(Kind::ApiKey, &desired.client_id)
                .await?
                .is_some()
            {
                return Err(Refusal::Conflict(format!(
                    "an API key with client id \"{}\" exists: change the plan's clientIdPattern",
                    desired.client_id
                )));
            }
            sub.token_refs = vec![Value::String(desired.client_id.clone())];
        }
        if existing.as_ref() != Some(&desired) {
            ops.push(put(Kind::ApiKey, &desired.client_id, json(&desired)));
        }
    }
    let doc = json(&sub);
    ops.insert(0, put(Kind::ApiSubscription, &sub.id, doc.clone()));
    Ok(Planned { doc, ops })
}

/// What deleting the entity implies: a subscription takes its keys along; an API its
/// subscriptions, their keys and its draft.
pub async fn on_delete(
    store: &dyn Store,
    kind: Kind,
    previous: &Value,
) -> Result<Vec<Op>, Refusal> {
    let keys_of = |sub: &ApiSubscription| {
        key_ids(sub)
            .into_iter()
            .map(|id| Op::Delete {
                kind: Kind::ApiKey,
                id,
            })
            .collect::<Vec<_>>()
    };
    match kind {
        Kind::ApiSubscription => Ok(keys_of(&typed::<ApiSubscription>(previous)?)),
        Kind::Api => {
            let id = Kind::Api.id_of(previous).unwrap_or_default();
            let mut ops = Vec::new();
            for sub in subscriptions_of(store, id).await? {
                ops.extend(keys_of(&sub));
                ops.push(Op::Delete {
                    kind: Kind::ApiSubscription,
                    id: sub.id.clone(),
                });
            }
            ops.push(Op::Delete {
                kind: Kind::Draft,
                id: id.to_string(),
            });
            // The documents its documentation points to (the specification it was imported from).
            let api: Api = typed(previous)?;
            for r in &api.documentation.resources {
                if let Some(doc) = &r.document_ref {
                    ops.push(Op::Delete {
                        kind: Kind::ApiDocument,
                        id: doc.clone(),
                    });
                }
            }
            Ok(ops)
        }
        _ => Ok(Vec::new()),
    }
}
