//! HTTP primitives every layer of Komainu shares, so that the upstream client, the plugins and the
//! proxy agree on them without depending on one another: the body type, the canonical request path
//! and small readers of request parts (cookies, query parameters).

mod activity;
mod body;
mod client_body;
mod params;
pub mod path;
pub mod trial;

pub use activity::{Activity, Busy};
pub use body::{Body, BoxError, empty, full};
pub use client_body::{ClientBodyError, Upload};
pub use params::{cookie, query_param};
pub use path::{PathError, after_segments, canonical, match_path};
