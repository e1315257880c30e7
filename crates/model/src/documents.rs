//! Entities stored as documents for now and interpreted by a later feature: certificates (TLS).
//! Their own fields ride in `extra`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Entity, Extra, Kind, ids};

macro_rules! document_entity {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(default)]
        pub struct $name {
            pub id: String,
            pub name: String,
            pub description: String,
            pub tags: Vec<String>,
            pub metadata: BTreeMap<String, String>,
            #[serde(flatten)]
            pub extra: Extra,
        }

        impl Entity for $name {
            const KIND: Kind = $kind;

            fn complete(&mut self) {
                ids::ensure(&mut self.id, $prefix);
            }
        }
    };
}

document_entity!(
    /// A TLS certificate (`chain`, `privateKey`, ... kept as written).
    Certificate,
    Kind::Certificate,
    "cert_"
);
