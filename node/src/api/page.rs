//! Cursor pagination for every list: `?limit=N&after=CURSOR`. A list answers a JSON array in
//! a fixed order (by each item's key), at most `limit` items (default 100, at most 1000), and
//! when more follow, a `Link: <PATH?limit=N&after=KEY>; rel="next"` header (RFC 8288) naming
//! the next page. The cursor is the last item's key, so a page stays right while items are
//! added or removed elsewhere in the list.

use super::problem::ApiError;
use axum::Json;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// Items a page holds when the client does not say.
pub const DEFAULT_LIMIT: usize = 100;
/// The most items one page holds.
pub const MAX_LIMIT: usize = 1000;

/// The page asked for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items (default 100, at most 1000).
    pub limit: Option<usize>,
    /// The key of the last item of the previous page, from its `Link` header.
    pub after: Option<String>,
}

/// The page asked for, and where it was asked (for the next page's link).
#[derive(Debug)]
pub struct Page {
    limit: usize,
    after: Option<String>,
    path: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(query) = Query::<PageQuery>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("limit must be 1 to {MAX_LIMIT}")));
        }
        Ok(Page { limit, after: query.after, path: parts.uri.path().to_owned() })
    }
}

impl Page {
    /// The items of this page out of `keyed` (each with its key, in any order): those whose
    /// key sorts after the cursor, the first `limit` of them by key, made into views by `view`
    /// only for the page (so a page of a large list costs one pass over keys, not a view of
    /// every item).
    pub fn of<I, T>(&self, keyed: impl IntoIterator<Item = (String, I)>, view: impl Fn(I) -> T) -> Listed<T> {
        let mut candidates: Vec<(String, I)> = keyed
            .into_iter()
            .filter(|(key, _)| self.after.as_ref().is_none_or(|after| key.as_str() > after.as_str()))
            .collect();
        let more = candidates.len() > self.limit;
        if more {
            candidates.select_nth_unstable_by(self.limit, |a, b| a.0.cmp(&b.0));
            candidates.truncate(self.limit);
        }
        candidates.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let next = if more { candidates.last().map(|(key, _)| key.clone()) } else { None };
        let items = candidates.into_iter().map(|(_, item)| view(item)).collect();
        Listed { items, next: next.map(|key| self.link(&key)) }
    }

    fn link(&self, after: &str) -> String {
        let encoded: String = after
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect();
        format!("<{}?limit={}&after={encoded}>; rel=\"next\"", self.path, self.limit)
    }
}

/// One page of a list: the items, and the link to the next page if there is one.
#[derive(Debug)]
pub struct Listed<T> {
    /// The page's items.
    pub items: Vec<T>,
    /// The `Link` header value naming the next page.
    pub next: Option<String>,
}

impl<T: serde::Serialize> IntoResponse for Listed<T> {
    fn into_response(self) -> Response {
        let mut response = Json(self.items).into_response();
        if let Some(next) = self.next.and_then(|next| HeaderValue::from_str(&next).ok()) {
            response.headers_mut().insert(header::LINK, next);
        }
        response
    }
}
