//! API management: what writing an API or a subscription *means* beyond storing it.
//!
//! The admin API validates a document with the model, then asks this crate what the write implies:
//! a lifecycle move that must go forward, a deployment recorded on publication, the API key a
//! subscription issues (and keeps in step with its plan, its API and its own state), credentials
//! removed with their subscription. Everything comes back as one batch of store operations, so a
//! write and all its effects commit together or not at all.

mod credentials;
mod effects;
mod lifecycle;
pub mod openapi;
mod subscriptions;

use komainu_model::FieldError;

pub use credentials::key_ids;
pub use effects::{
    Planned, WriteCtx, on_delete, on_write, publish, publish_candidate, rollback_candidate,
};
pub use lifecycle::check_move;
pub use subscriptions::{paused_by, validation_kind, visibility_kind};

/// Why a write is refused.
#[derive(Debug)]
pub enum Refusal {
    /// 400: the document is wrong, field by field.
    Invalid(Vec<FieldError>),
    /// 404: something it refers to does not exist.
    NotFound(String),
    /// 409: the write contradicts the current state.
    Conflict(String),
    /// The store failed while reading what the write depends on.
    Store(komainu_store::StoreError),
}

impl Refusal {
    pub(crate) fn field(path: &str, message: impl Into<String>) -> Refusal {
        Refusal::Invalid(vec![FieldError::new(path, message)])
    }
}

impl From<komainu_store::StoreError> for Refusal {
    fn from(e: komainu_store::StoreError) -> Self {
        Refusal::Store(e)
    }
}
