//! The vault and the policy: the person's records (list, read, set, remove, import) and the
//! limits the agent negotiates within.

use super::page::{Page, PageQuery};
use super::problem::ProblemDoc;
use super::views::*;
use super::{Answer, Api, ApiError, Listing, require};
use crate::import::{self, CsvMapping, Format, Rejected};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use futures::StreamExt;
use me2b_proto::document::{BusinessPolicyDoc, PolicyDoc};
use me2b_proto::engine::{Command, Handled, ImportCounts, ImportUpdate, Provenance, Role, Update};
use me2b_proto::policy::{BusinessPolicy, Policy};
use me2b_proto::value::Value;
use me2b_proto::vocab::FieldPath;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::BufReader;
use std::sync::Arc;
use tokio_util::io::{StreamReader, SyncIoBridge};
use utoipa::{IntoParams, ToSchema};

/// The vault's records, with values.
#[utoipa::path(get, path = "/v1/data", params(PageQuery), responses((status = 200, body = [RecordView], headers(("link" = String, description = "The next page")))))]
pub(super) async fn data_list(State(api): State<Arc<Api>>, page: Page) -> Listing<RecordView> {
    Ok(api
        .node
        .read(move |state| {
            page.of(state.vault.iter().map(|entry| (entry.0.to_string(), entry)), |(path, record)| {
                RecordView::new(path, record)
            })
        })
        .await?)
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
#[schema(example = json!({"value": 44, "provenance": "owner"}))]
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
#[utoipa::path(delete, path = "/v1/data/{path}", params(("path" = String, Path)), responses((status = 200, body = Removed), (status = 404, body = ProblemDoc)))]
pub(super) async fn data_remove(State(api): State<Arc<Api>>, Path(path): Path<String>) -> Answer<Removed> {
    require(&api, Role::Person)?;
    let path = path.parse::<FieldPath>()?;
    let at = path.clone();
    if !api.node.read(move |state| state.vault.contains_key(&at)).await? {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no record at {path}")));
    }
    api.node.command(Command::RemoveRecord(path.clone())).await?;
    Ok(Json(Removed { removed: path.to_string() }))
}

/// Records to import, by path.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"records": {"body.shoe_size_eu": 44, "profile.birthdate": "1990-05-17"}}))]
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

/// Imports many records at once (person), as one transaction: all are checked before any is
/// stored, and a trigger sees them together.
#[utoipa::path(post, path = "/v1/data", request_body = Import, responses((status = 200, body = Count), (status = 400, body = ProblemDoc)))]
pub(super) async fn data_import(State(api): State<Arc<Api>>, Json(body): Json<Import>) -> Answer<Count> {
    require(&api, Role::Person)?;
    let (records, provenance) = body.check()?;
    let imported = records.len();
    let updates = records
        .into_iter()
        .map(|(path, value)| ImportUpdate { path, update: Update::Set(value), original_id: None })
        .collect();
    api.node.command(Command::Import { updates, provenance }).await?;
    Ok(Json(Count { count: imported }))
}

/// Largest file one import reads: an Apple Health export of many years is a few hundred MiB.
pub const MAX_IMPORT_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Longest file name kept in provenance.
const MAX_FILE_NAME_CHARS: usize = 128;
/// How much of a refused upload is read and dropped before the answer (see [`drain`]).
const MAX_DRAINED_BYTES: usize = 16 * 1024 * 1024;

/// How to read an imported file.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// `gpx`, `tcx`, `fhir`, `apple-health`, `csv` or `vcard`.
    pub format: String,
    /// The file's name, kept in each record's provenance (never sent to anyone).
    #[serde(default)]
    pub file: Option<String>,
    /// CSV only: `COLUMN=PATH,COLUMN=PATH`.
    #[serde(default)]
    pub map: Option<String>,
    /// CSV only: the column with each row's date or time (rows become series points).
    #[serde(default)]
    pub time_column: Option<String>,
    /// CSV only: the column that tags each point (e.g. the shoe).
    #[serde(default)]
    pub tag_column: Option<String>,
}

/// What an import did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    /// The format read.
    pub format: String,
    /// The file's name as kept in provenance.
    pub file: String,
    /// Entries read (track points are not entries; a track is).
    pub entries: u64,
    /// Values, series points and codes that are new in the vault.
    pub added: u64,
    /// Values and points that replaced another at the same place.
    pub updated: u64,
    /// Entries the vault (or the file itself) already held: re-importing a file adds nothing.
    pub duplicates: u64,
    /// Entries of kinds the vault does not keep.
    pub skipped: u64,
    /// Entries that could not be imported.
    pub rejected_count: u64,
    /// The first of them, each with its position and the reason.
    pub rejected: Vec<Rejected>,
}

/// Imports a file (person), streamed as the request body: GPX, TCX, a FHIR R4 Bundle, an Apple
/// Health `export.xml`, CSV with a column mapping, or a vCard. One transaction: a malformed
/// file changes nothing (422, with the position), re-importing a file adds nothing.
#[utoipa::path(
    post,
    path = "/v1/imports",
    params(ImportQuery),
    request_body(content = String, content_type = "application/octet-stream"),
    responses((status = 200, body = ImportReport), (status = 422, description = "the file is malformed; nothing was stored"))
)]
pub(super) async fn data_import_file(
    State(api): State<Arc<Api>>,
    Query(query): Query<ImportQuery>,
    body: Body,
) -> Answer<ImportReport> {
    let format = match import_format(&api, &query) {
        Ok(format) => format,
        Err(error) => {
            drain(body).await;
            return Err(error);
        }
    };
    let file = file_name(query.file.as_deref().unwrap_or(format.name()));
    let collector = read_body(format.clone(), body).await?;
    let (entries, repeated, skipped) = (collector.entries, collector.repeated, collector.skipped);
    let (updates, rejected, rejected_count) = collector.finish();
    let provenance = Provenance::Import(import::source(&format, &file, crate::clock::now()));
    let counts = match api.node.command(Command::Import { updates, provenance }).await? {
        Handled::Imported(counts) => counts,
        _ => ImportCounts::default(),
    };
    Ok(Json(ImportReport {
        format: format.name().to_owned(),
        file,
        entries,
        added: counts.added,
        updated: counts.updated,
        duplicates: counts.duplicates + repeated,
        skipped,
        rejected_count,
        rejected,
    }))
}

/// The format `query` names, if this node takes imports at all.
fn import_format(api: &Api, query: &ImportQuery) -> Result<Format, ApiError> {
    require(api, Role::Person)?;
    let mapping = match &query.map {
        Some(map) => {
            Some(CsvMapping::parse(map, query.time_column.clone(), query.tag_column.clone()).map_err(BadInput)?)
        }
        None if query.time_column.is_some() || query.tag_column.is_some() => {
            return Err(BadInput("time_column and tag_column go with a CSV map".into()).into());
        }
        None => None,
    };
    Ok(Format::parse(&query.format, mapping).map_err(BadInput)?)
}

/// Reads and drops up to [`MAX_DRAINED_BYTES`] of a refused upload, so that a client still
/// sending gets the refusal rather than a reset connection; a larger upload is cut off.
async fn drain(body: Body) {
    let mut chunks = body.into_data_stream();
    let mut seen = 0usize;
    while let Some(Ok(chunk)) = chunks.next().await {
        seen += chunk.len();
        if seen > MAX_DRAINED_BYTES {
            break;
        }
    }
}

/// Reads the body as `format` on a blocking thread (the parsers are synchronous), at most
/// [`MAX_IMPORT_BYTES`] of it.
async fn read_body(format: Format, body: Body) -> Result<import::Collector, ApiError> {
    let mut seen = 0u64;
    let chunks = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen += chunk.len() as u64;
        if seen > MAX_IMPORT_BYTES {
            return Err(std::io::Error::other(format!("the file is larger than {MAX_IMPORT_BYTES} bytes")));
        }
        Ok(chunk)
    });
    let reader = SyncIoBridge::new(StreamReader::new(chunks));
    let read = tokio::task::spawn_blocking(move || {
        let mut input = BufReader::with_capacity(64 * 1024, reader);
        let read = import::read(&format, &mut input);
        if read.is_err() {
            // As in `drain`: the refusal reaches a client that is still sending.
            let _ = std::io::copy(&mut std::io::Read::take(&mut input, MAX_DRAINED_BYTES as u64), &mut std::io::sink());
        }
        read
    });
    match read.await {
        Ok(Ok(collector)) => Ok(collector),
        Ok(Err(error)) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string())),
        Err(_) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the importer stopped")),
    }
}

/// The last component of a file name, without control characters, at most
/// [`MAX_FILE_NAME_CHARS`].
fn file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base.chars().filter(|c| !c.is_control()).take(MAX_FILE_NAME_CHARS).collect();
    if clean.is_empty() { "file".to_owned() } else { clean }
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
