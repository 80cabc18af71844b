//! Imports: many vault changes from one source (a GPX file, a FHIR bundle), checked together
//! and applied as one change of state, so that the driver writes them in one batch and a
//! trigger sees the import's end result, not each of its steps.

use super::{CommandError, Engine, Handled, ImportSource, Provenance, Record, Result, Role};
use crate::limits::{MAX_RECORD_HISTORY, MAX_SERIES_POINTS};
use crate::time::Timestamp;
use crate::value::{Personal, Point, Value};
use crate::vocab::FieldPath;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// How an import changes one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Sets the value, unless the record already holds it (a duplicate).
    Set(Value),
    /// Adds points to a series. A point is known by its time and tag: one already there with
    /// the same value is a duplicate; with another value, the new one replaces it.
    AddPoints(Vec<Point>),
    /// Adds codes to a set of codes; those already there are duplicates.
    AddCodes(BTreeSet<String>),
}

/// One change of an import.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportUpdate {
    /// The record.
    pub path: FieldPath,
    /// The change.
    pub update: Update,
    /// The source's own id of the entry, kept in the record's provenance.
    pub original_id: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCounts {
    /// Values, points and codes that are new.
    pub added: u64,
    /// Values and points that replaced another at the same place.
    pub updated: u64,
    /// Values, points and codes the vault already held.
    pub duplicates: u64,
}

impl Engine {
    /// Checks every update against the vault, then applies all or none.
    pub(super) fn import(
        &mut self,
        updates: Vec<ImportUpdate>,
        provenance: Provenance,
        now: Timestamp,
    ) -> Result<Handled> {
        self.require(Role::Person)?;
        let mut counts = ImportCounts::default();
        let mut changed: BTreeMap<FieldPath, (Value, Option<String>)> = BTreeMap::new();
        for ImportUpdate { path, update, original_id } in updates {
            let current = match changed.get(&path) {
                Some((value, _)) => Some(value),
                None => self.state.vault.get(&path).map(|r| r.value.expose()),
            };
            let invalid = |reason: String| CommandError::Invalid(format!("{path}: {reason}"));
            let next = merge(current, update, &mut counts).map_err(invalid)?;
            if let Some(next) = next {
                next.validate().map_err(|e| invalid(e.to_string()))?;
                changed.insert(path, (next, original_id));
            }
        }
        for (path, (value, original_id)) in &changed {
            let provenance = match &provenance {
                Provenance::Import(source) => {
                    Provenance::Import(ImportSource { original_id: original_id.clone(), at: now, ..source.clone() })
                }
                other => other.clone(),
            };
            let history = match self.state.vault.remove(path) {
                Some(mut old) => {
                    old.history.push_back((old.updated_at, old.value));
                    while old.history.len() > MAX_RECORD_HISTORY {
                        old.history.pop_front();
                    }
                    old.history
                }
                None => VecDeque::new(),
            };
            let record = Record { value: Personal::new(value.clone()), provenance, updated_at: now, history };
            self.state.vault.insert(path.clone(), record);
            self.persist(super::Change::Vault(path.clone()));
        }
        for path in changed.keys() {
            self.vault_changed(path, now);
        }
        Ok(Handled::Imported(counts))
    }
}

/// The record's next value after `update`, or `None` when nothing changes.
fn merge(
    current: Option<&Value>,
    update: Update,
    counts: &mut ImportCounts,
) -> std::result::Result<Option<Value>, String> {
    match (current, update) {
        (Some(old), Update::Set(new)) if *old == new => {
            counts.duplicates += 1;
            Ok(None)
        }
        (old, Update::Set(new)) => {
            if old.is_some() {
                counts.updated += 1;
            } else {
                counts.added += 1;
            }
            Ok(Some(new))
        }
        (None | Some(Value::Series(_)), Update::AddPoints(new)) => {
            let mut points: BTreeMap<(Timestamp, Option<String>), f64> = match current {
                Some(Value::Series(old)) => old.iter().map(|p| ((p.at, p.tag.clone()), p.value)).collect(),
                _ => BTreeMap::new(),
            };
            let before = counts.added + counts.updated;
            for point in new {
                match points.insert((point.at, point.tag), point.value) {
                    None => counts.added += 1,
                    Some(old) if old == point.value => counts.duplicates += 1,
                    Some(_) => counts.updated += 1,
                }
            }
            if points.len() > MAX_SERIES_POINTS {
                return Err(format!(
                    "a series holds at most {MAX_SERIES_POINTS} points, this import makes {}",
                    points.len()
                ));
            }
            let changed = counts.added + counts.updated > before;
            Ok(changed.then(|| {
                Value::Series(points.into_iter().map(|((at, tag), value)| Point { at, value, tag }).collect())
            }))
        }
        (None | Some(Value::Codes(_)), Update::AddCodes(new)) => {
            let mut codes = match current {
                Some(Value::Codes(old)) => old.clone(),
                _ => BTreeSet::new(),
            };
            let before = codes.len();
            for code in new {
                if codes.insert(code) {
                    counts.added += 1;
                } else {
                    counts.duplicates += 1;
                }
            }
            Ok((codes.len() > before).then_some(Value::Codes(codes)))
        }
        (Some(old), Update::AddPoints(_)) => Err(format!("holds a {}, not a series", old.type_name())),
        (Some(old), Update::AddCodes(_)) => Err(format!("holds a {}, not a set of codes", old.type_name())),
    }
}
