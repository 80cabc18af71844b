//! Importers: a person's own files into the vault. Each reads its format as a stream (memory
//! bounded by what it keeps, not by the file: a track is summed point by point, a FHIR bundle
//! is read entry by entry, Apple Health records are summed per day), collects the vault
//! changes in a [`Collector`], and hands them to the engine as one
//! [`Command::Import`](me2b_proto::engine::Command::Import): one transaction, one flush, and
//! a trigger sees the import's end result once.
//!
//! Re-importing a file adds nothing: a series point is known by its time and tag, a code by
//! itself, a value by its value (see [`me2b_proto::engine::Update`]). Where each format lands
//! in the vault is in [`mapping`], and the table in the crate's README.
//!
//! Every importer reports the position of what it could not read: a line for XML, CSV and
//! vCard, an entry number for a FHIR bundle. A malformed file stops the import with that
//! position and changes nothing; an entry that is well-formed but unusable (a track without
//! times, a unit it cannot convert) is rejected alone, with its position and the reason.

mod apple;
mod csv_rows;
mod fhir;
pub mod mapping;
mod track;
mod vcard;
mod xml;

use me2b_proto::engine::{ImportSource, ImportUpdate, Update};
use me2b_proto::limits::MAX_SERIES_POINTS;
use me2b_proto::time::{Date, Timestamp};
use me2b_proto::value::{Point, Value};
use me2b_proto::vocab::FieldPath;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;

/// Most rejected entries listed in a report; beyond it they are only counted.
pub const MAX_REJECTS_LISTED: usize = 100;
/// Most distinct vault paths one import may change (a CSV mapping names at most this many).
pub const MAX_IMPORT_PATHS: usize = 64;

/// A file format the node can import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// GPX 1.1 tracks.
    Gpx,
    /// Garmin Training Center XML activities.
    Tcx,
    /// A FHIR R4 Bundle in JSON.
    Fhir,
    /// Apple Health's `export.xml`.
    AppleHealth,
    /// CSV rows, with a mapping from columns to vault paths.
    Csv(CsvMapping),
    /// A vCard: the person's own contact details.
    Vcard,
}

impl Format {
    /// The name used in provenance and the API: `gpx`, `tcx`, `fhir`, `apple-health`, `csv`,
    /// `vcard`.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Gpx => "gpx",
            Format::Tcx => "tcx",
            Format::Fhir => "fhir",
            Format::AppleHealth => "apple-health",
            Format::Csv(_) => "csv",
            Format::Vcard => "vcard",
        }
    }

    /// Reads a format name (as [`Format::name`] writes it); CSV needs its mapping.
    pub fn parse(name: &str, csv: Option<CsvMapping>) -> Result<Format, String> {
        Ok(match name {
            "gpx" => Format::Gpx,
            "tcx" => Format::Tcx,
            "fhir" => Format::Fhir,
            "apple-health" => Format::AppleHealth,
            "vcard" => Format::Vcard,
            "csv" => Format::Csv(csv.ok_or("a CSV import needs a mapping: map=COLUMN=PATH,...")?),
            other => return Err(format!("unknown format {other:?}: use gpx, tcx, fhir, apple-health, csv or vcard")),
        })
    }
}

/// Which CSV columns go where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvMapping {
    /// Column name to vault path.
    pub columns: Vec<(String, FieldPath)>,
    /// The column with each row's time (a date or an RFC 3339 time): with it, each mapped
    /// number is a point of a series; without it, each mapped value is set (the last row wins).
    pub time_column: Option<String>,
    /// The column whose value tags each point (e.g. the shoe a run was in).
    pub tag_column: Option<String>,
}

impl CsvMapping {
    /// Reads `COLUMN=PATH,COLUMN=PATH` and the optional time and tag columns.
    pub fn parse(map: &str, time_column: Option<String>, tag_column: Option<String>) -> Result<CsvMapping, String> {
        let columns = map
            .split(',')
            .map(|pair| {
                let (column, path) = pair.split_once('=').ok_or_else(|| format!("{pair:?} is not COLUMN=PATH"))?;
                let path = path.trim().parse::<FieldPath>().map_err(|e| e.to_string())?;
                Ok((column.trim().to_owned(), path))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if columns.is_empty() || columns.len() > MAX_IMPORT_PATHS {
            return Err(format!("a mapping names 1 to {MAX_IMPORT_PATHS} columns"));
        }
        Ok(CsvMapping { columns, time_column, tag_column })
    }
}

/// An entry that could not be imported, and where it is.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Rejected {
    /// `line 12` or `entry 3`.
    pub position: String,
    /// Why.
    pub reason: String,
}

/// Why a file could not be imported at all: nothing of it is stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{position}: {reason}")]
pub struct ImportError {
    /// Where reading stopped, e.g. `line 12`.
    pub position: String,
    /// What is wrong.
    pub reason: String,
}

impl ImportError {
    pub(crate) fn new(position: impl Into<String>, reason: impl Into<String>) -> Self {
        ImportError { position: position.into(), reason: reason.into() }
    }
}

/// A series' points by (time, tag), each with its value and original id.
type Points = BTreeMap<(Timestamp, Option<String>), (f64, Option<String>)>;

/// What an importer found, before the engine applies it.
#[derive(Debug, Default)]
pub struct Collector {
    points: BTreeMap<FieldPath, Points>,
    daily: BTreeMap<FieldPath, BTreeMap<(Date, Option<String>), Daily>>,
    codes: BTreeMap<FieldPath, BTreeSet<String>>,
    values: BTreeMap<FieldPath, (Value, Option<String>)>,
    /// Entries read.
    pub entries: u64,
    /// Entries the same file held twice (the later one counts).
    pub repeated: u64,
    /// Entries of kinds the node does not keep (e.g. an Apple Health type with no vault path).
    pub skipped: u64,
    rejected: Vec<Rejected>,
    rejected_total: u64,
}

/// How a day's measurements become one point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DailyKind {
    /// Their sum (steps, distance).
    Sum,
    /// Their mean (heart rate).
    Mean,
}

#[derive(Debug, Clone, Copy)]
struct Daily {
    kind: DailyKind,
    sum: f64,
    count: u64,
}

impl Collector {
    fn paths(&self) -> usize {
        self.points.len() + self.daily.len() + self.codes.len() + self.values.len()
    }

    fn check_paths(&self, path: &FieldPath, position: &str) -> Result<(), ImportError> {
        let known = self.points.contains_key(path)
            || self.daily.contains_key(path)
            || self.codes.contains_key(path)
            || self.values.contains_key(path);
        if !known && self.paths() >= MAX_IMPORT_PATHS {
            return Err(ImportError::new(position, format!("one import changes at most {MAX_IMPORT_PATHS} records")));
        }
        Ok(())
    }

    /// A point of the series at `path`.
    pub fn point(
        &mut self,
        position: &str,
        path: &FieldPath,
        point: Point,
        id: Option<String>,
    ) -> Result<(), ImportError> {
        self.check_paths(path, position)?;
        self.entries += 1;
        let series = self.points.entry(path.clone()).or_default();
        if series.insert((point.at, point.tag), (point.value, id)).is_some() {
            self.repeated += 1;
        } else if series.len() > MAX_SERIES_POINTS {
            return Err(ImportError::new(position, format!("{path} would hold more than {MAX_SERIES_POINTS} points")));
        }
        Ok(())
    }

    /// A measurement summed or averaged into its day's point of the series at `path`.
    pub fn daily(
        &mut self,
        position: &str,
        path: &FieldPath,
        day: Date,
        tag: Option<String>,
        value: f64,
        kind: DailyKind,
    ) -> Result<(), ImportError> {
        self.check_paths(path, position)?;
        self.entries += 1;
        let days = self.daily.entry(path.clone()).or_default();
        let entry = days.entry((day, tag)).or_insert(Daily { kind, sum: 0.0, count: 0 });
        entry.sum += value;
        entry.count += 1;
        if days.len() > MAX_SERIES_POINTS {
            return Err(ImportError::new(position, format!("{path} would hold more than {MAX_SERIES_POINTS} days")));
        }
        Ok(())
    }

    /// A code added to the set at `path`.
    pub fn code(&mut self, position: &str, path: &FieldPath, code: String) -> Result<(), ImportError> {
        self.check_paths(path, position)?;
        self.entries += 1;
        let codes = self.codes.entry(path.clone()).or_default();
        if !codes.insert(code) {
            self.repeated += 1;
        } else if codes.len() > me2b_proto::limits::MAX_CODES {
            return Err(ImportError::new(position, format!("{path} would hold too many codes")));
        }
        Ok(())
    }

    /// A value set at `path`.
    pub fn value(
        &mut self,
        position: &str,
        path: &FieldPath,
        value: Value,
        id: Option<String>,
    ) -> Result<(), ImportError> {
        self.check_paths(path, position)?;
        self.entries += 1;
        if self.values.insert(path.clone(), (value, id)).is_some() {
            self.repeated += 1;
        }
        Ok(())
    }

    /// An entry that cannot be imported; the rest of the file still is.
    pub fn reject(&mut self, position: impl Into<String>, reason: impl Into<String>) {
        self.rejected_total += 1;
        if self.rejected.len() < MAX_REJECTS_LISTED {
            self.rejected.push(Rejected { position: position.into(), reason: reason.into() });
        }
    }

    /// The engine's updates, and the rejections.
    pub fn finish(self) -> (Vec<ImportUpdate>, Vec<Rejected>, u64) {
        let mut updates = Vec::new();
        for (path, series) in self.points {
            let mut id = None;
            let points = series
                .into_iter()
                .map(|((at, tag), (value, original))| {
                    id = original.or(id.take());
                    Point { at, value, tag }
                })
                .collect();
            updates.push(ImportUpdate { path, update: Update::AddPoints(points), original_id: id });
        }
        for (path, days) in self.daily {
            let points = days
                .into_iter()
                .filter_map(|((day, tag), daily)| {
                    let value = match daily.kind {
                        DailyKind::Sum => daily.sum,
                        DailyKind::Mean => daily.sum / daily.count.max(1) as f64,
                    };
                    Some(Point { at: day.start()?, value, tag })
                })
                .collect();
            updates.push(ImportUpdate { path, update: Update::AddPoints(points), original_id: None });
        }
        for (path, codes) in self.codes {
            updates.push(ImportUpdate { path, update: Update::AddCodes(codes), original_id: None });
        }
        for (path, (value, id)) in self.values {
            updates.push(ImportUpdate { path, update: Update::Set(value), original_id: id });
        }
        (updates, self.rejected, self.rejected_total)
    }
}

/// Reads `input` as `format` into a collector.
pub fn read(format: &Format, input: impl BufRead) -> Result<Collector, ImportError> {
    let mut collector = Collector::default();
    match format {
        Format::Gpx => track::gpx(input, &mut collector)?,
        Format::Tcx => track::tcx(input, &mut collector)?,
        Format::AppleHealth => apple::export(input, &mut collector)?,
        Format::Fhir => fhir::bundle(input, &mut collector)?,
        Format::Csv(mapping) => csv_rows::rows(input, mapping, &mut collector)?,
        Format::Vcard => vcard::card(input, &mut collector)?,
    }
    Ok(collector)
}

/// The provenance of everything one import changes.
pub fn source(format: &Format, file: &str, now: Timestamp) -> ImportSource {
    ImportSource { format: format.name().to_owned(), file: file.to_owned(), at: now, original_id: None }
}

/// Makes a tag of a name the file gives (a shoe, a source): lower case, runs of other
/// characters as one `-`, at most 64 bytes. `None` if nothing is left.
pub fn tag_of(name: &str) -> Option<String> {
    let mut tag = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            tag.push(c.to_ascii_lowercase());
        } else if !tag.ends_with('-') && !tag.is_empty() {
            tag.push('-');
        }
    }
    let tag = tag.trim_end_matches('-');
    let tag: String = tag.chars().take(me2b_proto::limits::MAX_TOKEN_BYTES).collect();
    (!tag.is_empty()).then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_tokens() {
        assert_eq!(tag_of("Nike Pegasus 41").as_deref(), Some("nike-pegasus-41"));
        assert_eq!(tag_of("  Ada's Watch ").as_deref(), Some("ada-s-watch"));
        assert_eq!(tag_of("!!!"), None);
        assert!(me2b_proto::value::is_token(&tag_of(&"x".repeat(500)).unwrap_or_default()));
    }
}
