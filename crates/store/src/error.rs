//! Store errors: the two a caller acts on (conflict, missing) and the engine's own failures.

use komainu_model::Kind;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} \"{id}\" already exists")]
    Conflict { kind: Kind, id: String },
    #[error("{kind} \"{id}\" does not exist")]
    NotFound { kind: Kind, id: String },
    /// A document the write was based on changed since it was read (another writer, maybe on
    /// another node, got there first): nothing was written.
    #[error("{kind} \"{id}\" was changed by another write meanwhile")]
    Changed { kind: Kind, id: String },
    #[error("the data directory is in use by another komainu process: {0}")]
    Locked(String),
    #[error("storage failure: {0}")]
    Engine(String),
    /// The shared store (Redis) does not answer: nothing was written.
    #[error("the store is unreachable: {0}")]
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

macro_rules! engine_error {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Engine(e.to_string())
            }
        }
    )*};
}

engine_error!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    serde_json::Error,
    tokio::task::JoinError
);
