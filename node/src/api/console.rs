//! The web console: a small page served from the binary, and how a browser gets into it.
//!
//! **Files.** `node/console/` is compiled into the binary (`rust-embed`, also in debug
//! builds): `GET /` is the page, `GET /console/FILE` its script and style. No CDN, no build
//! step, no inline script: the Content-Security-Policy allows only this origin's files.
//!
//! **Login.** The owner's CLI (holding the API token) asks `POST /v1/console/links` for a
//! one-time link `http://API/#login=CODE`. The code is in the fragment, so it never reaches a
//! request line, a log or a `Referer`; the page posts it to `POST /console/session`, which
//! answers with an HttpOnly, SameSite=Strict session cookie, and then replaces the URL so the
//! code stays neither in the address bar nor in the history entry. A code works once and for
//! [`LINK_LIFETIME`]; at most [`MAX_LINKS`] are outstanding and [`MAX_SESSIONS`] sessions live
//! (the oldest is logged out), each for [`SESSION_LIFETIME`]. Only hashes are kept.
//!
//! **Checks, as Syncthing does them.** Every request's `Host` must name the address the API
//! is bound to (or `localhost` on its port), which defeats DNS rebinding. A call
//! authenticated by the cookie that changes anything must carry an `Origin` equal to that
//! host; with SameSite=Strict this refuses cross-site forms and scripts twice over. Every
//! answer says `Cache-Control: no-store`, so no page with personal data is kept on disk.

use super::{Api, ApiError};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a login link works.
pub const LINK_LIFETIME: Duration = Duration::from_secs(120);
/// Login links outstanding at once; a new one pushes out the oldest.
pub const MAX_LINKS: usize = 8;
/// How long a console session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Console sessions at once; a new one logs out the oldest.
pub const MAX_SESSIONS: usize = 16;

/// What may load and run in the console: this origin's files, nothing inline, no frames.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

#[derive(Embed)]
#[folder = "console/"]
struct Files;

/// Login codes and sessions, by their SHA-256.
#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    links: VecDeque<([u8; 32], Instant)>,
    sessions: VecDeque<([u8; 32], Instant)>,
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn fresh_secret() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    crate::at_rest::random(&mut bytes).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Keeps at most `max` live entries, dropping expired ones and then the oldest.
fn keep(entries: &mut VecDeque<([u8; 32], Instant)>, max: usize, now: Instant) {
    entries.retain(|(_, until)| *until > now);
    while entries.len() >= max {
        entries.pop_front();
    }
}

impl Sessions {
    /// A new login code.
    fn link(&self) -> Result<String, ApiError> {
        let code = fresh_secret()?;
        let now = Instant::now();
        let mut inner = self.lock()?;
        keep(&mut inner.links, MAX_LINKS, now);
        inner.links.push_back((digest(&code), now + LINK_LIFETIME));
        Ok(code)
    }

    /// Spends a login code; a new session secret if it was good.
    fn redeem(&self, code: &str) -> Result<Option<String>, ApiError> {
        let now = Instant::now();
        let wanted = digest(code);
        let mut inner = self.lock()?;
        let before = inner.links.len();
        inner.links.retain(|(hash, until)| !(super::constant_time_eq(hash, &wanted) && *until > now));
        if inner.links.len() == before {
            return Ok(None);
        }
        let session = fresh_secret()?;
        keep(&mut inner.sessions, MAX_SESSIONS, now);
        inner.sessions.push_back((digest(&session), now + SESSION_LIFETIME));
        Ok(Some(session))
    }

    /// Whether `session` is live.
    fn valid(&self, session: &str) -> bool {
        let wanted = digest(session);
        let now = Instant::now();
        self.inner.lock().is_ok_and(|inner| {
            inner.sessions.iter().any(|(hash, until)| super::constant_time_eq(hash, &wanted) && *until > now)
        })
    }

    fn end(&self, session: &str) {
        let wanted = digest(session);
        if let Ok(mut inner) = self.inner.lock() {
            inner.sessions.retain(|(hash, _)| *hash != wanted);
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, ApiError> {
        self.inner.lock().map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "session table poisoned"))
    }
}

/// The cookie's name: per port, since browsers share cookies between ports of one host
/// (a person's and a business's daemon on one machine keep separate sessions).
fn cookie_name(address: SocketAddr) -> String {
    format!("me2b_session_{}", address.port())
}

/// The session secret the request's cookie carries, if any.
fn session_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// How a request proved it comes from the owner.
pub(super) enum Caller {
    /// The API token: the CLI or the owner's own tools.
    Token,
    /// The console's session cookie.
    Console,
}

/// Who is calling: the token, a live console session, or nobody (with why).
pub(super) fn caller(api: &Api, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(token) if super::constant_time_eq(token.as_bytes(), api.token.as_bytes()) => Ok(Caller::Token),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong API token; use the one in the data directory's api-token file",
        )),
        None => match session_cookie(headers, &cookie_name(api.address)) {
            Some(session) if api.sessions.valid(session) => Ok(Caller::Console),
            Some(_) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "the console session ended; run `me2b open` again")),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing API token; send `Authorization: Bearer TOKEN` with the token from the data directory's \
                 api-token file",
            )),
        },
    }
}

/// Whether a console call that changes something comes from the console's own page.
pub(super) fn same_origin(api: &Api, headers: &HeaderMap, method: &Method) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let origin = headers.get(header::ORIGIN).and_then(|value| value.to_str().ok());
    match origin.and_then(|origin| origin.strip_prefix("http://")) {
        Some(host) if allowed_host(api.address, host) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross-origin request refused: this call must come from the console's own page",
        )),
    }
}

/// The names this API answers to: the bound address, and `localhost` on its port when
/// bound to loopback.
fn allowed_host(address: SocketAddr, host: &str) -> bool {
    if host == address.to_string() {
        return true;
    }
    address.ip().is_loopback()
        && (host == format!("localhost:{}", address.port())
            || host == format!("127.0.0.1:{}", address.port())
            || host == format!("[::1]:{}", address.port()))
}

/// Refuses requests whose `Host` is not this API's (DNS rebinding), and marks every
/// answer not to be cached, sniffed, framed or referred.
pub(super) async fn guard(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|value| value.to_str().ok());
    let mut response = match host {
        Some(host) if allowed_host(api.address, host) => next.run(request).await,
        _ => ApiError::new(
            StatusCode::FORBIDDEN,
            format!("host check failed: call this API as http://{} (or localhost on its port)", api.address),
        )
        .into_response(),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, CSP),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A one-time login link.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginLink {
    /// Open this in a browser on this machine.
    pub url: String,
    /// Seconds it works for, once.
    pub expires_in_s: u64,
}

/// A one-time link that logs a browser into the console (token only, not a console session).
#[utoipa::path(post, path = "/v1/console/links", responses((status = 200, body = LoginLink)))]
pub(super) async fn login_link(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Json<LoginLink>, ApiError> {
    if !matches!(caller(&api, &headers)?, Caller::Token) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "only the API token makes login links"));
    }
    let code = api.sessions.link()?;
    Ok(Json(LoginLink { url: format!("http://{}/#login={code}", api.address), expires_in_s: LINK_LIFETIME.as_secs() }))
}

/// The code from a login link.
#[derive(Debug, Deserialize)]
pub(super) struct Login {
    code: String,
}

/// Exchanges a login code for the session cookie.
pub(super) async fn session_start(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Json(login): Json<Login>,
) -> Result<Response, ApiError> {
    same_origin(&api, &headers, &Method::POST)?;
    let Some(session) = api.sessions.redeem(&login.code)? else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this login link was used already or has expired; run `me2b open` for a new one",
        ));
    };
    let cookie = format!(
        "{}={session}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        cookie_name(api.address),
        SESSION_LIFETIME.as_secs()
    );
    let cookie =
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// Logs the console out.
pub(super) async fn session_end(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Response, ApiError> {
    same_origin(&api, &headers, &Method::DELETE)?;
    let name = cookie_name(api.address);
    if let Some(session) = session_cookie(&headers, &name) {
        api.sessions.end(session);
    }
    let cookie = HeaderValue::from_str(&format!("{name}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// The page.
pub(super) async fn page() -> Response {
    file("index.html")
}

/// The page's script, style and icon.
pub(super) async fn asset(Path(name): Path<String>) -> Response {
    file(&name)
}

fn file(name: &str) -> Response {
    let Some(file) = Files::get(name) else {
        return ApiError::new(StatusCode::NOT_FOUND, format!("no console file {name}")).into_response();
    };
    let kind = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    ([(header::CONTENT_TYPE, kind)], Body::from(file.data.into_owned())).into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_code_works_once_and_sessions_are_bounded() {
        let sessions = Sessions::default();
        let code = sessions.link().unwrap();
        let session = sessions.redeem(&code).unwrap().unwrap();
        assert!(sessions.valid(&session));
        assert!(sessions.redeem(&code).unwrap().is_none(), "a second use");
        assert!(sessions.redeem("00").unwrap().is_none());
        let many: Vec<String> =
            (0..MAX_SESSIONS).map(|_| sessions.redeem(&sessions.link().unwrap()).unwrap().unwrap()).collect();
        assert!(!sessions.valid(&session), "the oldest session was logged out");
        assert!(many.iter().all(|s| sessions.valid(s)));
        assert_eq!(sessions.inner.lock().unwrap().sessions.len(), MAX_SESSIONS);
        let links: Vec<String> = (0..MAX_LINKS + 3).map(|_| sessions.link().unwrap()).collect();
        assert_eq!(sessions.inner.lock().unwrap().links.len(), MAX_LINKS);
        assert!(sessions.redeem(&links[0]).unwrap().is_none(), "pushed out");
        assert!(sessions.redeem(&links[MAX_LINKS + 2]).unwrap().is_some());
    }

    #[test]
    fn the_host_must_be_this_api() {
        let address: SocketAddr = "127.0.0.5:7100".parse().unwrap();
        assert!(allowed_host(address, "127.0.0.5:7100"));
        assert!(allowed_host(address, "localhost:7100"));
        assert!(!allowed_host(address, "localhost:7101"));
        assert!(!allowed_host(address, "evil.example:7100"));
        let public: SocketAddr = "192.0.2.7:7100".parse().unwrap();
        assert!(!allowed_host(public, "localhost:7100"));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; me2b_session_7=abc; b=2"));
        assert_eq!(session_cookie(&headers, "me2b_session_7"), Some("abc"));
        assert_eq!(session_cookie(&headers, "me2b_session_8"), None);
    }
}
