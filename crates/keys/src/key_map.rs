//! Keys by client id, without storing each id twice: the set's entries are the keys themselves,
//! hashed and compared by their client id, and looked up by a `&str`. Hashed with foldhash: every
//! keyed request looks a key up, and SipHash's DoS resistance buys nothing where the table's
//! entries are the administrator's (a caller cannot add colliding ids).

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::CompiledKey;

#[derive(Clone)]
struct ByClientId(Arc<CompiledKey>);

impl Borrow<str> for ByClientId {
    fn borrow(&self) -> &str {
        &self.0.client_id
    }
}

impl Hash for ByClientId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes, so that lookups by `&str` find it.
        (*self.0.client_id).hash(state)
    }
}

impl PartialEq for ByClientId {
    fn eq(&self, other: &Self) -> bool {
        self.0.client_id == other.0.client_id
    }
}

impl Eq for ByClientId {}

#[derive(Clone, Default)]
pub struct KeyMap(HashSet<ByClientId, foldhash::fast::RandomState>);

impl KeyMap {
    pub fn get(&self, client_id: &str) -> Option<&Arc<CompiledKey>> {
        self.0.get(client_id).map(|k| &k.0)
    }

    pub fn contains(&self, client_id: &str) -> bool {
        self.0.contains(client_id)
    }

    /// Adds `key`, replacing the key with the same client id.
    pub fn insert(&mut self, key: Arc<CompiledKey>) {
        self.0.replace(ByClientId(key));
    }

    pub fn remove(&mut self, client_id: &str) {
        self.0.remove(client_id);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<CompiledKey>> {
        self.0.iter().map(|k| &k.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use komainu_model::ApiKey;

    #[test]
    fn keys_are_found_by_client_id_and_replaced() {
        let key = |id: &str, secret: &str| {
            Arc::new(CompiledKey::new(
                ApiKey {
                    client_id: id.into(),
                    client_secret: secret.into(),
                    ..Default::default()
                },
                Default::default(),
            ))
        };
        let mut map = KeyMap::default();
        map.insert(key("a", "1"));
        map.insert(key("b", "2"));
        map.insert(key("a", "3"));
        assert_eq!(map.len(), 2);
        assert_eq!(map.get("a").unwrap().secret(), "3");
        map.remove("a");
        assert!(map.get("a").is_none() && map.contains("b"));
    }
}
