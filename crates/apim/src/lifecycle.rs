//! An API's lifecycle only moves forward: staging → published → deprecated → removed.

use komainu_model::{Api, ApiDeployment, ApiState, uuid};
use serde_json::Value;

use crate::Refusal;

/// Refuses a move backwards (`published` → `staging`, ...), naming both states.
pub fn check_move(from: ApiState, to: ApiState) -> Result<(), Refusal> {
    if to < from {
        return Err(Refusal::Conflict(format!(
            "illegal lifecycle move: {} → {} (an API moves only forward: staging → published → deprecated → removed)",
            from.as_str(),
            to.as_str()
        )));
    }
    Ok(())
}

/// The deployment record of publishing `api` now: a snapshot of the definition without its
/// history (so records do not nest).
pub(crate) fn deployment(api: &Api, owner: &str, now_ms: i64) -> ApiDeployment {
    let definition = without_history(serde_json::to_value(api).expect("entities serialize"));
    ApiDeployment {
        id: format!("deployment_{}", uuid()),
        api_ref: api.id.clone(),
        owner: owner.to_string(),
        at: now_ms,
        api_definition: definition,
        version: api.version.clone(),
        extra: Default::default(),
    }
}

/// Whether the write takes the API into `published` (or re-publishes it explicitly).
pub(crate) fn publishes(previous: Option<ApiState>, next: ApiState, explicit: bool) -> bool {
    next == ApiState::Published && (explicit || previous != Some(ApiState::Published))
}

/// An API's definition without `deployments`: what a deployment records and a draft publishes.
pub(crate) fn without_history(mut doc: Value) -> Value {
    if let Some(obj) = doc.as_object_mut() {
        obj.remove("deployments");
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApiState::*;

    #[test]
    fn moves_go_forward_only() {
        for (from, to) in [
            (Staging, Published),
            (Published, Deprecated),
            (Deprecated, Removed),
            (Staging, Removed),
            (Published, Published),
        ] {
            assert!(check_move(from, to).is_ok(), "{from:?} → {to:?}");
        }
        for (from, to) in [
            (Published, Staging),
            (Removed, Published),
            (Deprecated, Published),
        ] {
            match check_move(from, to) {
                Err(Refusal::Conflict(m)) => {
                    assert!(m.contains(from.as_str()) && m.contains(to.as_str()), "{m}")
                }
                other => panic!("{from:?} → {to:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn publication_is_recorded_on_entry_or_on_request() {
        assert!(publishes(None, Published, false));
        assert!(publishes(Some(Staging), Published, false));
        assert!(!publishes(Some(Published), Published, false));
        assert!(publishes(Some(Published), Published, true));
        assert!(!publishes(Some(Staging), Deprecated, false));
    }
}
