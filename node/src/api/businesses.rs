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
}

fn view(state: &me2b_proto::engine::State, key: &PublicKey, known: &KnownBusiness) -> BusinessView {
    let profile = known.profile.as_ref();
    let some = |text: &str| (!text.is_empty()).then(|| text.to_owned());
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
