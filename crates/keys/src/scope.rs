//! Authorization scopes: what an `authorizedEntities` entry names, and whether it covers a route.
//!
//! Entries are Otoroshi identifiers: `group_<id>`, `route_<id>`, `api_<id>`, `service_<id>`,
//! `route-composition_<id>`, a bare id naming a group, or `{"kind": ..., "id": ...}`. Since ids may
//! themselves start with the prefix (seed 003's group `group_payment_apis`), an entry matches on the
//! id with the prefix removed or on the whole string. A group authorizes only while it exists: a
//! deleted group leaves references behind that authorize nothing.

use std::collections::HashSet;

use komainu_model::AuthorizedEntity;

/// The ids of the service groups that exist, read on every keyed request (foldhash: see `KeyMap`).
pub type GroupIds = HashSet<String, foldhash::fast::RandomState>;

/// The identity of a route, as keys are scoped: its id, its API, its groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteIdentity {
    pub id: String,
    pub api_id: Option<String>,
    /// The route's groups (standalone route) or its API's.
    pub groups: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Group(Vec<String>),
    Route(Vec<String>),
    Api(Vec<String>),
}

fn names(stripped: &str, whole: &str) -> Vec<String> {
    let mut v = vec![stripped.to_string()];
    if whole != stripped {
        v.push(whole.to_string());
    }
    v
}

impl Scope {
    pub fn parse(entry: &AuthorizedEntity) -> Scope {
        match entry {
            AuthorizedEntity::Ref { kind, id } => match kind.as_str() {
                "route" | "service" | "route-composition" => Scope::Route(vec![id.clone()]),
                "api" => Scope::Api(vec![id.clone()]),
                _ => Scope::Group(vec![id.clone()]),
            },
            AuthorizedEntity::Id(s) => {
                for (prefix, make) in [
                    (
                        "route-composition_",
                        Scope::Route as fn(Vec<String>) -> Scope,
                    ),
                    ("route_", Scope::Route),
                    ("service_", Scope::Route),
                    ("api_", Scope::Api),
                    ("group_", Scope::Group),
                ] {
                    if let Some(rest) = s.strip_prefix(prefix) {
                        return make(names(rest, s));
                    }
                }
                Scope::Group(vec![s.clone()])
            }
        }
    }

    /// Whether this scope covers `route`, given the ids of the groups that exist.
    pub fn covers(&self, route: &RouteIdentity, groups: &GroupIds) -> bool {
        match self {
            Scope::Route(ids) => ids.contains(&route.id),
            Scope::Api(ids) => route.api_id.as_ref().is_some_and(|a| ids.contains(a)),
            Scope::Group(ids) => route
                .groups
                .iter()
                .any(|g| ids.contains(g) && groups.contains(g)),
        }
    }

    /// Whether this scope names group `id` (for listing the keys of a group).
    pub fn names_group(&self, id: &str) -> bool {
        matches!(self, Scope::Group(ids) if ids.iter().any(|g| g == id))
    }

    /// Whether this scope names route `id`.
    pub fn names_route(&self, id: &str) -> bool {
        matches!(self, Scope::Route(ids) if ids.iter().any(|r| r == id))
    }

    /// Whether this scope names API `id`.
    pub fn names_api(&self, id: &str) -> bool {
        matches!(self, Scope::Api(ids) if ids.iter().any(|a| a == id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(s: &str) -> Scope {
        Scope::parse(&AuthorizedEntity::Id(s.into()))
    }

    #[test]
    fn prefixes_and_whole_ids() {
        let groups: GroupIds = ["group_payment_apis".to_string(), "pay".to_string()]
            .into_iter()
            .collect();
        let route = RouteIdentity {
            id: "route_users".into(),
            api_id: Some("api_users".into()),
            groups: vec!["group_payment_apis".into()],
        };
        assert!(
            scope("group_payment_apis").covers(&route, &groups),
            "whole id of a group named group_..."
        );
        assert!(scope("route_route_users").covers(&route, &groups));
        assert!(scope("route_users").covers(&route, &groups), "whole id");
        assert!(scope("api_api_users").covers(&route, &groups));
        assert!(scope("api_users").covers(&route, &groups));
        assert!(
            !scope("pay").covers(&route, &groups),
            "a group the route is not in"
        );
        let gone = GroupIds::default();
        assert!(
            !scope("group_payment_apis").covers(&route, &gone),
            "a deleted group authorizes nothing"
        );
        let obj = Scope::parse(&AuthorizedEntity::Ref {
            kind: "api".into(),
            id: "api_users".into(),
        });
        assert!(obj.covers(&route, &gone));
    }
}
