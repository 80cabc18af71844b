//! The businesses a person met: their signed profiles, the fingerprint to compare, whether the
//! key is pinned (the person agreed with it), the person's own petname for it, and whether it
//! claims the name of another business the person agreed with (an impersonator).

use super::page::{Page, PageQuery};
use super::problem::ProblemDoc;
use super::{Answer, Api, ApiError, Listing, require};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use me2b_proto::engine::{Command, Role};
use me2b_proto::identity::PublicKey;
use me2b_proto::profile::KnownBusiness;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// A business the person met.
#[derive(Debug, Serialize, ToSchema)]
pub struct BusinessView {
    /// Its key.
    pub key: String,
    /// Its key as a person compares it, e.g. `7F3A-91C2-0BD4-55E1`.
    pub fingerprint: String,
    /// The person's own name for it, if they gave one.
    pub petname: Option<String>,
    /// The name it claims (its profile's, or its request's).
    pub name: String,
    /// Its legal name, from its signed profile.
    pub legal_name: Option<String>,
    /// How to reach a human there.
    pub contact: Option<String>,
    /// Its website.
    pub website: Option<String>,
    /// Its privacy policy.
    pub privacy_policy: Option<String>,
    /// Where the person's persona dials it.
    pub addresses: Vec<String>,
    /// Whether its key is pinned: the person agreed with it under this name.
    pub pinned: bool,
    /// Set when it claims the name of another business the person agreed with: that one's
    /// fingerprint. It may be an impersonator.
    pub impersonates: Option<String>,
    /// When it was last heard from (ms since the epoch).
    pub seen_at_ms: u64,
    /// The domain its website names, if any.
    pub domain: Option<String>,
    /// Whether that domain serves a statement signed by this key (`/.well-known/me2b.json`);
    /// false until checked, and where the node could not check.
    pub domain_verified: bool,
    /// Why the domain is not verified, in words.
    pub domain_note: Option<String>,
}

fn view(state: &me2b_proto::engine::State, key: &PublicKey, known: &KnownBusiness) -> BusinessView {
    let profile = known.profile.as_ref();
    let some = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    // Only a check of the domain the website names now counts.
    let domain = profile.and_then(|p| crate::domains::domain_of(&p.website));
    let check = known.domain.as_ref().filter(|check| Some(&check.domain) == domain.as_ref());
    BusinessView {
        key: key.to_string(),
        fingerprint: key.fingerprint(),
        petname: known.petname.clone(),
        name: known.name.clone(),
        legal_name: profile.and_then(|p| some(&p.legal_name)),
        contact: profile.and_then(|p| some(&p.contact)),
        website: profile.and_then(|p| some(&p.website)),
        privacy_policy: profile.and_then(|p| some(&p.privacy_policy)),
        addresses: profile.map(|p| p.addresses.clone()).unwrap_or_default(),
        pinned: known.pinned,
        impersonates: state.impersonated(key).map(|(_, pinned)| pinned.fingerprint()),
        seen_at_ms: known.seen_at.as_millis(),
        domain_verified: check.is_some_and(|check| check.verified),
        domain_note: check.and_then(|check| some(&check.note)),
        domain,
    }
}

/// The businesses this person met (person).
#[utoipa::path(get, path = "/v1/businesses", params(PageQuery), responses((status = 200, body = [BusinessView], headers(("link" = String, description = "The next page")))))]
pub(super) async fn businesses(State(api): State<Arc<Api>>, page: Page) -> Listing<BusinessView> {
    require(&api, Role::Person)?;
    Ok(api
        .node
        .read(move |state| {
            page.of(state.businesses.iter().map(|(key, known)| (key.to_string(), (key, known))), |(key, known)| {
                view(state, key, known)
            })
        })
        .await?)
}

/// The person's own name for a business.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"petname": "my running shop"}))]
pub struct PetnameBody {
    /// At most 64 bytes; empty or absent forgets it.
    #[serde(default)]
    pub petname: Option<String>,
}

/// Names a business in the person's own words (person).
#[utoipa::path(post, path = "/v1/businesses/{key}/petname", params(("key" = String, Path)), request_body = PetnameBody, responses((status = 200, body = BusinessView), (status = 400, body = ProblemDoc)))]
pub(super) async fn petname(
    State(api): State<Arc<Api>>,
    Path(key): Path<String>,
    Json(body): Json<PetnameBody>,
) -> Answer<BusinessView> {
    require(&api, Role::Person)?;
    let business: PublicKey = key.parse().map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, format!("`{key}` is not a business key; see `me2b businesses`"))
    })?;
    api.node.command(Command::SetPetname { business, petname: body.petname }).await?;
    let found =
        api.node.read(move |state| state.businesses.get(&business).map(|known| view(state, &business, known))).await?;
    found.map(Json).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no business {key} was met")))
}

/// Which domain to vouch for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DomainQuery {
    /// The domain: host, and `:port` if not 443 (e.g. `stride.example`).
    pub domain: String,
}

/// A statement, signed by this business's key, that it controls a domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainProofView {
    /// Its version: 1.
    pub me2b: u32,
    /// The domain.
    pub domain: String,
    /// This business's key.
    pub key: String,
    /// The signature.
    pub signature: String,
}

/// What to serve at `https://DOMAIN/.well-known/me2b.json` so that people's nodes show this
/// business as verified for DOMAIN (business).
#[utoipa::path(get, path = "/v1/domain-proof", params(DomainQuery), responses((status = 200, body = DomainProofView), (status = 400, body = ProblemDoc)))]
pub(super) async fn domain_proof(
    State(api): State<Arc<Api>>,
    axum::extract::Query(query): axum::extract::Query<DomainQuery>,
) -> Answer<DomainProofView> {
    require(&api, Role::Business)?;
    let domain = query.domain.trim().to_lowercase();
    let valid = !domain.is_empty()
        && domain.len() <= 253
        && domain.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !valid {
        let detail = format!("`{domain}` is not a domain (host, and :port if not 443)");
        return Err(ApiError::new(StatusCode::BAD_REQUEST, detail));
    }
    let statement = api
        .node
        .query(move |engine, _| me2b_proto::profile::DomainStatement::sign(engine.identities().root(), &domain))
        .await?;
    let me2b_proto::profile::DomainStatement { me2b, domain, key, signature } = statement;
    Ok(Json(DomainProofView { me2b, domain, key, signature }))
}
