//! FHIR R4 Bundles in JSON, read entry by entry (serde_json streams the `entry` array through
//! a visitor, so only one resource is in memory at a time): Patient basics, Observations with
//! a LOINC code in the mapping table (UCUM units converted), active Conditions, active
//! MedicationStatements and completed Immunizations as codes. Other resources are skipped.

use super::mapping::{self, LOINC, paths};
use super::{Collector, ImportError};
use me2b_proto::value::{Point, Value};
use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;
use std::fmt;
use std::io::BufRead;

pub(super) fn bundle(input: impl BufRead, collector: &mut Collector) -> Result<(), ImportError> {
    let mut failure = None;
    let mut reader = serde_json::Deserializer::from_reader(input);
    let seed = BundleSeed { collector, failure: &mut failure, entries: 0 };
    let result = seed.deserialize(&mut reader).and_then(|()| reader.end());
    if let Some(failure) = failure {
        return Err(failure);
    }
    result.map_err(|e| {
        let reason = e.to_string();
        let reason = reason.split(" at line ").next().unwrap_or(&reason).to_owned();
        ImportError::new(format!("line {} column {}", e.line(), e.column()), reason)
    })
}

struct BundleSeed<'a> {
    collector: &'a mut Collector,
    failure: &'a mut Option<ImportError>,
    entries: u64,
}

impl<'de> DeserializeSeed<'de> for BundleSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BundleSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a FHIR Bundle object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut is_bundle = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "resourceType" => {
                    let kind: String = map.next_value()?;
                    if kind != "Bundle" {
                        return Err(A::Error::custom(format!("resourceType is {kind:?}, not \"Bundle\"")));
                    }
                    is_bundle = true;
                }
                "entry" => map.next_value_seed(Entries { bundle: &mut self })?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        if !is_bundle {
            return Err(A::Error::custom("no resourceType \"Bundle\": not a FHIR bundle"));
        }
        Ok(())
    }
}

struct Entries<'b, 'a> {
    bundle: &'b mut BundleSeed<'a>,
}

impl<'de> DeserializeSeed<'de> for Entries<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of bundle entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<Json>()? {
            self.bundle.entries += 1;
            let position = format!("entry {}", self.bundle.entries);
            if let Err(failure) = resource(entry.get("resource"), &position, self.bundle.collector) {
                let message = failure.to_string();
                *self.bundle.failure = Some(failure);
                return Err(A::Error::custom(message));
            }
        }
        Ok(())
    }
}

fn text<'a>(json: &'a Json, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(json, |json, key| json.get(key))?.as_str()
}

/// The codes of a CodeableConcept in known systems.
fn codes(concept: Option<&Json>) -> Vec<String> {
    let codings = concept.and_then(|c| c.get("coding")).and_then(Json::as_array);
    codings
        .into_iter()
        .flatten()
        .filter_map(|coding| mapping::code(text(coding, &["system"])?, text(coding, &["code"])?))
        .collect()
}

fn resource(resource: Option<&Json>, position: &str, collector: &mut Collector) -> Result<(), ImportError> {
    let Some(resource) = resource else {
        collector.reject(position, "an entry without a resource");
        return Ok(());
    };
    let id = text(resource, &["id"]).map(str::to_owned);
    match text(resource, &["resourceType"]) {
        Some("Patient") => patient(resource, position, id, collector),
        Some("Observation") => observation(resource, position, id, collector),
        Some("Condition") => {
            let first_code = |field: &str| resource.get(field)?.get("coding")?.get(0)?.get("code")?.as_str();
            let (status, verification) = (first_code("clinicalStatus"), first_code("verificationStatus"));
            let active = status.is_none_or(|s| matches!(s, "active" | "recurrence" | "relapse"));
            let refuted = verification.is_some_and(|v| matches!(v, "refuted" | "entered-in-error"));
            if !active || refuted {
                collector.skipped += 1;
                return Ok(());
            }
            add_codes(resource.get("code"), paths::CONDITIONS, position, collector)
        }
        Some("MedicationStatement") => {
            if !matches!(text(resource, &["status"]), Some("active" | "intended")) {
                collector.skipped += 1;
                return Ok(());
            }
            if resource.get("medicationCodeableConcept").is_none() {
                collector.reject(position, "a medication given by reference, not by code, is not read");
                return Ok(());
            }
            add_codes(resource.get("medicationCodeableConcept"), paths::MEDICATIONS, position, collector)
        }
        Some("Immunization") => {
            if text(resource, &["status"]) != Some("completed") {
                collector.skipped += 1;
                return Ok(());
            }
            add_codes(resource.get("vaccineCode"), paths::IMMUNIZATIONS, position, collector)
        }
        Some(_) => {
            collector.skipped += 1;
            Ok(())
        }
        None => {
            collector.reject(position, "a resource without a resourceType");
            Ok(())
        }
    }
}

fn add_codes(concept: Option<&Json>, path: &str, position: &str, collector: &mut Collector) -> Result<(), ImportError> {
    let found = codes(concept);
    if found.is_empty() {
        collector.reject(position, "no code in a known system (SNOMED CT, ICD-10, RxNorm, ATC, CVX)");
        return Ok(());
    }
    let path = mapping::path(path)?;
    for code in found {
        collector.code(position, &path, code)?;
    }
    Ok(())
}

fn patient(resource: &Json, position: &str, id: Option<String>, collector: &mut Collector) -> Result<(), ImportError> {
    if let Some(birth) = text(resource, &["birthDate"]) {
        match birth.parse() {
            Ok(date) => collector.value(position, &mapping::path(paths::BIRTH_DATE)?, Value::Date(date), id.clone())?,
            Err(_) => collector.reject(position, format!("birthDate {birth:?} is not a full YYYY-MM-DD date")),
        }
    }
    if let Some(gender) = text(resource, &["gender"]) {
        collector.value(position, &mapping::path(paths::GENDER)?, Value::Text(gender.to_owned()), id.clone())?;
    }
    if let Some(name) = resource.get("name").and_then(|n| n.get(0)) {
        let full = match text(name, &["text"]) {
            Some(full) => full.to_owned(),
            None => {
                let given = name.get("given").and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_str);
                given.chain(text(name, &["family"])).collect::<Vec<_>>().join(" ")
            }
        };
        if !full.is_empty() {
            collector.value(position, &mapping::path(paths::NAME)?, Value::Text(full), id)?;
        }
    }
    Ok(())
}

fn observation(
    resource: &Json,
    position: &str,
    id: Option<String>,
    collector: &mut Collector,
) -> Result<(), ImportError> {
    if matches!(text(resource, &["status"]), Some("entered-in-error" | "cancelled")) {
        collector.skipped += 1;
        return Ok(());
    }
    let when = text(resource, &["effectiveDateTime"])
        .or_else(|| text(resource, &["effectivePeriod", "start"]))
        .or_else(|| text(resource, &["issued"]));
    let Some(when) = when.and_then(mapping::when) else {
        collector.reject(position, "an Observation without a readable effective time");
        return Ok(());
    };
    // A panel (blood pressure) carries its measurements as components.
    let components = resource.get("component").and_then(Json::as_array);
    let parts: Vec<&Json> = match components {
        Some(components) if resource.get("valueQuantity").is_none() => components.iter().collect(),
        _ => vec![resource],
    };
    for part in parts {
        let loinc = codes(part.get("code")).into_iter().find_map(|c| c.strip_prefix("loinc|").map(str::to_owned));
        let Some((code, path, quantity)) = loinc.and_then(|code| LOINC.iter().find(|(c, ..)| *c == code)) else {
            let named = codes(part.get("code")).join(", ");
            collector.reject(position, format!("no vault path for this Observation's code ({named})"));
            continue;
        };
        let value = part.get("valueQuantity");
        let number = value.and_then(|v| v.get("value")).and_then(Json::as_f64);
        // UCUM's code is the unit to read; `unit` is for people and often the same.
        let unit = value.and_then(|v| text(v, &["code"]).or_else(|| text(v, &["unit"]))).unwrap_or_default();
        match number.and_then(|n| quantity.convert(n, unit)).filter(|v| v.is_finite()) {
            Some(converted) => {
                collector.point(position, &mapping::path(path)?, Point::new(when.at, converted), id.clone())?
            }
            None => {
                collector.reject(position, format!("loinc {code}: value {number:?} in unit {unit:?} cannot be read"))
            }
        }
    }
    Ok(())
}
