//! Dealings with the other side: followed categories, intents, requests, negotiations and the
//! owner's decisions, agreements and revocation, personal offers, the ledger and the export.

use super::business::{demand_row, received_view};
use super::page::{Page, PageQuery};
use super::problem::ProblemDoc;
use super::views::*;
use super::{Answer, Api, ApiError, Listing, require, role_name, unexpected};
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
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// The categories followed.
#[utoipa::path(get, path = "/v1/subscriptions", params(PageQuery), responses((status = 200, body = [String], headers(("link" = String, description = "The next page")))))]
pub(super) async fn subscriptions(State(api): State<Arc<Api>>, page: Page) -> Listing<String> {
    Ok(api
        .node
        .read(move |state| page.of(state.subscriptions.iter().map(|c| (c.to_string(), c)), |c| c.to_string()))
        .await?)
}

/// Categories to follow.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"categories": ["apparel.shoes"]}))]
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
    Ok(Json(api.node.read(|state| state.subscriptions.iter().map(ToString::to_string).collect()).await?))
}

/// An intent to publish.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"category": "apparel.shoes", "spec": {"size_eu": "44"}, "max_price": "120 EUR", "shares": ["activity.running.distance_km:optional"], "expires": "14d"}))]
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
#[utoipa::path(post, path = "/v1/intents", request_body = IntentBody, responses((status = 200, body = Created), (status = 400, body = ProblemDoc)))]
pub(super) async fn intent_publish(State(api): State<Arc<Api>>, Json(body): Json<IntentBody>) -> Answer<Created> {
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
        Handled::Intent(id) => Ok(Json(Created { id: id.to_string() })),
        other => Err(unexpected(other)),
    }
}

/// Data requests seen (person) or published (business).
#[utoipa::path(get, path = "/v1/requests", params(PageQuery), responses((status = 200, body = [RequestView], headers(("link" = String, description = "The next page")))))]
pub(super) async fn requests(State(api): State<Arc<Api>>, page: Page) -> Listing<RequestView> {
    Ok(api
        .node
        .read(move |state| page.of(state.requests.iter().map(|(id, r)| (id.to_string(), r)), RequestView::from))
        .await?)
}

/// All negotiations kept, open or ended.
#[utoipa::path(get, path = "/v1/negotiations", params(PageQuery), responses((status = 200, body = [NegotiationView], headers(("link" = String, description = "The next page")))))]
pub(super) async fn negotiations(State(api): State<Arc<Api>>, page: Page) -> Listing<NegotiationView> {
    let now = now();
    Ok(api
        .node
        .read(move |state| {
            let keyed = state.negotiations.values().map(|n| (n.id.to_string(), n));
            page.of(keyed, |n| NegotiationView::in_context(n, state, now))
        })
        .await?)
}

/// Negotiations waiting for the owner's decision.
/// Prompts that expired undecided follow, with state `EXPIRED`, for as long as the negotiation
/// is kept.
#[utoipa::path(get, path = "/v1/pending", params(PageQuery), responses((status = 200, body = [NegotiationView], headers(("link" = String, description = "The next page")))))]
pub(super) async fn pending(State(api): State<Arc<Api>>, page: Page) -> Listing<NegotiationView> {
    let now = now();
    Ok(api
        .node
        .read(move |state| {
            let expired = state.negotiations.values().filter(|n| n.prompt_expired_at.is_some());
            let keyed = state.negotiations.awaiting_owner().chain(expired).map(|n| (n.id.to_string(), n));
            page.of(keyed, |n| NegotiationView::in_context(n, state, now))
        })
        .await?)
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
#[utoipa::path(post, path = "/v1/pending/{id}/approve", params(("id" = String, Path)), responses((status = 200, body = Decided), (status = 404, body = ProblemDoc)))]
pub(super) async fn approve(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Answer<Decided> {
    let id = negotiation_id(&id)?;
    api.node.command(Command::Approve(id)).await?;
    Ok(Json(Decided { negotiation_id: id.to_string(), decision: "approved".into() }))
}

/// Declines a pending negotiation.
#[utoipa::path(post, path = "/v1/pending/{id}/decline", params(("id" = String, Path)), responses((status = 200, body = Decided), (status = 404, body = ProblemDoc)))]
pub(super) async fn decline(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Answer<Decided> {
    let id = negotiation_id(&id)?;
    api.node.command(Command::Decline(id)).await?;
    Ok(Json(Decided { negotiation_id: id.to_string(), decision: "declined".into() }))
}

/// Answers a pending negotiation with edited terms: they may share less than the terms
/// awaiting approval (fewer fields, shorter retention, less contact) and ask another
/// compensation; their expiry is the request's.
#[utoipa::path(post, path = "/v1/pending/{id}/counter", params(("id" = String, Path)), request_body = TermsDoc, responses((status = 200, body = Decided), (status = 400, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
pub(super) async fn counter(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Json(body): Json<TermsDoc>,
) -> Answer<Decided> {
    let id = negotiation_id(&id)?;
    let terms = Box::new(body.terms(now())?);
    api.node.command(Command::Counter { negotiation_id: id, terms }).await?;
    Ok(Json(Decided { negotiation_id: id.to_string(), decision: "countered".into() }))
}

/// Agreements and where they stand.
#[utoipa::path(get, path = "/v1/agreements", params(PageQuery), responses((status = 200, body = [AgreementView], headers(("link" = String, description = "The next page")))))]
pub(super) async fn agreements(State(api): State<Arc<Api>>, page: Page) -> Listing<AgreementView> {
    Ok(api
        .node
        .read(move |state| {
            let keyed = state.agreements.iter().map(|(id, a)| (id.to_string(), a));
            page.of(keyed, |a| AgreementView::in_context(a, state))
        })
        .await?)
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
#[schema(example = json!({"reason": "I no longer shop there"}))]
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
/// Every offer kept, each with its key: when it came, then its id.
fn keyed_offers(
    state: &me2b_proto::engine::State,
) -> impl Iterator<Item = (String, (&me2b_proto::agreement::AgreementRecord, &me2b_proto::agreement::OfferRecord))> {
    state.agreements.values().flat_map(|record| {
        record.offers.iter().map(move |kept| (format!("{:020}-{}", kept.at.as_millis(), kept.offer_id), (record, kept)))
    })
}

fn offer_view(
    (record, kept): (&me2b_proto::agreement::AgreementRecord, &me2b_proto::agreement::OfferRecord),
) -> OfferView {
    OfferView {
        agreement_id: record.id.to_string(),
        offer_id: kept.offer_id.to_string(),
        business: record.agreement.business.to_string(),
        description: kept.offer.description.clone(),
        price: kept.offer.price.to_string(),
        valid_until_ms: kept.offer.valid_until.as_millis(),
        at_ms: kept.at.as_millis(),
    }
}

/// Personal offers received (person) or sent (business), oldest first.
#[utoipa::path(get, path = "/v1/offers", params(PageQuery), responses((status = 200, body = [OfferView], headers(("link" = String, description = "The next page")))))]
pub(super) async fn offers(State(api): State<Arc<Api>>, page: Page) -> Listing<OfferView> {
    Ok(api.node.read(move |state| page.of(keyed_offers(state), offer_view)).await?)
}

/// A personal offer to push.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"agreement_id": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", "description": "Pegasus 42, EU 44", "price": "88 EUR", "valid_for": "7d"}))]
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
#[utoipa::path(post, path = "/v1/offers", request_body = OfferBody, responses((status = 200, body = Created), (status = 409, body = ProblemDoc)))]
pub(super) async fn offer_send(State(api): State<Arc<Api>>, Json(body): Json<OfferBody>) -> Answer<Created> {
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
        Handled::Offer(id) => Ok(Json(Created { id: id.to_string() })),
        other => Err(unexpected(other)),
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
/// The ledger's entries, checked.
async fn verified_ledger(api: &Api) -> Result<Vec<ledger::Entry>, ApiError> {
    let (entries, head, key) = read_ledger(api).await?;
    ledger::verify(&entries, &key, Some(&head))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the ledger does not verify: {e}")))
}

/// The ledger's entries (paths and hashes, never values), oldest first.
#[utoipa::path(get, path = "/v1/ledger", params(PageQuery), responses((status = 200, body = [LedgerEntryView], headers(("link" = String, description = "The next page")))))]
pub(super) async fn ledger_entries(State(api): State<Arc<Api>>, page: Page) -> Listing<LedgerEntryView> {
    let entries = verified_ledger(&api).await?;
    Ok(page.of(entries.iter().map(|e| (format!("{:020}", e.sequence), e)), LedgerEntryView::from))
}

/// Checks the ledger's hash chain, signatures and length, and every agreement's evidence
/// (both signatures, and the business's signed deletion receipt where one is held).
#[utoipa::path(get, path = "/v1/ledger/verify", responses((status = 200, body = VerifyView)))]
pub(super) async fn ledger_verify(State(api): State<Arc<Api>>) -> Answer<VerifyView> {
    let (entries, head, key) = read_ledger(&api).await?;
    let evidence: Vec<Evidence> =
        api.node.query(|engine, _| engine.state().agreements.values().map(Evidence::of).collect()).await?;
    let report = evidence::check_records(&key, &entries, Some(&head), &evidence);
    Ok(Json(VerifyView { report, head: head.last_hash.to_string() }))
}

/// Who exported.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ExportNode {
    /// The protocol key (hex): what `me2b ledger verify --file` checks signatures against.
    pub public_key: String,
    /// The libp2p peer id.
    pub peer_id: String,
    /// The name from the config.
    pub name: String,
    /// `person` or `business`.
    pub role: String,
}

/// Everything a node holds about and for its owner, in one document.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ExportDoc {
    /// When (ms since the epoch).
    pub exported_at_ms: u64,
    /// Who.
    pub node: ExportNode,
    /// The vault.
    pub vault: Vec<RecordView>,
    /// The person's policy.
    pub policy: PolicyDoc,
    /// The categories followed.
    pub subscriptions: Vec<String>,
    /// Data requests seen or published.
    pub requests: Vec<RequestView>,
    /// Negotiations kept.
    pub negotiations: Vec<NegotiationView>,
    /// Agreements.
    pub agreements: Vec<AgreementView>,
    /// What a business holds.
    pub received: Vec<ReceivedView>,
    /// Personal offers.
    pub offers: Vec<OfferView>,
    /// Demand counted.
    pub demand: Vec<DemandRow>,
    /// The ledger's entries.
    pub ledger: Vec<LedgerEntryView>,
    /// What anyone can check offline (`me2b ledger verify --file`): the signed entries (hex).
    pub ledger_signed: Vec<String>,
    /// Every agreement as both signed it, with the business's signed receipt where held.
    pub evidence: Vec<Evidence>,
}

/// Everything the node holds about and for its owner.
#[utoipa::path(get, path = "/v1/export", responses((status = 200, body = ExportDoc)))]
pub(super) async fn export(State(api): State<Arc<Api>>) -> Answer<ExportDoc> {
    let entries = verified_ledger(&api).await?;
    let (signed, _, _) = read_ledger(&api).await?;
    let node = ExportNode {
        public_key: api.node.public_key().to_string(),
        peer_id: api.node.peer_id().to_string(),
        name: api.name.clone(),
        role: role_name(api.role).to_owned(),
    };
    let export = api
        .node
        .read(move |state| {
            let mut offers: Vec<_> = keyed_offers(state).collect();
            offers.sort_by(|a, b| a.0.cmp(&b.0));
            ExportDoc {
                exported_at_ms: now().as_millis(),
                node,
                vault: state.vault.iter().map(|(p, r)| RecordView::new(p, r)).collect(),
                policy: PolicyDoc::from(&state.policy),
                subscriptions: state.subscriptions.iter().map(ToString::to_string).collect(),
                requests: state.requests.values().map(RequestView::from).collect(),
                negotiations: state.negotiations.values().map(NegotiationView::from).collect(),
                agreements: state.agreements.values().map(AgreementView::from).collect(),
                received: state.received.iter().map(|held| received_view(state, held)).collect(),
                offers: offers.into_iter().map(|(_, offer)| offer_view(offer)).collect(),
                demand: state.demand.iter().map(demand_row).collect(),
                ledger: entries.iter().map(LedgerEntryView::from).collect(),
                ledger_signed: signed.iter().map(|entry| hex(entry)).collect(),
                evidence: state.agreements.values().map(Evidence::of).collect(),
            }
        })
        .await?;
    Ok(Json(export))
}
