//! The vault and the policy: the person's records (list, read, set, remove, import) and the
//! limits the agent negotiates within.

use super::views::*;
use super::{Answer, Api, ApiError, require};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use me2b_proto::document::{BusinessPolicyDoc, PolicyDoc};
use me2b_proto::engine::{Command, Provenance, Role};
use me2b_proto::policy::{BusinessPolicy, Policy};
use me2b_proto::value::Value;
use me2b_proto::vocab::FieldPath;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;

/// The vault's records, with values.
#[utoipa::path(get, path = "/v1/data", responses((status = 200, body = [RecordView])))]
pub(super) async fn data_list(State(api): State<Arc<Api>>) -> Answer<Vec<RecordView>> {
    Ok(Json(
        api.node.read(|state| state.vault.iter().map(|(path, record)| RecordView::new(path, record)).collect()).await?,
    ))
}

/// One record.
#[utoipa::path(get, path = "/v1/data/{path}", params(("path" = String, Path)), responses((status = 200, body = RecordView), (status = 404)))]
pub(super) async fn data_get(State(api): State<Arc<Api>>, Path(path): Path<String>) -> Answer<RecordView> {
    let path = path.parse::<FieldPath>()?;
    let at = path.clone();
    let view = api.node.read(move |state| state.vault.get(&at).map(|record| RecordView::new(&at, record))).await?;
    Ok(Json(view.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no record at {path}")))?))
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
pub(super) fn provenance(text: Option<&str>) -> Result<Provenance, BadInput> {
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
pub(super) async fn data_set(
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
pub(super) async fn data_remove(State(api): State<Arc<Api>>, Path(path): Path<String>) -> Answer<serde_json::Value> {
    require(&api, Role::Person)?;
    let path = path.parse::<FieldPath>()?;
    let at = path.clone();
    if !api.node.read(move |state| state.vault.contains_key(&at)).await? {
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

impl Import {
    /// Every record checked (path and value) and the provenance, before any is stored.
    pub fn check(&self) -> Result<(Vec<(FieldPath, Value)>, Provenance), BadInput> {
        let provenance = provenance(self.provenance.as_deref())?;
        let records = self
            .records
            .iter()
            .map(|(path, value)| {
                let checked =
                    path.parse::<FieldPath>().map_err(BadInput::from).and_then(|p| Ok((p, value_from_json(value)?)));
                checked.map_err(|e| BadInput(format!("{path}: {}", e.0)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((records, provenance))
    }
}

/// Imports many records at once (person); all are checked before any is stored.
#[utoipa::path(post, path = "/v1/data", request_body = Import, responses((status = 200)))]
pub(super) async fn data_import(State(api): State<Arc<Api>>, Json(body): Json<Import>) -> Answer<serde_json::Value> {
    require(&api, Role::Person)?;
    let (records, provenance) = body.check()?;
    for (path, value) in &records {
        let command = Command::SetRecord { path: path.clone(), value: value.clone(), provenance: provenance.clone() };
        api.node.command(command).await?;
    }
    Ok(Json(json!({"imported": records.len()})))
}

/// The person's policy.
#[utoipa::path(get, path = "/v1/policy", responses((status = 200, body = PolicyDoc)))]
pub(super) async fn policy_get(State(api): State<Arc<Api>>) -> Answer<PolicyDoc> {
    require(&api, Role::Person)?;
    Ok(Json(api.node.read(|state| PolicyDoc::from(&state.policy)).await?))
}

/// The business's policy: its limits on what it agrees to in a counter.
#[utoipa::path(get, path = "/v1/business/policy", responses((status = 200, body = BusinessPolicyDoc)))]
pub(super) async fn business_policy_get(State(api): State<Arc<Api>>) -> Answer<BusinessPolicyDoc> {
    require(&api, Role::Business)?;
    Ok(Json(api.node.read(|state| BusinessPolicyDoc::from(&state.business_policy)).await?))
}

/// Replaces the business's policy.
#[utoipa::path(put, path = "/v1/business/policy", request_body = BusinessPolicyDoc, responses((status = 200, body = BusinessPolicyDoc)))]
pub(super) async fn business_policy_set(
    State(api): State<Arc<Api>>,
    Json(doc): Json<BusinessPolicyDoc>,
) -> Answer<BusinessPolicyDoc> {
    require(&api, Role::Business)?;
    let policy = BusinessPolicy::try_from(doc)?;
    api.node.command(Command::SetBusinessPolicy(policy)).await?;
    business_policy_get(State(api)).await
}

/// Replaces the person's policy.
#[utoipa::path(put, path = "/v1/policy", request_body = PolicyDoc, responses((status = 200, body = PolicyDoc)))]
pub(super) async fn policy_set(State(api): State<Arc<Api>>, Json(doc): Json<PolicyDoc>) -> Answer<PolicyDoc> {
    require(&api, Role::Person)?;
    let policy = Policy::try_from(doc)?;
    api.node.command(Command::SetPolicy(policy)).await?;
    policy_get(State(api)).await
}
