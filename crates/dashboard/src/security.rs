//! The token every request must carry (when one is set), the headers every response carries,
//! and the check that keeps downloads inside the runs root.

use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Shared;

/// Scripts, styles, images, audio and requests only from this server; no frames, no plugins,
/// no forms posting elsewhere. Inline scripts and styles are refused.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; media-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

const TOKEN_COOKIE: &str = "tagscale_token";

/// Check the token, then add the security headers to whatever the page returns.
pub async fn guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let mut set_cookie = None;
    if let Some(expected) = state.config.token.as_deref() {
        let from_query = query_token(request.uri().query());
        let presented = bearer(&request)
            .or_else(|| cookie(&request))
            .or(from_query.clone());
        if !presented.as_deref().is_some_and(|t| same(t, expected)) {
            let mut response = (
                StatusCode::UNAUTHORIZED,
                "a token is required: open the link `tagscale ui` printed (…?token=…) or send \
                 `Authorization: Bearer TOKEN`",
            )
                .into_response();
            add_headers(&mut response);
            return response;
        }
        if from_query.is_some() {
            set_cookie = Some(format!(
                "{TOKEN_COOKIE}={expected}; HttpOnly; SameSite=Strict; Path=/"
            ));
        }
    }
    let mut response = next.run(request).await;
    if let Some(value) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    add_headers(&mut response);
    response
}

fn add_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn bearer(request: &Request) -> Option<String> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    value.strip_prefix("Bearer ").map(str::to_string)
}

fn cookie(request: &Request) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == TOKEN_COOKIE).then(|| value.to_string())
        })
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token=").map(str::to_string))
}

/// Equality that takes as long whatever the first differing byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `path` resolved (links followed), when it is a regular file inside `root`.
pub fn inside_root(root: &Path, path: &Path) -> Option<PathBuf> {
    let root = root.canonicalize().ok()?;
    let resolved = path.canonicalize().ok()?;
    (resolved.starts_with(&root) && resolved.is_file()).then_some(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_stay_inside_the_runs_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("runs");
        std::fs::create_dir_all(root.join("1")).unwrap();
        std::fs::write(root.join("1/log.txt"), "ok").unwrap();
        std::fs::write(dir.path().join("secret"), "no").unwrap();
        assert!(inside_root(&root, &root.join("1/log.txt")).is_some());
        assert!(inside_root(&root, &root.join("1/../../secret")).is_none());
        assert!(inside_root(&root, &dir.path().join("secret")).is_none());
        assert!(inside_root(&root, &root.join("1")).is_none(), "a directory");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret"), root.join("1/link")).unwrap();
            assert!(inside_root(&root, &root.join("1/link")).is_none());
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert_eq!(query_token(Some("a=1&token=t0k")), Some("t0k".into()));
    }
}
