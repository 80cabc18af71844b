//! The local control API: HTTP/JSON on a loopback address, for the owner's CLI and tools.
//!
//! Every route under `/v1` and `/metrics` needs `Authorization: Bearer TOKEN` (the token
//! `me2b init` wrote to the data directory) or the web console's session cookie (see
//! [`console`]); `/healthz`, `/readyz`, `/v1/identity`, `/v1/openapi.json` and the console's
//! files do not (they reveal nothing). Every request must name this API in its `Host`. No
//! CORS headers are sent, so browsers refuse other origins' scripts.
//!
//! **Contract.** Routes are listed once, as `#[utoipa::path]` handlers (`documented_routes!`),
//! so a route cannot exist without its OpenAPI operation; the document is served at
//! `/v1/openapi.json`. Answers are typed (`views`); errors are RFC 9457 problem documents with
//! a stable `type` ([`problem`]); every list is paginated by cursor (`?limit=&after=`, next
//! page in the `Link` header, see `page`); event ids survive restarts ([`events`]).
//!
//! This module owns the router, authentication and the node's own routes (status, identity,
//! peers, metrics, events); the handlers live by resource in `vault` (records, policy),
//! `dealings` (requests, negotiations, agreements, offers, ledger, export) and `business`
//! (campaigns, catalog, received data, demand).

mod business;
mod businesses;
pub mod console;
mod dealings;
pub mod events;
mod node_routes;
mod page;
pub mod problem;
mod vault;
pub mod webhooks;
pub use business::{Campaign, CatalogDoc, CatalogItemDoc};
pub use dealings::{IntentBody, Subscribe};
pub use node_routes::{ConnectBody, IdentityProof, identity_message};
pub use page::{DEFAULT_LIMIT, MAX_LIMIT};
pub use problem::{ApiError, PROBLEM_JSON, Problem, ProblemDoc};
pub use vault::{Import, ImportReport, MAX_IMPORT_BYTES};
pub mod views;

use crate::NodeHandle;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use business::*;
use businesses::*;
use console::{__path_login_link, login_link};
use dealings::*;
use events::EventLog;
use me2b_proto::document::{BusinessPolicyDoc, PolicyDoc, RuleDoc};
use me2b_proto::engine::{Handled, Role};
use me2b_proto::identity::Keypair;
use node_routes::*;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vault::*;

/// Largest request body the API reads.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How the daemon sets up its API.
pub struct ApiSettings {
    /// The owner's bearer token.
    pub token: String,
    /// The node's name from the config.
    pub name: String,
    /// Person or business.
    pub role: Role,
    /// Where the API is served.
    pub address: SocketAddr,
    /// The node's key, which answers `GET /v1/identity` challenges.
    pub identity: Keypair,
    /// Where event ids and the kept events survive restarts; `None` keeps them in memory.
    pub events_dir: Option<PathBuf>,
    /// A business's webhook, if set.
    pub webhook: Option<webhooks::WebhookSettings>,
    /// The node's events, subscribed right after it started: what happens before the API is
    /// up (a peer's revocation handled at start) is numbered and kept too.
    pub events: tokio::sync::broadcast::Receiver<crate::NodeEvent>,
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    /// The event log's files.
    #[error(transparent)]
    Events(#[from] events::EventLogError),
    /// The node stopped.
    #[error(transparent)]
    Node(#[from] crate::NodeError),
}

/// What the handlers share.
pub struct Api {
    node: NodeHandle,
    token: String,
    name: String,
    role: Role,
    address: SocketAddr,
    identity: Keypair,
    events: Arc<EventLog>,
    webhooks: Option<Arc<webhooks::Webhooks>>,
    sessions: console::Sessions,
    /// `/v1/openapi.json`, written at its first request (see [`documented_routes`]).
    openapi: std::sync::OnceLock<Result<String, String>>,
}

impl Api {
    /// The API of `node`.
    pub async fn new(node: NodeHandle, settings: ApiSettings) -> Result<Arc<Api>, ApiStartError> {
        let events = match &settings.events_dir {
            Some(dir) => EventLog::start(settings.events, Some((dir.as_path(), node.file_key("events").await?)))?,
            None => EventLog::start(settings.events, None)?,
        };
        let webhooks = match settings.webhook {
            Some(webhook) => {
                let key = node.file_key("webhooks").await?;
                Some(webhooks::Webhooks::start(node.clone(), Arc::clone(&events), webhook, key))
            }
            None => None,
        };
        Ok(Arc::new(Api {
            node,
            token: settings.token,
            name: settings.name,
            role: settings.role,
            address: settings.address,
            identity: settings.identity,
            events,
            webhooks,
            sessions: console::Sessions::default(),
            openapi: std::sync::OnceLock::new(),
        }))
    }

    /// Records where event ids continue (call after the node stopped, before exiting).
    pub fn close(&self) {
        self.events.close();
    }

    /// The API's router, with this API's state.
    pub fn router(self: &Arc<Api>) -> Router {
        let (protected, public) = routes();
        let protected = protected.route_layer(middleware::from_fn_with_state(Arc::clone(self), authorise));
        Router::new()
            .route("/v1/openapi.json", get(openapi))
            .route("/", get(console::page))
            .route("/console/{file}", get(console::asset))
            .route("/console/session", post(console::session_start).delete(console::session_end))
            .merge(public)
            .merge(protected)
            .route_layer(middleware::from_fn(trace_requests))
            .fallback(no_route)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(middleware::from_fn(problem::plain_errors))
            .layer(middleware::from_fn_with_state(Arc::clone(self), console::guard))
            .with_state(Arc::clone(self))
    }
}

/// An HTTP client for a node's API, which is plain HTTP on a loopback address: so never through
/// a proxy the environment names (`http_proxy` would carry the calls there, and the token with
/// them once the proxy relayed a valid identity proof), and without the system's TLS roots
/// (loading them reads every file in `/etc/ssl/certs`).
pub fn client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().no_proxy().tls_built_in_root_certs(false)
}

/// Every documented route, listed once; a group shares one path. The router is built from
/// each handler's `#[utoipa::path]` path and methods alone ([`route`]); the OpenAPI document,
/// which `utoipa-axum` builds along with a router (0.5 MB of code and 1.7 MB of heap at its
/// peak), only at the first request of `/v1/openapi.json`. So a route still cannot exist
/// without its documented operation, and a daemon pays for the document only when it is read.
macro_rules! documented_routes {
    (
        protected: [$( ($($protected:ident),+) ),* $(,)?],
        public: [$( ($($public:ident),+) ),* $(,)?] $(,)?
    ) => {
        /// The routes: those that need the token, and those that do not.
        fn routes() -> (Router<Arc<Api>>, Router<Arc<Api>>) {
            utoipa_axum::paste! {
                let protected = Router::new();
                $($( let protected = route::<[<__path_ $protected>], _, _>(protected, $protected); )+)*
                let public = Router::new();
                $($( let public = route::<[<__path_ $public>], _, _>(public, $public); )+)*
            }
            (protected, public)
        }

        /// The API's OpenAPI document, generated from the routes.
        pub fn openapi_document() -> utoipa::openapi::OpenApi {
            let (_, protected) = OpenApiRouter::<Arc<Api>>::new()
                $( .routes(routes!($($protected),+)) )*
                .split_for_parts();
            let (_, public) = OpenApiRouter::<Arc<Api>>::new()
                $( .routes(routes!($($public),+)) )*
                .split_for_parts();
            let mut document = ApiDoc::openapi();
            document.merge(protected);
            document.merge(public);
            document
        }
    };
}

documented_routes! {
    protected: [
        (metrics),
        (status),
        (peers),
        (backup),
        (connect),
        (vocabulary),
        (events_stream),
        (data_list, data_import),
        (data_get, data_set, data_remove),
        (data_import_file),
        (policy_get, policy_set),
        (business_policy_get, business_policy_set),
        (subscriptions, subscribe),
        (intent_publish),
        (requests),
        (negotiations),
        (pending),
        (approve),
        (decline),
        (counter),
        (agreements),
        (agreement),
        (revoke),
        (agreement_signed),
        (businesses),
        (petname),
        (domain_proof),
        (offers, offer_send),
        (ledger_entries),
        (ledger_verify),
        (export),
        (campaign_publish),
        (catalog_get, catalog_set),
        (received),
        (demand),
        (login_link),
        (webhooks_status),
        (webhook_retry),
    ],
    public: [(healthz), (ready), (identity)],
}

/// `router` with `handler` at the path and methods its operation `P` documents (a path's
/// handlers share its route).
fn route<P, H, T>(router: Router<Arc<Api>>, handler: H) -> Router<Arc<Api>>
where
    P: utoipa::Path,
    H: axum::handler::Handler<T, Arc<Api>>,
    T: 'static,
{
    use utoipa_axum::PathItemExt as _;
    let methods = P::methods()
        .iter()
        .fold(MethodRouter::new(), |methods, method| methods.on(method.to_method_filter(), handler.clone()));
    router.route(&P::path(), methods)
}

/// The document's frame: what the routes do not say themselves.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "me2b local API",
        description = "Controls a me2b node. Send the data directory's api-token as a bearer token \
                       (first check the daemon with GET /v1/identity). Errors are RFC 9457 problem \
                       documents; lists are paginated with ?limit=&after= and a Link header."
    ),
    components(schemas(ProblemDoc, PolicyDoc, BusinessPolicyDoc, RuleDoc, me2b_proto::document::TermsDoc))
)]
struct ApiDoc;

async fn openapi(State(api): State<Arc<Api>>) -> Response {
    match api.openapi.get_or_init(|| openapi_document().to_json().map_err(|error| error.to_string())) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text.clone()).into_response(),
        Err(error) => ApiError::of(Problem::Internal, error.clone()).into_response(),
    }
}

/// One span per request, named by its route's template (never the concrete path: it may hold
/// ids, and logs never pair a peer's ids), with the status and time logged at debug.
async fn trace_requests(request: Request, next: Next) -> Response {
    use tracing::Instrument as _;
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "(no route)".to_owned());
    let span = tracing::info_span!("api", method = %request.method(), route = %route);
    async move {
        let started = std::time::Instant::now();
        let response = next.run(request).await;
        tracing::debug!(status = response.status().as_u16(), micros = started.elapsed().as_micros() as u64, "answered");
        response
    }
    .instrument(span)
    .await
}

async fn no_route(request: Request) -> ApiError {
    ApiError::of(
        Problem::NotFound,
        format!("no such route: {} {} (see /v1/openapi.json)", request.method(), request.uri().path()),
    )
}

type Answer<T> = Result<Json<T>, ApiError>;
type Listing<T> = Result<page::Listed<T>, ApiError>;

/// The engine answered a command with something other than what the command produces.
fn unexpected(handled: Handled) -> ApiError {
    ApiError::of(Problem::Internal, format!("the node answered the command unexpectedly: {handled:?}"))
}

async fn authorise(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let checked = console::caller(&api, request.headers()).and_then(|caller| match caller {
        console::Caller::Token => Ok(()),
        console::Caller::Console => console::same_origin(&api, request.headers(), request.method()),
    });
    match checked {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn require(api: &Api, role: Role) -> Result<(), ApiError> {
    if api.role == role {
        Ok(())
    } else {
        Err(ApiError::of(Problem::WrongRole, format!("only a {} node can do this", role_name(role))))
    }
}

/// A role's name in the API.
fn role_name(role: Role) -> &'static str {
    if role == Role::Person { "person" } else { "business" }
}
