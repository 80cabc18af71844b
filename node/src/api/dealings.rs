//! Dealings with the other side: followed categories, intents, requests, negotiations and the
//! owner's decisions, agreements and revocation, personal offers, the ledger and the export.

use super::business::{demand_rows, received_all};
use super::views::*;
use super::{Answer, Api, ApiError, require};
use crate::clock::now;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use me2b_proto::document::{PolicyDoc, TermsDoc};
use me2b_proto::engine::{Command, Handled, Role};
use me2b_proto::evidence::{self, Evidence};
use me2b_proto::identity::{AgreementId, NegotiationId, hex};
use me2b_proto::ledger;
use me2b_proto::messages::ProductOffer;
use me2b_proto::time::parse_duration;
use me2b_proto::vocab::Category;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// The categories followed.
#[utoipa::path(get, path = "/v1/subscriptions", responses((status = 200, body = [String])))]
pub(super) async fn subscriptions(State(api): State<Arc<Api>>) -> Answer<Vec<String>> {
    Ok(Json(api.node.read(|state| state.subscriptions.iter().map(ToString::to_string).collect()).await?))
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
pub(super) async fn subscribe(State(api): State<Arc<Api>>, Json(body): Json<Subscribe>) -> Answer<Vec<String>> {
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
pub(super) async fn intent_publish(
    State(api): State<Arc<Api>>,
    Json(body): Json<IntentBody>,
) -> Answer<serde_json::Value> {
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
pub(super) async fn requests(State(api): State<Arc<Api>>) -> Answer<Vec<RequestView>> {
    Ok(Json(api.node.read(|state| state.requests.values().map(RequestView::from).collect()).await?))
}

/// All negotiations kept, open or ended.
#[utoipa::path(get, path = "/v1/negotiations", responses((status = 200, body = [NegotiationView])))]
pub(super) async fn negotiations(State(api): State<Arc<Api>>) -> Answer<Vec<NegotiationView>> {
    let now = now();
    Ok(Json(
        api.node
            .read(move |state| {
                state.negotiations.values().map(|n| NegotiationView::in_context(n, state, now)).collect()
            })
            .await?,
    ))
}

/// Negotiations waiting for the owner's decision.
/// Prompts that expired undecided follow, with state `EXPIRED`, for as long as the negotiation
/// is kept.
#[utoipa::path(get, path = "/v1/pending", responses((status = 200, body = [NegotiationView])))]
pub(super) async fn pending(State(api): State<Arc<Api>>) -> Answer<Vec<NegotiationView>> {
    let now = now();
    let pending = api
        .node
        .read(move |state| {
            let expired = state.negotiations.values().filter(|n| n.prompt_expired_at.is_some());
            state
                .negotiations
                .awaiting_owner()
                .chain(expired)
                .map(|n| NegotiationView::in_context(n, state, now))
                .collect()
        })
        .await?;
    Ok(Json(pending))
}

pub(super) fn negotiation_id(text: &str) -> Result<NegotiationId, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`{text}` is not a negotiation id (32 hex digits); see `me2b pending`"),
        )
    })
}

pub(super) fn agreement_id(text: &str) -> Result<AgreementId, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`{text}` is not an agreement id (64 hex digits); see `me2b agreements`"),
        )
    })
}

/// Approves a pending negotiation.
#[utoipa::path(post, path = "/v1/pending/{id}/approve", params(("id" = String, Path)), responses((status = 200), (status = 404)))]
pub(super) async fn approve(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Answer<serde_json::Value> {
    let id = negotiation_id(&id)?;
    api.node.command(Command::Approve(id)).await?;
    Ok(Json(json!({"approved": id.to_string()})))
}

/// Declines a pending negotiation.
#[utoipa::path(post, path = "/v1/pending/{id}/decline", params(("id" = String, Path)), responses((status = 200), (status = 404)))]
pub(super) async fn decline(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Answer<serde_json::Value> {
    let id = negotiation_id(&id)?;
    api.node.command(Command::Decline(id)).await?;
    Ok(Json(json!({"declined": id.to_string()})))
}

/// Answers a pending negotiation with edited terms: they may share less than the terms
/// awaiting approval (fewer fields, shorter retention, less contact) and ask another
/// compensation; their expiry is the request's.
#[utoipa::path(post, path = "/v1/pending/{id}/counter", params(("id" = String, Path)), request_body = TermsDoc, responses((status = 200), (status = 400), (status = 404)))]
pub(super) async fn counter(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Json(body): Json<TermsDoc>,
) -> Answer<serde_json::Value> {
    let id = negotiation_id(&id)?;
    let terms = Box::new(body.terms(now())?);
    api.node.command(Command::Counter { negotiation_id: id, terms }).await?;
    Ok(Json(json!({"countered": id.to_string()})))
}

/// Agreements and where they stand.
#[utoipa::path(get, path = "/v1/agreements", responses((status = 200, body = [AgreementView])))]
pub(super) async fn agreements(State(api): State<Arc<Api>>) -> Answer<Vec<AgreementView>> {
    Ok(Json(
        api.node.read(|state| state.agreements.values().map(|a| AgreementView::in_context(a, state)).collect()).await?,
    ))
}

/// One agreement.
#[utoipa::path(get, path = "/v1/agreements/{id}", params(("id" = String, Path)), responses((status = 200, body = AgreementView), (status = 404)))]
pub(super) async fn agreement(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Answer<AgreementView> {
    let id = agreement_id(&id)?;
    let view =
        api.node.read(move |state| state.agreements.get(&id).map(|a| AgreementView::in_context(a, state))).await?;
    Ok(Json(view.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no agreement {id}")))?))
}

/// One agreement as signed: the exact bytes, both signatures and any deletion receipt, for
/// anyone to check (`me2b ledger verify --file` reads the same form in an export).
#[utoipa::path(get, path = "/v1/agreements/{id}/signed", params(("id" = String, Path)), responses((status = 200), (status = 404)))]
pub(super) async fn agreement_signed(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    let id = agreement_id(&id)?;
    let evidence = api.node.read(move |state| state.agreements.get(&id).map(Evidence::of)).await?;
    let evidence = evidence.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no agreement {id}")))?;
    let disposition = format!(
        "attachment; filename=\"agreement-{}.json\"",
        &evidence.agreement_id[..16.min(evidence.agreement_id.len())]
    );
    Ok(([(axum::http::header::CONTENT_DISPOSITION, disposition)], Json(evidence)).into_response())
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
pub(super) async fn revoke(
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
pub(super) async fn offers(State(api): State<Arc<Api>>) -> Answer<Vec<OfferView>> {
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
pub(super) async fn offer_send(State(api): State<Arc<Api>>, Json(body): Json<OfferBody>) -> Answer<serde_json::Value> {
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

pub(super) async fn read_ledger(
    api: &Api,
) -> Result<(Vec<Vec<u8>>, ledger::Head, me2b_proto::identity::PublicKey), ApiError> {
    let (entries, head) = api.node.query(|engine, store| (store.ledger(), engine.state().ledger)).await?;
    let entries = entries.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((entries, head, api.node.public_key()))
}

/// The ledger's entries (paths and hashes, never values).
#[utoipa::path(get, path = "/v1/ledger", responses((status = 200, body = [LedgerEntryView])))]
pub(super) async fn ledger_entries(State(api): State<Arc<Api>>) -> Answer<Vec<LedgerEntryView>> {
    let (entries, head, key) = read_ledger(&api).await?;
    let entries = ledger::verify(&entries, &key, Some(&head))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the ledger does not verify: {e}")))?;
    Ok(Json(entries.iter().map(LedgerEntryView::from).collect()))
}

/// Checks the ledger's hash chain, signatures and length, and every agreement's evidence
/// (both signatures, and the business's signed deletion receipt where one is held).
#[utoipa::path(get, path = "/v1/ledger/verify", responses((status = 200)))]
pub(super) async fn ledger_verify(State(api): State<Arc<Api>>) -> Answer<serde_json::Value> {
    let (entries, head, key) = read_ledger(&api).await?;
    let evidence: Vec<Evidence> =
        api.node.query(|engine, _| engine.state().agreements.values().map(Evidence::of).collect()).await?;
    let report = evidence::check_records(&key, &entries, Some(&head), &evidence);
    let mut answer = serde_json::to_value(&report).unwrap_or_default();
    answer["head"] = json!(head.last_hash.to_string());
    Ok(Json(answer))
}

/// Everything the node holds about and for its owner.
#[utoipa::path(get, path = "/v1/export", responses((status = 200)))]
pub(super) async fn export(State(api): State<Arc<Api>>) -> Answer<serde_json::Value> {
    let state = api.node.state().await?;
    let Json(ledger) = ledger_entries(State(Arc::clone(&api))).await?;
    let (signed, _, _) = read_ledger(&api).await?;
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
        // What anyone can check offline (`me2b ledger verify --file`): the signed entries and
        // every agreement as both signed it, with the business's signed receipt where held.
        "ledger_signed": signed.iter().map(|entry| hex(entry)).collect::<Vec<_>>(),
        "evidence": state.agreements.values().map(Evidence::of).collect::<Vec<_>>(),
    })))
}
