//! The local control API: HTTP/JSON on a loopback address, for the owner's CLI and tools.
//!
//! Every route under `/v1`, `/metrics` and `/v1/events` needs `Authorization: Bearer TOKEN`
//! (the token `me2b init` wrote to the data directory) or the web console's session cookie
//! (see [`console`]); `/healthz`, `/readyz`, `/openapi.json` and the console's files do not
//! (they reveal nothing). Every request must name this API in its `Host`. No CORS headers
//! are sent, so browsers refuse other origins' scripts. Errors are
//! `{"error": "what went wrong and what to do"}`.
//!
//! This module owns the router, authentication, errors, status, metrics and the event
//! stream; the handlers live by resource in `vault` (records, policy), `dealings` (requests,
//! negotiations, agreements, offers, ledger, export) and `business` (campaigns, catalog,
//! received data, demand); `views` holds the JSON shapes and `events` the SSE log.

mod business;
pub mod console;
mod dealings;
pub mod events;
mod vault;
pub use vault::{Import, ImportReport, MAX_IMPORT_BYTES};
pub mod views;

use crate::{NodeError, NodeHandle};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use business::*;
use dealings::*;
use events::EventLog;
use me2b_proto::document::{BusinessPolicyDoc, PolicyDoc, RuleDoc};
use me2b_proto::engine::{CommandError, HandleError, Role};
use serde_json::json;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use utoipa::OpenApi;
use vault::*;
use views::*;

/// Largest request body the API reads.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the handlers share.
pub struct Api {
    node: NodeHandle,
    token: String,
    name: String,
    role: Role,
    address: SocketAddr,
    events: Arc<EventLog>,
    sessions: console::Sessions,
}

impl Api {
    /// The API of `node`, for an owner holding `token`, served at `address`.
    pub fn new(node: NodeHandle, token: String, name: String, role: Role, address: SocketAddr) -> Arc<Api> {
        let events = EventLog::start(&node);
        Arc::new(Api { node, token, name, role, address, events, sessions: console::Sessions::default() })
    }

    /// The routes.
    pub fn router(self: &Arc<Api>) -> Router {
        let protected = Router::new()
            .route("/metrics", get(metrics))
            .route("/v1/status", get(status))
            .route("/v1/vocabulary", get(vocabulary))
            .route("/v1/events", get(events_stream))
            .route("/v1/data", get(data_list).post(data_import))
            .route("/v1/data/{path}", get(data_get).put(data_set).delete(data_remove))
            .route("/v1/imports", post(data_import_file))
            .route("/v1/policy", get(policy_get).put(policy_set))
            .route("/v1/business/policy", get(business_policy_get).put(business_policy_set))
            .route("/v1/subscriptions", get(subscriptions).post(subscribe))
            .route("/v1/intents", post(intent_publish))
            .route("/v1/requests", get(requests))
            .route("/v1/negotiations", get(negotiations))
            .route("/v1/pending", get(pending))
            .route("/v1/pending/{id}/approve", post(approve))
            .route("/v1/pending/{id}/decline", post(decline))
            .route("/v1/pending/{id}/counter", post(counter))
            .route("/v1/agreements", get(agreements))
            .route("/v1/agreements/{id}", get(agreement))
            .route("/v1/agreements/{id}/revoke", post(revoke))
            .route("/v1/agreements/{id}/signed", get(agreement_signed))
            .route("/v1/offers", get(offers).post(offer_send))
            .route("/v1/ledger", get(ledger_entries))
            .route("/v1/ledger/verify", get(ledger_verify))
            .route("/v1/export", get(export))
            .route("/v1/campaigns", post(campaign_publish))
            .route("/v1/catalog", get(catalog_get).put(catalog_set))
            .route("/v1/received", get(received))
            .route("/v1/demand", get(demand))
            .route("/v1/console/links", post(console::login_link))
            .route_layer(middleware::from_fn_with_state(Arc::clone(self), authorise));
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .route("/openapi.json", get(openapi))
            .route("/", get(console::page))
            .route("/console/{file}", get(console::asset))
            .route("/console/session", post(console::session_start).delete(console::session_end))
            .merge(protected)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(middleware::from_fn_with_state(Arc::clone(self), console::guard))
            .with_state(Arc::clone(self))
    }
}

/// The OpenAPI document of this API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "me2b local API",
        description = "Controls a me2b node. Bearer token from the data directory's api-token file."
    ),
    paths(
        status,
        vocabulary,
        data_list,
        data_get,
        data_set,
        data_remove,
        data_import,
        data_import_file,
        policy_get,
        policy_set,
        business_policy_get,
        business_policy_set,
        subscriptions,
        subscribe,
        intent_publish,
        requests,
        negotiations,
        pending,
        approve,
        decline,
        counter,
        agreements,
        agreement,
        agreement_signed,
        revoke,
        offers,
        offer_send,
        ledger_entries,
        ledger_verify,
        export,
        campaign_publish,
        catalog_get,
        catalog_set,
        received,
        demand,
        console::login_link
    ),
    components(schemas(
        RecordView,
        TermsView,
        RequestView,
        NegotiationView,
        AgreementView,
        RevocationView,
        ReceivedView,
        OfferView,
        LedgerEntryView,
        PolicyDoc,
        BusinessPolicyDoc,
        RuleDoc,
        me2b_proto::document::TermsDoc,
        SetValue,
        Import,
        ImportReport,
        crate::import::Rejected,
        Subscribe,
        IntentBody,
        Campaign,
        Reason,
        OfferBody,
        CatalogDoc,
        CatalogItemDoc,
        console::LoginLink
    ))
)]
pub struct ApiDoc;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

impl From<BadInput> for ApiError {
    fn from(error: BadInput) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, error.0)
    }
}

impl From<me2b_proto::decode::TextError> for ApiError {
    fn from(error: me2b_proto::decode::TextError) -> Self {
        BadInput::from(error).into()
    }
}

impl From<me2b_proto::document::DocumentError> for ApiError {
    fn from(error: me2b_proto::document::DocumentError) -> Self {
        BadInput::from(error).into()
    }
}

impl From<NodeError> for ApiError {
    fn from(error: NodeError) -> Self {
        let status = match &error {
            NodeError::Engine(HandleError::Command(command)) => match command {
                CommandError::UnknownNegotiation(_) | CommandError::UnknownAgreement(_) => StatusCode::NOT_FOUND,
                CommandError::Invalid(_) => StatusCode::BAD_REQUEST,
                CommandError::Full(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::CONFLICT,
            },
            NodeError::Engine(HandleError::Busy) => StatusCode::SERVICE_UNAVAILABLE,
            NodeError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, error.to_string())
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

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
        let name = if role == Role::Person { "person" } else { "business" };
        Err(ApiError::new(StatusCode::CONFLICT, format!("only a {name} node can do this")))
    }
}

async fn ready(State(api): State<Arc<Api>>) -> Response {
    match api.node.info().await {
        Ok(info) if !info.listen_addrs.is_empty() => (StatusCode::OK, "ready").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response(),
    }
}

async fn openapi() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(error) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// The words the protocol uses, for forms: purposes with their meaning.
#[utoipa::path(get, path = "/v1/vocabulary", responses((status = 200, description = "Purposes", body = Object)))]
async fn vocabulary() -> Json<serde_json::Value> {
    let purposes: Vec<_> =
        me2b_proto::vocab::Purpose::ALL.iter().map(|p| json!({"name": p.as_str(), "text": p.describe()})).collect();
    Json(json!({ "purposes": purposes }))
}

/// The node's identity, addresses and counts.
#[utoipa::path(get, path = "/v1/status", responses((status = 200, description = "The node", body = Object)))]
async fn status(State(api): State<Arc<Api>>) -> Answer<serde_json::Value> {
    let info = api.node.info().await?;
    let counts = api
        .node
        .read(|state| {
            json!({
                "subscriptions": state.subscriptions.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "records": state.vault.len(),
                "pending": state.negotiations.awaiting_owner().count(),
                "negotiations": state.negotiations.len(),
                "agreements": state.agreements.len(),
                "outbox": state.outbox.len(),
            })
        })
        .await?;
    let mut status = json!({
        "peer_id": info.peer_id.to_string(),
        "public_key": info.public_key.to_string(),
        "role": if api.role == Role::Person { "person" } else { "business" },
        "name": api.name,
        "listen_addrs": info.listen_addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "api": api.address.to_string(),
        "connected_peers": info.connected_peers,
    });
    if let (Some(status), serde_json::Value::Object(counts)) = (status.as_object_mut(), counts) {
        status.extend(counts);
    }
    Ok(Json(status))
}

async fn metrics(State(api): State<Arc<Api>>) -> Result<Response, ApiError> {
    let info = api.node.info().await?;
    let (negotiations, outbox, ledger, by_state) = api
        .node
        .read(|state| {
            let mut by_state: BTreeMap<&'static str, u64> = BTreeMap::new();
            for record in state.agreements.values() {
                *by_state.entry(record.lifecycle.name()).or_default() += 1;
            }
            (state.negotiations.len() as u64, state.outbox.len() as u64, state.ledger.next_sequence, by_state)
        })
        .await?;
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, samples: Vec<(String, u64)>| {
        text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (labels, value) in samples {
            text.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    gauge("me2b_connected_peers", "Peers connected now.", vec![(String::new(), info.connected_peers as u64)]);
    gauge("me2b_negotiations", "Negotiations kept.", vec![(String::new(), negotiations)]);
    gauge("me2b_outbox_messages", "Direct messages waiting for delivery.", vec![(String::new(), outbox)]);
    gauge("me2b_ledger_entries", "Entries in this node's ledger.", vec![(String::new(), ledger)]);
    gauge("me2b_store_flushes", "Store flushes (fsyncs) since start.", vec![(String::new(), info.commits)]);
    gauge(
        "me2b_inputs_handled",
        "Inputs handled since start; with me2b_store_flushes, the mean group-commit batch.",
        vec![(String::new(), info.committed_inputs)],
    );
    gauge(
        "me2b_agreements",
        "Agreements by state.",
        by_state.into_iter().map(|(s, n)| (format!("{{state=\"{s}\"}}"), n)).collect(),
    );
    text.push_str(
        "# HELP me2b_events_total Node events since the daemon started, by type.\n# TYPE me2b_events_total counter\n",
    );
    for (kind, count) in api.events.counts() {
        text.push_str(&format!("me2b_events_total{{type=\"{kind}\"}} {count}\n"));
    }
    // gossipsub's own counters (duplicates, invalid messages, mesh sizes), without the
    // OpenMetrics end marker so that the whole stays one exposition.
    let libp2p = api.node.metrics().await?;
    text.push_str(libp2p.trim_end().trim_end_matches("# EOF").trim_end());
    text.push('\n');
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// Server-sent events: each with an id one greater than the last; reconnect with
/// `Last-Event-ID` to get what was missed (the last 1024 are kept).
async fn events_stream(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
    let (kept, live) = api.events.since(last);
    let backlog = futures::stream::iter(kept);
    let live = futures::stream::unfold((live, last), |(mut live, mut last)| async move {
        loop {
            match live.recv().await {
                Ok((id, body)) if id > last => {
                    last = id;
                    return Some(((id, body), (live, last)));
                }
                Ok(_) => {}
                // A client this slow reconnects with Last-Event-ID and gets the rest.
                Err(_) => return None,
            }
        }
    });
    use futures::StreamExt;
    let stream = backlog.chain(live).map(|(id, body)| {
        let kind = body["type"].as_str().unwrap_or("event").to_owned();
        Ok::<_, Infallible>(SseEvent::default().id(id.to_string()).event(kind).data(body.to_string()))
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}
