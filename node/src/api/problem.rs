//! Error answers: RFC 9457 problem details (`application/problem+json`), each with a stable
//! `type` that programs match on (the CLI maps them to its exit codes), a `title` that names
//! the kind, and a `detail` that says what went wrong and what to do.

use crate::NodeError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use me2b_proto::engine::{CommandError, HandleError};
use serde::Serialize;
use utoipa::ToSchema;

/// The kinds of problem the API reports. The `type` of each is `urn:me2b:problem:SLUG`;
/// slugs never change meaning (a new kind gets a new slug).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The request is malformed or a value in it is not valid (400).
    BadRequest,
    /// No token, a wrong token, or an ended console session (401).
    Unauthorized,
    /// Authenticated, but not allowed from here: a host or origin check failed (403).
    Forbidden,
    /// No such record, negotiation, agreement or route (404).
    NotFound,
    /// The call needs the other role: a person's call on a business node or the reverse (409).
    WrongRole,
    /// The node's state does not allow it now, e.g. approving a negotiation already decided (409).
    Conflict,
    /// The body is larger than the API reads (413).
    TooLarge,
    /// The content was read but cannot be used, e.g. an import file that does not parse (422).
    Unprocessable,
    /// A bound was reached: too many outstanding items of this kind (429).
    Full,
    /// The node could not reach a peer or address (502).
    Network,
    /// The node is busy or stopping; try again (503).
    Busy,
    /// A fault in the node itself (500).
    Internal,
}

impl Problem {
    /// Every kind, for documentation and tests.
    pub const ALL: [Problem; 12] = [
        Problem::BadRequest,
        Problem::Unauthorized,
        Problem::Forbidden,
        Problem::NotFound,
        Problem::WrongRole,
        Problem::Conflict,
        Problem::TooLarge,
        Problem::Unprocessable,
        Problem::Full,
        Problem::Network,
        Problem::Busy,
        Problem::Internal,
    ];

    /// The stable name in `type`.
    pub fn slug(self) -> &'static str {
        match self {
            Problem::BadRequest => "bad-request",
            Problem::Unauthorized => "unauthorized",
            Problem::Forbidden => "forbidden",
            Problem::NotFound => "not-found",
            Problem::WrongRole => "wrong-role",
            Problem::Conflict => "conflict",
            Problem::TooLarge => "too-large",
            Problem::Unprocessable => "unprocessable",
            Problem::Full => "full",
            Problem::Network => "network",
            Problem::Busy => "busy",
            Problem::Internal => "internal",
        }
    }

    /// The `type` URI.
    pub fn type_uri(self) -> String {
        format!("urn:me2b:problem:{}", self.slug())
    }

    /// The kind whose `type` is `uri`.
    pub fn from_type(uri: &str) -> Option<Problem> {
        let slug = uri.strip_prefix("urn:me2b:problem:")?;
        Problem::ALL.into_iter().find(|p| p.slug() == slug)
    }

    /// The HTTP status it is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Problem::BadRequest => StatusCode::BAD_REQUEST,
            Problem::Unauthorized => StatusCode::UNAUTHORIZED,
            Problem::Forbidden => StatusCode::FORBIDDEN,
            Problem::NotFound => StatusCode::NOT_FOUND,
            Problem::WrongRole | Problem::Conflict => StatusCode::CONFLICT,
            Problem::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Problem::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Problem::Full => StatusCode::TOO_MANY_REQUESTS,
            Problem::Network => StatusCode::BAD_GATEWAY,
            Problem::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Problem::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The kind a bare status stands for (answers that axum itself makes, e.g. a body too large).
    pub fn of_status(status: StatusCode) -> Problem {
        Problem::ALL
            .into_iter()
            .find(|p| p.status() == status && *p != Problem::WrongRole)
            .unwrap_or(if status.is_client_error() { Problem::BadRequest } else { Problem::Internal })
    }

    /// A short, fixed summary of the kind.
    pub fn title(self) -> &'static str {
        match self {
            Problem::BadRequest => "The request is not valid",
            Problem::Unauthorized => "Not authenticated",
            Problem::Forbidden => "Not allowed from here",
            Problem::NotFound => "Not found",
            Problem::WrongRole => "Not for this node's role",
            Problem::Conflict => "Not possible in the current state",
            Problem::TooLarge => "The request is too large",
            Problem::Unprocessable => "The content cannot be used",
            Problem::Full => "A limit was reached",
            Problem::Network => "The network could not be reached",
            Problem::Busy => "The node is busy",
            Problem::Internal => "The node failed",
        }
    }
}

/// An RFC 9457 problem details document.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDoc {
    /// `urn:me2b:problem:SLUG`: bad-request, unauthorized, forbidden, not-found, wrong-role,
    /// conflict, too-large, unprocessable, full, network, busy, internal.
    #[serde(rename = "type")]
    pub kind: String,
    /// The kind in words.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong here, and what to do.
    pub detail: String,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    problem: Problem,
    detail: String,
}

impl ApiError {
    /// A problem of the kind `status` stands for.
    pub(super) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError::of(Problem::of_status(status), detail)
    }

    /// A problem of kind `problem`.
    pub(super) fn of(problem: Problem, detail: impl Into<String>) -> Self {
        ApiError { problem, detail: detail.into() }
    }

    /// The document answered.
    pub fn document(&self) -> ProblemDoc {
        ProblemDoc {
            kind: self.problem.type_uri(),
            title: self.problem.title().to_owned(),
            status: self.problem.status().as_u16(),
            detail: self.detail.clone(),
        }
    }
}

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.problem.status(), Json(self.document())).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl From<NodeError> for ApiError {
    fn from(error: NodeError) -> Self {
        let problem = match &error {
            NodeError::Engine(HandleError::Command(command)) => match command {
                CommandError::UnknownNegotiation(_) | CommandError::UnknownAgreement(_) => Problem::NotFound,
                CommandError::Invalid(_) => Problem::BadRequest,
                CommandError::Full(_) => Problem::Full,
                _ => Problem::Conflict,
            },
            NodeError::Engine(HandleError::Busy) | NodeError::Stopped => Problem::Busy,
            NodeError::Dial(_) => Problem::Network,
            _ => Problem::Internal,
        };
        ApiError::of(problem, error.to_string())
    }
}

/// Turns axum's own plain-text rejections (a body too large, malformed JSON, an unknown
/// route) into problem documents, so every error answer has the same form.
pub(super) async fn plain_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_none_or(|value| value.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    let detail = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_owned() } else { text };
    let problem = Problem::of_status(status);
    let mut response = ApiError::of(problem, detail).into_response();
    *response.status_mut() = status;
    response
}

impl From<super::views::BadInput> for ApiError {
    fn from(error: super::views::BadInput) -> Self {
        ApiError::of(Problem::BadRequest, error.0)
    }
}

impl From<me2b_proto::decode::TextError> for ApiError {
    fn from(error: me2b_proto::decode::TextError) -> Self {
        super::views::BadInput::from(error).into()
    }
}

impl From<me2b_proto::document::DocumentError> for ApiError {
    fn from(error: me2b_proto::document::DocumentError) -> Self {
        super::views::BadInput::from(error).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_type_that_reads_back() {
        let mut slugs = std::collections::BTreeSet::new();
        for problem in Problem::ALL {
            assert!(slugs.insert(problem.slug()), "{problem:?} shares its slug");
            assert_eq!(Problem::from_type(&problem.type_uri()), Some(problem));
        }
        assert_eq!(Problem::from_type("urn:me2b:problem:nonsense"), None);
        assert_eq!(Problem::of_status(StatusCode::CONFLICT), Problem::Conflict, "a bare 409 is a conflict");
        assert_eq!(Problem::of_status(StatusCode::IM_A_TEAPOT), Problem::BadRequest);
    }
}
