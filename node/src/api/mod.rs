//! The local control API: HTTP/JSON on a loopback address, for the owner's CLI and tools.
//!
//! Every route under `/v1`, `/metrics` and `/v1/events` needs `Authorization: Bearer TOKEN`
//! (the token `me2b init` wrote to the data directory); `/healthz`, `/readyz` and
//! `/openapi.json` do not (they reveal nothing). No CORS headers are sent, so browsers refuse
//! other origins' scripts. Errors are `{"error": "what went wrong and what to do"}`.

pub mod events;
pub mod views;

use crate::clock::now;
use crate::{NodeError, NodeHandle};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use events::EventLog;
use me2b_proto::document::{PolicyDoc, RuleDoc, TermsDoc};
use me2b_proto::engine::{CatalogItem, Command, CommandError, HandleError, Handled, Provenance, Role};
use me2b_proto::identity::{AgreementId, NegotiationId};
use me2b_proto::ledger;
use me2b_proto::messages::ProductOffer;
use me2b_proto::policy::Policy;
use me2b_proto::time::{Timestamp, parse_duration};
use me2b_proto::vocab::{Category, FieldPath};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use utoipa::{OpenApi, ToSchema};
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
}

impl Api {
    /// The API of `node`, for an owner holding `token`, served at `address`.
    pub fn new(node: NodeHandle, token: String, name: String, role: Role, address: SocketAddr) -> Arc<Api> {
        let events = EventLog::start(&node);
        Arc::new(Api { node, token, name, role, address, events })
    }

    /// The routes.
    pub fn router(self: &Arc<Api>) -> Router {
        let protected = Router::new()
            .route("/metrics", get(metrics))
            .route("/v1/status", get(status))
            .route("/v1/events", get(events_stream))
            .route("/v1/data", get(data_list).post(data_import))
            .route("/v1/data/{path}", get(data_get).put(data_set).delete(data_remove))
            .route("/v1/policy", get(policy_get).put(policy_set))
            .route("/v1/subscriptions", get(subscriptions).post(subscribe))
            .route("/v1/intents", post(intent_publish))
            .route("/v1/requests", get(requests))
            .route("/v1/negotiations", get(negotiations))
            .route("/v1/pending", get(pending))
            .route("/v1/pending/{id}/approve", post(approve))
            .route("/v1/pending/{id}/decline", post(decline))
            .route("/v1/agreements", get(agreements))
            .route("/v1/agreements/{id}", get(agreement))
            .route("/v1/agreements/{id}/revoke", post(revoke))
            .route("/v1/offers", get(offers).post(offer_send))
            .route("/v1/ledger", get(ledger_entries))
            .route("/v1/ledger/verify", get(ledger_verify))
            .route("/v1/export", get(export))
            .route("/v1/campaigns", post(campaign_publish))
            .route("/v1/catalog", axum::routing::put(catalog_set))
            .route("/v1/received", get(received))
            .route("/v1/demand", get(demand))
            .route_layer(middleware::from_fn_with_state(Arc::clone(self), authorise));
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .route("/openapi.json", get(openapi))
            .merge(protected)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
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
        data_list,
        data_get,
        data_set,
        data_remove,
        data_import,
        policy_get,
        policy_set,
        subscriptions,
        subscribe,
        intent_publish,
        requests,
        negotiations,
        pending,
        approve,
        decline,
        agreements,
        agreement,
        revoke,
        offers,
        offer_send,
        ledger_entries,
        ledger_verify,
        export,
        campaign_publish,
        received,
        demand
    ),
    components(schemas(
        RecordView,
        TermsView,
        RequestView,
        NegotiationView,
        AgreementView,
        ReceivedView,
        OfferView,
        LedgerEntryView,
        PolicyDoc,
        RuleDoc,
        SetValue,
        Import,
        Subscribe,
        IntentBody,
        Campaign,
        Reason,
        OfferBody
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
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), api.token.as_bytes()) => next.run(request).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "wrong API token; use the one in the data directory's api-token file").into_response(),
        None => ApiError::new(StatusCode::UNAUTHORIZED, "missing API token; send `Authorization: Bearer TOKEN` with the token from the data directory's api-token file").into_response(),
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

/// The node's identity, addresses and counts.
#[utoipa::path(get, path = "/v1/status", responses((status = 200, description = "The node", body = Object)))]
async fn status(State(api): State<Arc<Api>>) -> Answer<serde_json::Value> {
    let info = api.node.info().await?;
    let state = api.node.state().await?;
    Ok(Json(json!({
        "peer_id": info.peer_id.to_string(),
        "public_key": info.public_key.to_string(),
        "role": if api.role == Role::Person { "person" } else { "business" },
        "name": api.name,
        "listen_addrs": info.listen_addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "api": api.address.to_string(),
        "connected_peers": info.connected_peers,
        "subscriptions": state.subscriptions.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "records": state.vault.len(),
        "pending": state.negotiations.awaiting_owner().count(),
        "negotiations": state.negotiations.len(),
        "agreements": state.agreements.len(),
        "outbox": state.outbox.len(),
    })))
}

async fn metrics(State(api): State<Arc<Api>>) -> Result<Response, ApiError> {
    let info = api.node.info().await?;
    let state = api.node.state().await?;
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, samples: Vec<(String, u64)>| {
        text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (labels, value) in samples {
            text.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    gauge("me2b_connected_peers", "Peers connected now.", vec![(String::new(), info.connected_peers as u64)]);
    gauge("me2b_negotiations", "Negotiations kept.", vec![(String::new(), state.negotiations.len() as u64)]);
    gauge(
        "me2b_outbox_messages",
        "Direct messages waiting for delivery.",
        vec![(String::new(), state.outbox.len() as u64)],
    );
    gauge("me2b_ledger_entries", "Entries in this node's ledger.", vec![(String::new(), state.ledger.next_sequence)]);
    let mut by_state: BTreeMap<&str, u64> = BTreeMap::new();
    for record in state.agreements.values() {
        *by_state.entry(record.lifecycle.name()).or_default() += 1;
    }
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

/// The vault's records, with values.
#[utoipa::path(get, path = "/v1/data", responses((status = 200, body = [RecordView])))]
async fn data_list(State(api): State<Arc<Api>>) -> Answer<Vec<RecordView>> {
    let state = api.node.state().await?;
    Ok(Json(state.vault.iter().map(|(path, record)| RecordView::new(path, record)).collect()))
}

/// One record.
#[utoipa::path(get, path = "/v1/data/{path}", params(("path" = String, Path)), responses((status = 200, body = RecordView), (status = 404)))]
async fn data_get(State(api): State<Arc<Api>>, Path(path): Path<String>) -> Answer<RecordView> {
    let path = path.parse::<FieldPath>()?;
    let state = api.node.state().await?;
    let record =
        state.vault.get(&path).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no record at {path}")))?;
    Ok(Json(RecordView::new(&path, record)))
}

/// A value to store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetValue {
    /// A number, true/false, a YYYY-MM-DD date, text, or a series.
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    /// `owner` (default) or `device:NAME`.
    #[serde(default)]
    pub provenance: Option<String>,
}

/// The owner may say a value is their own or a device's; an issuer's attestation comes with
/// the issuer's signature, never through the API.
fn provenance(text: Option<&str>) -> Result<Provenance, BadInput> {
    match text.map(str::parse).transpose()? {
        None => Ok(Provenance::Owner),
        Some(Provenance::Issuer(_)) => {
            Err(BadInput("provenance `issuer:` cannot be set here; use `owner` or `device:NAME`".into()))
        }
        Some(provenance) => Ok(provenance),
    }
}

/// Sets a record (person).
#[utoipa::path(put, path = "/v1/data/{path}", params(("path" = String, Path)), request_body = SetValue, responses((status = 200, body = RecordView)))]
async fn data_set(
    State(api): State<Arc<Api>>,
    Path(path): Path<String>,
    Json(body): Json<SetValue>,
) -> Answer<RecordView> {
    require(&api, Role::Person)?;
    let path = path.parse::<FieldPath>()?;
    let value = value_from_json(&body.value)?;
    let provenance = provenance(body.provenance.as_deref())?;
    api.node.command(Command::SetRecord { path: path.clone(), value, provenance }).await?;
    data_get(State(api), Path(path.to_string())).await
}

/// Removes a record (person).
#[utoipa::path(delete, path = "/v1/data/{path}", params(("path" = String, Path)), responses((status = 200)))]
async fn data_remove(State(api): State<Arc<Api>>, Path(path): Path<String>) -> Answer<serde_json::Value> {
    require(&api, Role::Person)?;
    let path = path.parse::<FieldPath>()?;
    let state = api.node.state().await?;
    if !state.vault.contains_key(&path) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no record at {path}")));
    }
    api.node.command(Command::RemoveRecord(path.clone())).await?;
    Ok(Json(json!({"removed": path.to_string()})))
}

/// Records to import, by path.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Import {
    /// Values by path.
    #[schema(value_type = Object)]
    pub records: BTreeMap<String, serde_json::Value>,
    /// `owner` (default) or `device:NAME`, for all of them.
    #[serde(default)]
    pub provenance: Option<String>,
}

/// Imports many records at once (person); all are checked before any is stored.
#[utoipa::path(post, path = "/v1/data", request_body = Import, responses((status = 200)))]
async fn data_import(State(api): State<Arc<Api>>, Json(body): Json<Import>) -> Answer<serde_json::Value> {
    require(&api, Role::Person)?;
    let provenance = provenance(body.provenance.as_deref())?;
    let records = body
        .records
        .iter()
        .map(|(path, value)| {
            let checked =
                path.parse::<FieldPath>().map_err(BadInput::from).and_then(|p| Ok((p, value_from_json(value)?)));
            checked.map_err(|e| BadInput(format!("{path}: {}", e.0)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (path, value) in &records {
        let command = Command::SetRecord { path: path.clone(), value: value.clone(), provenance: provenance.clone() };
        api.node.command(command).await?;
    }
    Ok(Json(json!({"imported": records.len()})))
}

/// The person's policy.
#[utoipa::path(get, path = "/v1/policy", responses((status = 200, body = PolicyDoc)))]
async fn policy_get(State(api): State<Arc<Api>>) -> Answer<PolicyDoc> {
    require(&api, Role::Person)?;
    Ok(Json(PolicyDoc::from(&api.node.state().await?.policy)))
}

/// Replaces the person's policy.
#[utoipa::path(put, path = "/v1/policy", request_body = PolicyDoc, responses((status = 200, body = PolicyDoc)))]
async fn policy_set(State(api): State<Arc<Api>>, Json(doc): Json<PolicyDoc>) -> Answer<PolicyDoc> {
    require(&api, Role::Person)?;
    let policy = Policy::try_from(doc)?;
    api.node.command(Command::SetPolicy(policy)).await?;
    policy_get(State(api)).await
}

/// The categories followed.
#[utoipa::path(get, path = "/v1/subscriptions", responses((status = 200, body = [String])))]
async fn subscriptions(State(api): State<Arc<Api>>) -> Answer<Vec<String>> {
    Ok(Json(api.node.state().await?.subscriptions.iter().map(ToString::to_string).collect()))
}

/// Categories to follow.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {
    /// E.g. `apparel.shoes`.
    pub categories: Vec<String>,
    /// Stop following them instead.
    #[serde(default)]
    pub unsubscribe: bool,
}

/// Follows (or stops following) categories: a person hears their requests, a business their
/// intents.
#[utoipa::path(post, path = "/v1/subscriptions", request_body = Subscribe, responses((status = 200, body = [String])))]
async fn subscribe(State(api): State<Arc<Api>>, Json(body): Json<Subscribe>) -> Answer<Vec<String>> {
    let categories = body.categories.iter().map(|c| c.parse::<Category>()).collect::<Result<Vec<_>, _>>()?;
    for category in categories {
        let command = if body.unsubscribe { Command::Unsubscribe(category) } else { Command::Subscribe(category) };
        api.node.command(command).await?;
    }
    subscriptions(State(api)).await
}

/// An intent to publish.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentBody {
    /// E.g. `apparel.shoes`.
    pub category: String,
    /// What is wanted, e.g. `{"size_eu": "44"}`.
    #[serde(default)]
    pub spec: BTreeMap<String, String>,
    /// The most the person pays, e.g. `120 EUR`.
    #[serde(default)]
    pub max_price: Option<String>,
    /// Fields the person offers to share for a better offer, `PATH[:optional]`.
    #[serde(default)]
    pub shares: Vec<String>,
    /// How long it stands, e.g. `14d` (default 7d).
    #[serde(default)]
    pub expires: Option<String>,
}

/// Publishes an intent (person).
#[utoipa::path(post, path = "/v1/intents", request_body = IntentBody, responses((status = 200)))]
async fn intent_publish(State(api): State<Arc<Api>>, Json(body): Json<IntentBody>) -> Answer<serde_json::Value> {
    require(&api, Role::Person)?;
    let lifetime = body.expires.as_deref().map(parse_duration).transpose()?.unwrap_or(Duration::from_secs(7 * 86_400));
    let command = Command::PublishIntent {
        category: body.category.parse()?,
        spec: body.spec,
        max_price: body.max_price.as_deref().map(str::parse).transpose()?,
        shares: body.shares.iter().map(|f| f.parse()).collect::<Result<_, _>>()?,
        expires_at: now().saturating_add(lifetime),
    };
    match api.node.command(command).await? {
        Handled::Intent(id) => Ok(Json(json!({"id": id.to_string()}))),
        _ => Ok(Json(json!({}))),
    }
}

/// Data requests seen (person) or published (business).
#[utoipa::path(get, path = "/v1/requests", responses((status = 200, body = [RequestView])))]
async fn requests(State(api): State<Arc<Api>>) -> Answer<Vec<RequestView>> {
    Ok(Json(api.node.state().await?.requests.values().map(RequestView::from).collect()))
}

/// All negotiations kept, open or ended.
#[utoipa::path(get, path = "/v1/negotiations", responses((status = 200, body = [NegotiationView])))]
async fn negotiations(State(api): State<Arc<Api>>) -> Answer<Vec<NegotiationView>> {
    Ok(Json(api.node.state().await?.negotiations.values().map(NegotiationView::from).collect()))
}

/// Negotiations waiting for the owner's decision.
#[utoipa::path(get, path = "/v1/pending", responses((status = 200, body = [NegotiationView])))]
async fn pending(State(api): State<Arc<Api>>) -> Answer<Vec<NegotiationView>> {
    let state = api.node.state().await?;
    Ok(Json(state.negotiations.awaiting_owner().map(NegotiationView::from).collect()))
}

fn negotiation_id(text: &str) -> Result<NegotiationId, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`{text}` is not a negotiation id (32 hex digits); see `me2b pending`"),
        )
    })
}

fn agreement_id(text: &str) -> Result<AgreementId, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`{text}` is not an agreement id (64 hex digits); see `me2b agreements`"),
        )
    })
}

/// Approves a pending negotiation.
#[utoipa::path(post, path = "/v1/pending/{id}/approve", params(("id" = String, Path)), responses((status = 200), (status = 404)))]
async fn approve(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Answer<serde_json::Value> {
    let id = negotiation_id(&id)?;
    api.node.command(Command::Approve(id)).await?;
    Ok(Json(json!({"approved": id.to_string()})))
}

/// Declines a pending negotiation.
#[utoipa::path(post, path = "/v1/pending/{id}/decline", params(("id" = String, Path)), responses((status = 200), (status = 404)))]
async fn decline(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Answer<serde_json::Value> {
    let id = negotiation_id(&id)?;
    api.node.command(Command::Decline(id)).await?;
    Ok(Json(json!({"declined": id.to_string()})))
}

/// Agreements and where they stand.
#[utoipa::path(get, path = "/v1/agreements", responses((status = 200, body = [AgreementView])))]
async fn agreements(State(api): State<Arc<Api>>) -> Answer<Vec<AgreementView>> {
    Ok(Json(api.node.state().await?.agreements.values().map(AgreementView::from).collect()))
}

/// One agreement.
#[utoipa::path(get, path = "/v1/agreements/{id}", params(("id" = String, Path)), responses((status = 200, body = AgreementView), (status = 404)))]
async fn agreement(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Answer<AgreementView> {
    let id = agreement_id(&id)?;
    let state = api.node.state().await?;
    let record =
        state.agreements.get(&id).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no agreement {id}")))?;
    Ok(Json(AgreementView::from(record)))
}

/// Why.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Told to the business.
    #[serde(default)]
    pub reason: String,
}

/// Revokes an agreement (person): the business must delete and send a signed receipt.
#[utoipa::path(post, path = "/v1/agreements/{id}/revoke", params(("id" = String, Path)), request_body = Reason, responses((status = 200, body = AgreementView), (status = 404), (status = 409)))]
async fn revoke(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    body: Option<Json<Reason>>,
) -> Answer<AgreementView> {
    require(&api, Role::Person)?;
    let agreement_id = self::agreement_id(&id)?;
    let reason = body.map(|Json(r)| r.reason).unwrap_or_default();
    api.node.command(Command::Revoke { agreement_id, reason }).await?;
    agreement(State(api), Path(id)).await
}

/// Personal offers received (person) or sent (business).
#[utoipa::path(get, path = "/v1/offers", responses((status = 200, body = [OfferView])))]
async fn offers(State(api): State<Arc<Api>>) -> Answer<Vec<OfferView>> {
    let state = api.node.state().await?;
    let mut offers: Vec<OfferView> = state
        .agreements
        .values()
        .flat_map(|record| {
            record.offers.iter().map(|kept| OfferView {
                agreement_id: record.id.to_string(),
                offer_id: kept.offer_id.to_string(),
                business: record.agreement.business.to_string(),
                description: kept.offer.description.clone(),
                price: kept.offer.price.to_string(),
                valid_until_ms: kept.offer.valid_until.as_millis(),
                at_ms: kept.at.as_millis(),
            })
        })
        .collect();
    offers.sort_by_key(|o| o.at_ms);
    Ok(Json(offers))
}

/// A personal offer to push.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferBody {
    /// The agreement that allows contact.
    pub agreement_id: String,
    /// What is offered.
    pub description: String,
    /// Its price, e.g. `88 EUR`.
    pub price: String,
    /// How long it stands, e.g. `7d`.
    #[serde(default)]
    pub valid_for: Option<String>,
}

/// Pushes a personal offer (business), within the agreement's contact terms.
#[utoipa::path(post, path = "/v1/offers", request_body = OfferBody, responses((status = 200), (status = 409)))]
async fn offer_send(State(api): State<Arc<Api>>, Json(body): Json<OfferBody>) -> Answer<serde_json::Value> {
    require(&api, Role::Business)?;
    let agreement_id = agreement_id(&body.agreement_id)?;
    let valid_for =
        body.valid_for.as_deref().map(parse_duration).transpose()?.unwrap_or(Duration::from_secs(7 * 86_400));
    let offer = ProductOffer {
        description: body.description,
        price: body.price.parse()?,
        valid_until: now().saturating_add(valid_for),
    };
    match api.node.command(Command::SendOffer { agreement_id, offer }).await? {
        Handled::Offer(id) => Ok(Json(json!({"offer_id": id.to_string()}))),
        _ => Ok(Json(json!({}))),
    }
}

async fn read_ledger(api: &Api) -> Result<(Vec<Vec<u8>>, ledger::Head, me2b_proto::identity::PublicKey), ApiError> {
    let (entries, head) = api.node.query(|engine, store| (store.ledger(), engine.state().ledger)).await?;
    let entries = entries.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((entries, head, api.node.public_key()))
}

/// The ledger's entries (paths and hashes, never values).
#[utoipa::path(get, path = "/v1/ledger", responses((status = 200, body = [LedgerEntryView])))]
async fn ledger_entries(State(api): State<Arc<Api>>) -> Answer<Vec<LedgerEntryView>> {
    let (entries, head, key) = read_ledger(&api).await?;
    let entries = ledger::verify(&entries, &key, Some(&head))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the ledger does not verify: {e}")))?;
    Ok(Json(entries.iter().map(LedgerEntryView::from).collect()))
}

/// Checks the ledger's hash chain, signatures and length.
#[utoipa::path(get, path = "/v1/ledger/verify", responses((status = 200)))]
async fn ledger_verify(State(api): State<Arc<Api>>) -> Answer<serde_json::Value> {
    let (entries, head, key) = read_ledger(&api).await?;
    Ok(Json(match ledger::verify(&entries, &key, Some(&head)) {
        Ok(entries) => json!({"valid": true, "entries": entries.len(), "head": head.last_hash.to_string()}),
        Err(error) => json!({"valid": false, "entries": entries.len(), "error": error.to_string()}),
    }))
}

/// Everything the node holds about and for its owner.
#[utoipa::path(get, path = "/v1/export", responses((status = 200)))]
async fn export(State(api): State<Arc<Api>>) -> Answer<serde_json::Value> {
    let state = api.node.state().await?;
    let Json(ledger) = ledger_entries(State(Arc::clone(&api))).await?;
    let Json(offers) = offers(State(Arc::clone(&api))).await?;
    let Json(received) = received_all(&api, &state);
    Ok(Json(json!({
        "exported_at_ms": now().as_millis(),
        "node": {"public_key": api.node.public_key().to_string(), "peer_id": api.node.peer_id().to_string(),
                 "name": api.name, "role": if api.role == Role::Person { "person" } else { "business" }},
        "vault": state.vault.iter().map(|(p, r)| RecordView::new(p, r)).collect::<Vec<_>>(),
        "policy": PolicyDoc::from(&state.policy),
        "subscriptions": state.subscriptions.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "requests": state.requests.values().map(RequestView::from).collect::<Vec<_>>(),
        "negotiations": state.negotiations.values().map(NegotiationView::from).collect::<Vec<_>>(),
        "agreements": state.agreements.values().map(AgreementView::from).collect::<Vec<_>>(),
        "received": received,
        "offers": offers,
        "demand": demand_rows(&state),
        "ledger": ledger,
    })))
}

/// A campaign: a data request to publish.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Campaign {
    /// E.g. `apparel.shoes`.
    pub category: String,
    /// What it is about.
    #[serde(default)]
    pub description: String,
    /// How long the request stands, e.g. `7d` (default).
    #[serde(default)]
    pub expires: Option<String>,
    /// What it asks for.
    #[serde(flatten)]
    pub terms: TermsDoc,
}

/// Publishes a data request (business).
#[utoipa::path(post, path = "/v1/campaigns", request_body = Campaign, responses((status = 200), (status = 400)))]
async fn campaign_publish(State(api): State<Arc<Api>>, Json(body): Json<Campaign>) -> Answer<serde_json::Value> {
    require(&api, Role::Business)?;
    let lifetime = body.expires.as_deref().map(parse_duration).transpose()?.unwrap_or(Duration::from_secs(7 * 86_400));
    let command = Command::PublishRequest {
        category: body.category.parse()?,
        business_name: api.name.clone(),
        description: body.description,
        terms: body.terms.terms(now().saturating_add(lifetime))?,
    };
    match api.node.command(command).await? {
        Handled::Request(id) => Ok(Json(json!({"id": id.to_string()}))),
        _ => Ok(Json(json!({}))),
    }
}

/// One product a business offers in answer to intents.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CatalogItemDoc {
    /// E.g. `apparel.shoes`.
    pub category: String,
    /// What it is, per spec key: e.g. `{"size_eu": ["43", "44"]}`.
    #[serde(default)]
    pub spec: BTreeMap<String, Vec<String>>,
    /// Shown to the person.
    pub description: String,
    /// E.g. `99 EUR`.
    pub price: String,
    /// The terms wanted with it.
    #[serde(flatten)]
    pub terms: TermsDoc,
}

/// A business's catalog.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CatalogDoc {
    /// The products.
    pub items: Vec<CatalogItemDoc>,
}

/// Replaces the catalog that answers intents (business).
#[utoipa::path(put, path = "/v1/catalog", request_body = CatalogDoc, responses((status = 200), (status = 400)))]
async fn catalog_set(State(api): State<Arc<Api>>, Json(body): Json<CatalogDoc>) -> Answer<serde_json::Value> {
    require(&api, Role::Business)?;
    let items = body
        .items
        .iter()
        .map(|item| {
            Ok(CatalogItem {
                category: item.category.parse()?,
                spec: item.spec.clone(),
                description: item.description.clone(),
                price: item.price.parse()?,
                // Each proposal sets its own expiry.
                terms: item.terms.terms(Timestamp::EPOCH)?,
            })
        })
        .collect::<Result<Vec<_>, BadInput>>()?;
    let count = items.len();
    api.node.command(Command::SetCatalog(items)).await?;
    Ok(Json(json!({"items": count})))
}

fn received_all(_api: &Api, state: &me2b_proto::engine::State) -> Json<Vec<ReceivedView>> {
    Json(
        state
            .received
            .iter()
            .map(|(id, items)| {
                let person = state.agreements.get(id).map(|r| r.agreement.person.to_string()).unwrap_or_default();
                ReceivedView::new(id, person, items)
            })
            .collect(),
    )
}

/// What the business holds, per agreement, with values.
#[utoipa::path(get, path = "/v1/received", responses((status = 200, body = [ReceivedView])))]
async fn received(State(api): State<Arc<Api>>) -> Answer<Vec<ReceivedView>> {
    require(&api, Role::Business)?;
    let state = api.node.state().await?;
    Ok(received_all(&api, &state))
}

fn demand_rows(state: &me2b_proto::engine::State) -> Vec<serde_json::Value> {
    state
        .demand
        .iter()
        .map(|((category, key), count)| json!({"category": category.to_string(), "spec": key, "count": count}))
        .collect()
}

/// Intents seen, counted by category and spec entry (an empty spec is the category's total).
#[utoipa::path(get, path = "/v1/demand", responses((status = 200)))]
async fn demand(State(api): State<Arc<Api>>) -> Answer<Vec<serde_json::Value>> {
    require(&api, Role::Business)?;
    Ok(Json(demand_rows(&api.node.state().await?)))
}
