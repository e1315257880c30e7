//! A posted form, and the check every write makes before it acts: the session's CSRF token and
//! a same-site origin.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;

use crate::page::{self, Face};
use crate::session::{Session, same_origin};

/// The fields of an `application/x-www-form-urlencoded` body.
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// 403 for a write without the session's token or from another site; nothing is changed.
pub fn refused(face: Face) -> Response {
    page::render_with(
        StatusCode::FORBIDDEN,
        face,
        "Refused",
        None,
        html! {
            h1 { "This change was refused" }
            p { "It did not come from a page of this site with a valid session. Nothing was changed." }
        },
    )
}

/// Whether a form write may act for `session`.
pub fn allowed(session: &Session, headers: &HeaderMap, fields: &Fields) -> bool {
    use subtle::ConstantTimeEq;
    let token = fields.get("csrf").as_bytes();
    same_origin(headers) && bool::from(token.ct_eq(session.csrf.as_bytes()))
}
