//! A posted form, and the check every write makes before it acts: the session's CSRF token and
//! a same-site origin. Handlers take the check as an extractor ([`AdminWrite`], [`PortalWrite`],
//! [`SignedIn`]), so no write can forget it.

use std::marker::PhantomData;

use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use subtle::ConstantTimeEq;

use crate::Web;
use crate::page::{self, Face};
use crate::session::{Session, Sessions, same_origin};

/// The fields of an `application/x-www-form-urlencoded` body.
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// Whether a destructive action's form carries its confirmation (`confirm=yes`).
    pub fn confirmed(&self) -> bool {
        self.get("confirm") == "yes"
    }

    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// 403 for a write without the session's token or from another site; nothing is changed.
fn refused(face: Face) -> Response {
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
fn allowed(session: &Session, headers: &HeaderMap, fields: &Fields) -> bool {
    let token = fields.get("csrf").as_bytes();
    same_origin(headers) && bool::from(token.ct_eq(session.csrf.as_bytes()))
}

/// A face's sessions.
pub trait Side {
    const FACE: Face;
    fn sessions(web: &Web) -> &Sessions;
}

pub struct AdminSide;
pub struct PortalSide;

impl Side for AdminSide {
    const FACE: Face = Face::Admin;
    fn sessions(web: &Web) -> &Sessions {
        &web.0.admin_sessions
    }
}

impl Side for PortalSide {
    const FACE: Face = Face::Portal;
    fn sessions(web: &Web) -> &Sessions {
        &web.0.portal_sessions
    }
}

/// A form write that may act: the session it acts for and the posted fields. Without a session,
/// with a wrong token or from another site, the handler does not run: the answer is the 403 page.
pub struct Write<S> {
    pub session: Session,
    pub fields: Fields,
    pub side: PhantomData<S>,
}

pub type AdminWrite = Write<AdminSide>;
pub type PortalWrite = Write<PortalSide>;

impl<S: Side> FromRequest<Web> for Write<S> {
    type Rejection = Response;

    async fn from_request(request: Request, web: &Web) -> Result<Self, Response> {
        let headers = request.headers().clone();
        let Form(fields) = Form::<Vec<(String, String)>>::from_request(request, web)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields = Fields(fields);
        match S::sessions(web).get(&headers) {
            Some(session) if allowed(&session, &headers, &fields) => Ok(Write {
                session,
                fields,
                side: PhantomData,
            }),
            _ => Err(refused(S::FACE)),
        }
    }
}

/// A form posted from a page of this site (sign-in, sign-up: writes made before there is a
/// session). From another site's page, the handler does not run: the answer is the 403 page.
pub struct SameSite<S> {
    pub fields: Fields,
    pub side: PhantomData<S>,
}

impl<S: Side> FromRequest<Web> for SameSite<S> {
    type Rejection = Response;

    async fn from_request(request: Request, web: &Web) -> Result<Self, Response> {
        if !same_origin(request.headers()) {
            return Err(refused(S::FACE));
        }
        let Form(fields) = Form::<Vec<(String, String)>>::from_request(request, web)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(SameSite {
            fields: Fields(fields),
            side: PhantomData,
        })
    }
}

/// An admin UI page's session; without one, the answer is the redirect to sign-in.
pub struct SignedIn(pub Session);

impl FromRequestParts<Web> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Response> {
        web.0
            .admin_sessions
            .get(&parts.headers)
            .map(SignedIn)
            .ok_or_else(|| {
                // Back to the page asked for once signed in (a GET of the UI only).
                let asked = parts.uri.path_and_query().map_or("/ui/", |p| p.as_str());
                let next = if parts.method == axum::http::Method::GET && asked.starts_with("/ui/") {
                    asked
                } else {
                    "/ui/"
                };
                if next == "/ui/" {
                    return page::see_other("/ui/signin");
                }
                page::see_other(&format!("/ui/signin?next={}", crate::seg(next)))
            })
    }
}
