//! The node's own routes: health, status, identity proof, peers, vocabulary, metrics and the
//! event stream.

use super::page::{Page, PageQuery};
use super::problem::ProblemDoc;
use super::views::*;
use super::{Answer, Api, ApiError, Listing, Problem, role_name};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use me2b_proto::identity::{SignatureDomain, hex, unhex};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Liveness: answers as long as the process serves HTTP.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive", body = String)))]
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the store is open and the node listens for peers.
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = String), (status = 503, body = String)))]
pub(super) async fn ready(State(api): State<Arc<Api>>) -> Response {
    match api.node.info().await {
        Ok(info) if !info.listen_addrs.is_empty() => (StatusCode::OK, "ready").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response(),
    }
}

/// A client's challenge: 16 to 64 random bytes, hex.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Challenge {
    /// Random bytes (hex) the client chose.
    pub challenge: String,
}

/// The daemon's proof that it holds the node key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IdentityProof {
    /// The node's protocol key (hex).
    pub public_key: String,
    /// The libp2p peer id.
    pub peer_id: String,
    /// ed25519 signature (hex) in domain `me2b/v1/sig/api-identity` over the challenge's
    /// bytes followed by this API's address as text (e.g. `127.0.0.1:8428`).
    pub signature: String,
}

/// Proves, without the token, that this API is served by the node holding the key: a client
/// checks this before it sends its token, so a stale `api.json` never leaks it to another
/// program now listening on that port.
#[utoipa::path(get, path = "/v1/identity", params(Challenge), responses((status = 200, body = IdentityProof), (status = 400, body = ProblemDoc)))]
pub(super) async fn identity(State(api): State<Arc<Api>>, Query(query): Query<Challenge>) -> Answer<IdentityProof> {
    let challenge = unhex(&query.challenge)
        .filter(|bytes| (16..=64).contains(&bytes.len()))
        .ok_or_else(|| ApiError::of(Problem::BadRequest, "challenge: 16 to 64 bytes in hex"))?;
    let signature = api.identity.sign(SignatureDomain::ApiIdentity, &identity_message(&challenge, api.address));
    Ok(Json(IdentityProof {
        public_key: api.identity.public().to_string(),
        peer_id: api.node.peer_id().to_string(),
        signature: hex(&signature.to_bytes()),
    }))
}

/// What `/v1/identity` signs: the challenge, then the API's address as text.
pub fn identity_message(challenge: &[u8], address: std::net::SocketAddr) -> Vec<u8> {
    let mut message = challenge.to_vec();
    message.extend_from_slice(address.to_string().as_bytes());
    message
}

/// The node's identity, addresses and counts.
#[utoipa::path(get, path = "/v1/status", responses((status = 200, body = StatusView)))]
pub(super) async fn status(State(api): State<Arc<Api>>) -> Answer<StatusView> {
    let info = api.node.info().await?;
    let (subscriptions, records, pending, negotiations, agreements, outbox) = api
        .node
        .read(|state| {
            (
                state.subscriptions.iter().map(ToString::to_string).collect::<Vec<_>>(),
                state.vault.len(),
                state.negotiations.awaiting_owner().count(),
                state.negotiations.len(),
                state.agreements.len(),
                state.outbox.len(),
            )
        })
        .await?;
    Ok(Json(StatusView {
        peer_id: info.peer_id.to_string(),
        public_key: info.public_key.to_string(),
        role: role_name(api.role).to_owned(),
        name: api.name.clone(),
        listen_addrs: info.listen_addrs.iter().map(ToString::to_string).collect(),
        api: api.address.to_string(),
        connected_peers: info.connected_peers,
        subscriptions,
        records,
        pending,
        negotiations,
        agreements,
        outbox,
    }))
}

/// The peers connected now, by peer id.
#[utoipa::path(get, path = "/v1/peers", params(PageQuery), responses((status = 200, body = [PeerView], headers(("link" = String, description = "The next page")))))]
pub(super) async fn peers(State(api): State<Arc<Api>>, page: Page) -> Listing<PeerView> {
    let peers = api.node.info().await?.peers;
    Ok(page.of(peers.into_iter().map(|peer| (peer.to_string(), peer)), |peer| PeerView { peer_id: peer.to_string() }))
}

/// A peer to connect to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"address": "/ip4/127.0.0.1/tcp/7401/p2p/12D3KooWJ4cWCbWPDEq4PoVSNWR5FQgtuwuS8eMHhp1iBmXUMBX4"}))]
pub struct ConnectBody {
    /// A libp2p address, e.g. `/ip4/192.0.2.7/tcp/7401/p2p/PEER_ID`.
    pub address: String,
    /// Whether to dial it now (default); `false` only remembers where it is, for discovery
    /// (Kademlia's bootstrap, a business to negotiate with) when it is needed.
    #[serde(default = "dial_now")]
    pub dial: bool,
}

fn dial_now() -> bool {
    true
}

/// Dials a peer and remembers it for discovery (with `"dial": false`, only remembers it).
#[utoipa::path(post, path = "/v1/peers", request_body = ConnectBody, responses((status = 200, body = PeerView), (status = 400, body = ProblemDoc), (status = 502, body = ProblemDoc)))]
pub(super) async fn connect(State(api): State<Arc<Api>>, Json(body): Json<ConnectBody>) -> Answer<PeerView> {
    let address: libp2p::Multiaddr = body
        .address
        .parse()
        .map_err(|e| ApiError::of(Problem::BadRequest, format!("address {:?}: {e}", body.address)))?;
    let peer = address.iter().find_map(|part| match part {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    });
    let Some(peer) = peer else {
        return Err(ApiError::of(Problem::BadRequest, "the address must end in /p2p/PEER_ID"));
    };
    api.node.remember(peer, address.clone()).await?;
    if body.dial {
        api.node.dial(address).await?;
    }
    Ok(Json(PeerView { peer_id: peer.to_string() }))
}

/// The words the protocol uses, for forms: purposes with their meaning.
#[utoipa::path(get, path = "/v1/vocabulary", responses((status = 200, body = Vocabulary)))]
pub(super) async fn vocabulary() -> Json<Vocabulary> {
    let purposes = me2b_proto::vocab::Purpose::ALL
        .iter()
        .map(|p| PurposeView { name: p.as_str().to_owned(), text: p.describe().to_owned() })
        .collect();
    Json(Vocabulary { purposes })
}

/// Prometheus metrics: the node's gauges and event counts, then libp2p's own (gossipsub,
/// identify, Kademlia), as one OpenMetrics exposition.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String)))]
pub(super) async fn metrics(State(api): State<Arc<Api>>) -> Result<Response, ApiError> {
    let info = api.node.info().await?;
    let (negotiations, outbox, ledger, by_state) = api
        .node
        .read(|state| {
            let mut by_state: BTreeMap<&'static str, i64> = BTreeMap::new();
            for record in state.agreements.values() {
                *by_state.entry(record.lifecycle.name()).or_default() += 1;
            }
            (state.negotiations.len(), state.outbox.len(), state.ledger.next_sequence, by_state)
        })
        .await?;
    let mut registry = Registry::with_prefix("me2b");
    let mut gauge = |name: &str, help: &str, value: u64| {
        let gauge = Gauge::<i64>::default();
        gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        registry.register(name, help, gauge);
    };
    gauge("connected_peers", "Peers connected now", info.connected_peers as u64);
    gauge("negotiations", "Negotiations kept", negotiations as u64);
    gauge("outbox_messages", "Direct messages waiting for delivery", outbox as u64);
    gauge("ledger_entries", "Entries in this node's ledger", ledger);
    gauge("store_flushes", "Store flushes (fsyncs) since start", info.commits);
    gauge(
        "inputs_handled",
        "Inputs handled since start; with me2b_store_flushes, the mean group-commit batch",
        info.committed_inputs,
    );
    let agreements = Family::<Vec<(String, String)>, Gauge<i64>>::default();
    for (state, count) in by_state {
        agreements.get_or_create(&vec![("state".to_owned(), state.to_owned())]).set(count);
    }
    registry.register("agreements", "Agreements by state", agreements.clone());
    let events = Family::<Vec<(String, String)>, Gauge<i64>>::default();
    for (kind, count) in api.events.counts() {
        events.get_or_create(&vec![("type".to_owned(), kind.to_owned())]).set(i64::try_from(count).unwrap_or(i64::MAX));
    }
    registry.register("events_since_start", "Node events since the daemon started, by type", events.clone());
    let mut text = String::new();
    encode(&mut text, &registry).map_err(|e| ApiError::of(Problem::Internal, e.to_string()))?;
    // libp2p's own exposition follows in the same document, with one end marker.
    let libp2p = api.node.metrics().await?;
    let ours = text.trim_end().trim_end_matches("# EOF").trim_end();
    let theirs = libp2p.trim_end().trim_end_matches("# EOF").trim_end();
    let text = format!("{ours}\n{theirs}\n# EOF\n");
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response())
}

/// Server-sent events. Each event's id is one greater than the last and ids keep growing
/// across daemon restarts; reconnect with `Last-Event-ID` to get exactly what was missed. A
/// client further behind than the kept backlog first gets a `gap` event saying how many
/// events it can no longer get.
#[utoipa::path(get, path = "/v1/events", params(("Last-Event-ID" = Option<u64>, Header, description = "The last event id the client holds")), responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String)))]
pub(super) async fn events_stream(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    use futures::StreamExt;
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let (kept, live) = api.events.since(last);
    let resume_after = kept.last().map(|(id, _)| *id).or(last).unwrap_or(0);
    let live = futures::stream::unfold((live, resume_after), |(mut live, mut last)| async move {
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
    let stream = futures::stream::iter(kept).chain(live).map(|(id, body)| {
        let kind = body["type"].as_str().unwrap_or("event").to_owned();
        Ok::<_, Infallible>(SseEvent::default().id(id.to_string()).event(kind).data(body.to_string()))
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// Where a business's webhooks stand.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhooksView {
    /// The receiver, if a webhook is set.
    pub url: Option<String>,
    /// Deliveries acknowledged since the daemon started.
    pub delivered: u64,
    /// Deletions whose receipt waits for the receiver's acknowledgement.
    pub deletions_due: usize,
    /// Deliveries that failed every attempt, oldest first.
    pub dead_letters: Vec<super::webhooks::DeadLetter>,
}

/// The webhook: its receiver, what was delivered, what waits and what failed.
#[utoipa::path(get, path = "/v1/webhooks", responses((status = 200, body = WebhooksView)))]
pub(super) async fn webhooks_status(State(api): State<Arc<Api>>) -> Answer<WebhooksView> {
    let deletions_due = api.node.read(|state| state.held_receipts.len()).await?;
    Ok(Json(match &api.webhooks {
        Some(webhooks) => WebhooksView {
            url: Some(webhooks.url().to_owned()),
            delivered: webhooks.delivered(),
            deletions_due,
            dead_letters: webhooks.dead_letters(),
        },
        None => WebhooksView { url: None, delivered: 0, deletions_due, dead_letters: Vec::new() },
    }))
}

/// Sends a dead letter again (its attempts start over).
#[utoipa::path(post, path = "/v1/webhooks/dead-letters/{id}/retry", params(("id" = String, Path)), responses((status = 202, description = "Queued again"), (status = 404, body = ProblemDoc)))]
pub(super) async fn webhook_retry(
    State(api): State<Arc<Api>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    let queued = api.webhooks.as_ref().is_some_and(|webhooks| webhooks.retry(&id));
    if queued {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError::of(Problem::NotFound, format!("no dead letter `{id}` (see GET /v1/webhooks)")))
    }
}

/// An encrypted backup of everything the node holds (vault, policy, agreements, ledger, the
/// businesses met), sealed under a key derived from the node's root secret: only its recovery
/// phrase opens it (`me2b restore`).
#[utoipa::path(get, path = "/v1/backup", responses((status = 200, description = "The sealed backup", content_type = "application/octet-stream", body = Vec<u8>)))]
pub(super) async fn backup(State(api): State<Arc<Api>>) -> Result<Response, ApiError> {
    let (state, ledger, secret) = api
        .node
        .query(|engine, store| {
            let secret = zeroize::Zeroizing::new(engine.identities().root().secret_bytes());
            (engine.state().clone(), store.ledger(), secret)
        })
        .await?;
    let ledger = ledger.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let sealed = crate::recovery::seal_backup(&secret, &state, &ledger)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], sealed).into_response())
}
