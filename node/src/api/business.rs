//! A business's side: campaigns (data requests to publish), the catalog that answers
//! intents, the data received under agreements, and aggregate demand.

use super::views::*;
use super::{Answer, Api, require};
use crate::clock::now;
use axum::Json;
use axum::extract::State;
use me2b_proto::document::TermsDoc;
use me2b_proto::engine::{CatalogItem, Command, Handled, Role};
use me2b_proto::time::{Timestamp, parse_duration};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

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
pub(super) async fn campaign_publish(
    State(api): State<Arc<Api>>,
    Json(body): Json<Campaign>,
) -> Answer<serde_json::Value> {
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

impl From<&CatalogItem> for CatalogItemDoc {
    fn from(item: &CatalogItem) -> Self {
        CatalogItemDoc {
            category: item.category.to_string(),
            spec: item.spec.clone(),
            description: item.description.clone(),
            price: item.price.to_string(),
            terms: (&item.terms).into(),
        }
    }
}

/// A business's catalog.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CatalogDoc {
    /// The products.
    pub items: Vec<CatalogItemDoc>,
}

/// The catalog that answers intents (business).
#[utoipa::path(get, path = "/v1/catalog", responses((status = 200, body = CatalogDoc)))]
pub(super) async fn catalog_get(State(api): State<Arc<Api>>) -> Answer<CatalogDoc> {
    require(&api, Role::Business)?;
    Ok(Json(
        api.node.read(|state| CatalogDoc { items: state.catalog.iter().map(CatalogItemDoc::from).collect() }).await?,
    ))
}

/// Replaces the catalog that answers intents (business).
#[utoipa::path(put, path = "/v1/catalog", request_body = CatalogDoc, responses((status = 200), (status = 400)))]
pub(super) async fn catalog_set(
    State(api): State<Arc<Api>>,
    Json(body): Json<CatalogDoc>,
) -> Answer<serde_json::Value> {
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

pub(super) fn received_all(_api: &Api, state: &me2b_proto::engine::State) -> Json<Vec<ReceivedView>> {
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
pub(super) async fn received(State(api): State<Arc<Api>>) -> Answer<Vec<ReceivedView>> {
    require(&api, Role::Business)?;
    let state = api.node.state().await?;
    Ok(received_all(&api, &state))
}

pub(super) fn demand_rows(state: &me2b_proto::engine::State) -> Vec<serde_json::Value> {
    state
        .demand
        .iter()
        .map(|((category, key), count)| json!({"category": category.to_string(), "spec": key, "count": count}))
        .collect()
}

/// Intents seen, counted by category and spec entry (an empty spec is the category's total).
#[utoipa::path(get, path = "/v1/demand", responses((status = 200)))]
pub(super) async fn demand(State(api): State<Arc<Api>>) -> Answer<Vec<serde_json::Value>> {
    require(&api, Role::Business)?;
    Ok(Json(api.node.read(demand_rows).await?))
}
