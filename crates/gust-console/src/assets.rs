//! The console's stylesheet and script, compiled into the binary (nothing to install, nothing
//! fetched from elsewhere). Pages link them with the content's hash in the URL, so a browser
//! may keep them for a year and still gets new ones the moment they change.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::ConsoleState;

pub const CSS: &str = include_str!("../assets/console.css");
pub const JS: &str = include_str!("../assets/console.js");

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 2] = [
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: CSS,
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: JS,
    },
];

fn version(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..6])
}

/// `/console/assets/<name>?v=<hash of its content>`, worked out once.
fn url(index: usize) -> &'static str {
    static URLS: OnceLock<Vec<String>> = OnceLock::new();
    &URLS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("{}/assets/{}?v={}", crate::PREFIX, a.name, version(a.body)))
            .collect()
    })[index]
}

pub fn css_url() -> &'static str {
    url(0)
}

pub fn js_url() -> &'static str {
    url(1)
}

pub fn routes() -> Router<ConsoleState> {
    Router::new().route("/assets/{name}", get(serve))
}

async fn serve(Path(name): Path<String>, RawQuery(query): RawQuery) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let current = format!("v={}", version(asset.body));
    // The hashed URL never changes content; any other asks again each time.
    let cache = if query.as_deref() == Some(current.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, cache),
        ],
        asset.body,
    )
        .into_response()
}
