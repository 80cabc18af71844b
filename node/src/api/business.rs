//! A business's side: campaigns (data requests to publish), the catalog that answers
//! intents, the data received under agreements, and aggregate demand.

use super::page::{Page, PageQuery};
use super::problem::ProblemDoc;
use super::views::*;
use super::{Answer, Api, Listing, require, unexpected};
use crate::clock::now;
use axum::Json;
use axum::extract::State;
use me2b_proto::document::TermsDoc;
use me2b_proto::engine::{CatalogItem, Command, DemandKey, Handled, ReceivedItem, Role, State as EngineState};
use me2b_proto::identity::AgreementId;
use me2b_proto::time::{Timestamp, parse_duration};
use me2b_proto::vocab::FieldPath;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// A campaign: a data request to publish.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"category": "apparel.shoes", "description": "Shoes that fit", "expires": "7d", "fields": ["body.shoe_size_eu"], "purpose": "personalised-offers", "retention": "30d", "use": "once", "compensation": "10% discount", "contact": "1/30d"}))]
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
#[utoipa::path(post, path = "/v1/campaigns", request_body = Campaign, responses((status = 200, body = Created), (status = 400, body = ProblemDoc)))]
pub(super) async fn campaign_publish(State(api): State<Arc<Api>>, Json(body): Json<Campaign>) -> Answer<Created> {
    require(&api, Role::Business)?;
    let lifetime = body.expires.as_deref().map(parse_duration).transpose()?.unwrap_or(Duration::from_secs(7 * 86_400));
    let command = Command::PublishRequest {
        category: body.category.parse()?,
        business_name: api.name.clone(),
        description: body.description,
        terms: body.terms.terms(now().saturating_add(lifetime))?,
    };
    match api.node.command(command).await? {
        Handled::Request(id) => Ok(Json(Created { id: id.to_string() })),
        other => Err(unexpected(other)),
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
#[schema(example = json!({"items": [{"category": "apparel.shoes", "spec": {"size_eu": ["43", "44"]}, "description": "Pegasus 42", "price": "99 EUR", "fields": ["body.shoe_size_eu"], "purpose": "service-provision", "retention": "30d"}]}))]
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
#[utoipa::path(put, path = "/v1/catalog", request_body = CatalogDoc, responses((status = 200, body = Count), (status = 400, body = ProblemDoc)))]
pub(super) async fn catalog_set(State(api): State<Arc<Api>>, Json(body): Json<CatalogDoc>) -> Answer<Count> {
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
    Ok(Json(Count { count }))
}

type Held<'a> = (&'a AgreementId, &'a BTreeMap<FieldPath, ReceivedItem>);

/// What is held under one agreement.
pub(super) fn received_view(state: &EngineState, (id, items): Held<'_>) -> ReceivedView {
    let person = state.agreements.get(id).map(|r| r.agreement.person.to_string()).unwrap_or_default();
    ReceivedView::new(id, person, items)
}

/// What the business holds, per agreement, with values.
#[utoipa::path(get, path = "/v1/received", params(PageQuery), responses((status = 200, body = [ReceivedView], headers(("link" = String, description = "The next page")))))]
pub(super) async fn received(State(api): State<Arc<Api>>, page: Page) -> Listing<ReceivedView> {
    require(&api, Role::Business)?;
    Ok(api
        .node
        .read(move |state| {
            page.of(state.received.iter().map(|held| (held.0.to_string(), held)), |held| received_view(state, held))
        })
        .await?)
}

/// One row of demand, keyed by category and spec entry.
pub(super) fn demand_row(((category, spec), count): (&DemandKey, &u64)) -> DemandRow {
    DemandRow { category: category.to_string(), spec: spec.clone(), count: *count }
}

/// Intents seen, counted by category and spec entry (an empty spec is the category's total).
#[utoipa::path(get, path = "/v1/demand", params(PageQuery), responses((status = 200, body = [DemandRow], headers(("link" = String, description = "The next page")))))]
pub(super) async fn demand(State(api): State<Arc<Api>>, page: Page) -> Listing<DemandRow> {
    require(&api, Role::Business)?;
    Ok(api
        .node
        .read(move |state| {
            // The category and the spec entry, apart: `a.b` then `a.b.c` sort as they should.
            page.of(state.demand.iter().map(|row| (format!("{}\u{0}{}", row.0.0, row.0.1), row)), demand_row)
        })
        .await?)
}
