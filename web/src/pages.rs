//! The browser pages (patient, doctor, pharmacy): static files under `web/assets`, built into the binary.
//!
//! There is no front-end build step: the pages are plain ES modules. A strict Content-Security-Policy allows only
//! this origin's scripts, styles and sockets, so an injected string can never run as code.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;
use vaidya_registry::ApiError;

#[derive(Embed)]
#[folder = "assets/"]
struct Assets;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
                   connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router {
    Router::new().route("/", get(index)).route("/assets/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    // index.html is the page at `/`; everything else is reachable here.
    serve(&path, &headers)
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else { return ApiError::not_found().into_response() };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex is a valid header"));
    // Revalidate on every load: a new release must never run beside a cached older module.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("permissions-policy", HeaderValue::from_static("camera=(self), microphone=(self), geolocation=(self)"));
    if path.ends_with(".html") {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if request.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let mime = file.metadata.mimetype();
    let content_type =
        if mime.starts_with("text/") || mime.ends_with("javascript") { format!("{mime}; charset=utf-8") } else { mime.to_owned() };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(&content_type).expect("a mime type is a valid header"));
    (headers, file.data).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_module_is_built_in() {
        for path in ["index.html", "app.css", "js/main.js", "js/api.js", "js/room.js", "js/signal.js", "js/pages/patient.js"] {
            assert!(Assets::get(path).is_some(), "{path} is missing");
        }
    }

    #[test]
    fn scripts_are_served_as_javascript() {
        let response = serve("js/main.js", &HeaderMap::new());
        assert_eq!(response.status(), StatusCode::OK);
        let ct = response.headers()[header::CONTENT_TYPE].to_str().unwrap();
        assert!(ct.contains("javascript"), "{ct}");
    }

    #[test]
    fn the_page_forbids_inline_and_foreign_code_and_revalidates() {
        let response = serve("index.html", &HeaderMap::new());
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        let etag = response.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(serve("index.html", &again).status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn unknown_and_escaping_paths_are_not_found() {
        for path in ["nope.js", "../Cargo.toml", "..%2fCargo.toml", "/etc/passwd"] {
            assert_eq!(serve(path, &HeaderMap::new()).status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
}
