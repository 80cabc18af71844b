//! Where imported data lands in the vault, in which unit, and how source units and times are
//! converted. One table per source; the README shows them together.

use me2b_proto::time::{Date, Timestamp};
use me2b_proto::vocab::FieldPath;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The vault paths importers write, each with its unit in the name.
pub mod paths {
    /// Distance per activity, km, one point per activity at its start, tagged with the gear.
    pub const RUNNING_KM: &str = "activity.running.distance_km";
    /// Duration per activity, minutes, keyed like the distance.
    pub const RUNNING_MIN: &str = "activity.running.duration_min";
    /// Cycling distance per activity, km.
    pub const CYCLING_KM: &str = "activity.cycling.distance_km";
    /// Cycling duration per activity, minutes.
    pub const CYCLING_MIN: &str = "activity.cycling.duration_min";
    /// Walking and hiking distance per activity, km.
    pub const WALKING_KM: &str = "activity.walking.distance_km";
    /// Walking and hiking duration per activity, minutes.
    pub const WALKING_MIN: &str = "activity.walking.duration_min";
    /// Any other activity's distance, km.
    pub const OTHER_KM: &str = "activity.other.distance_km";
    /// Any other activity's duration, minutes.
    pub const OTHER_MIN: &str = "activity.other.duration_min";
    /// Steps per day, tagged with the recording device.
    pub const STEPS: &str = "activity.steps";
    /// Walking and running distance per day, km, tagged with the device.
    pub const WALKING_RUNNING_KM: &str = "activity.walking_running_km";
    /// Body weight, kg, per measurement.
    pub const WEIGHT_KG: &str = "body.weight_kg";
    /// Body height, cm, per measurement.
    pub const HEIGHT_CM: &str = "body.height_cm";
    /// Body mass index, kg/m², per measurement.
    pub const BMI: &str = "body.bmi";
    /// Heart rate, beats per minute (per measurement; per day's mean from Apple Health).
    pub const HEART_RATE: &str = "health.vitals.heart_rate_bpm";
    /// Systolic blood pressure, mmHg.
    pub const SYSTOLIC: &str = "health.vitals.bp_systolic_mmhg";
    /// Diastolic blood pressure, mmHg.
    pub const DIASTOLIC: &str = "health.vitals.bp_diastolic_mmhg";
    /// HbA1c, % (NGSP/DCCT), per measurement.
    pub const HBA1C: &str = "health.lab.hba1c_percent";
    /// Blood glucose, mmol/L.
    pub const GLUCOSE: &str = "health.lab.glucose_mmol_l";
    /// Total cholesterol, mmol/L.
    pub const CHOLESTEROL: &str = "health.lab.cholesterol_mmol_l";
    /// Active conditions, as `SYSTEM|CODE` codes.
    pub const CONDITIONS: &str = "health.conditions";
    /// Medications taken, as codes.
    pub const MEDICATIONS: &str = "health.medications";
    /// Immunizations given, as codes.
    pub const IMMUNIZATIONS: &str = "health.immunizations";
    /// Birth date.
    pub const BIRTH_DATE: &str = "profile.birthdate";
    /// Administrative gender as FHIR writes it (`female`, `male`, `other`, `unknown`).
    pub const GENDER: &str = "profile.gender";
    /// Full name.
    pub const NAME: &str = "profile.name";
    /// E-mail address.
    pub const EMAIL: &str = "profile.email";
    /// Telephone number.
    pub const PHONE: &str = "profile.phone";
    /// Postal address, one line.
    pub const ADDRESS: &str = "profile.address";
}

/// Reads one of [`paths`].
pub(crate) fn path(text: &str) -> Result<FieldPath, super::ImportError> {
    text.parse().map_err(|e: me2b_proto::decode::TextError| super::ImportError::new("mapping", e.to_string()))
}

/// An activity's kind, as GPX `<type>`, TCX `Sport` or Apple Health's workout type names it.
pub(crate) fn activity_paths(kind: &str) -> (&'static str, &'static str) {
    let kind = kind.to_ascii_lowercase();
    let kind = kind.trim_start_matches("hkworkoutactivitytype");
    if kind.contains("run") || kind == "9" {
        (paths::RUNNING_KM, paths::RUNNING_MIN)
    } else if kind.contains("cycl") || kind.contains("bik") || kind.contains("ride") || kind == "1" {
        (paths::CYCLING_KM, paths::CYCLING_MIN)
    } else if kind.contains("walk") || kind.contains("hik") {
        (paths::WALKING_KM, paths::WALKING_MIN)
    } else {
        (paths::OTHER_KM, paths::OTHER_MIN)
    }
}

/// A quantity a source reports in one of several units, converted to the vault's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// To km.
    Distance,
    /// To minutes.
    Duration,
    /// To kg.
    Mass,
    /// To cm.
    Length,
    /// To beats per minute.
    Rate,
    /// To mmHg.
    Pressure,
    /// To % (NGSP); IFCC mmol/mol by the master equation NGSP = 0.09148 × IFCC + 2.152.
    Hba1c,
    /// Glucose to mmol/L (mg/dL ÷ 18.0156).
    Glucose,
    /// Cholesterol to mmol/L (mg/dL ÷ 38.67).
    Cholesterol,
    /// Steps, BMI: a count or a unit with one spelling.
    Plain,
}

impl Quantity {
    /// `value` in `unit` (UCUM, or Apple Health's and GPX's spellings) in the vault's unit;
    /// `None` for a unit this quantity does not know.
    pub fn convert(self, value: f64, unit: &str) -> Option<f64> {
        let unit = unit.trim();
        let factor = |f: f64| Some(value * f);
        match (self, unit) {
            (Quantity::Distance, "km") => factor(1.0),
            (Quantity::Distance, "m") => factor(0.001),
            (Quantity::Distance, "mi" | "[mi_i]") => factor(1.609_344),
            (Quantity::Distance, "ft" | "[ft_i]") => factor(0.000_304_8),
            (Quantity::Duration, "min") => factor(1.0),
            (Quantity::Duration, "s") => factor(1.0 / 60.0),
            (Quantity::Duration, "h" | "hr") => factor(60.0),
            (Quantity::Mass, "kg") => factor(1.0),
            (Quantity::Mass, "g") => factor(0.001),
            (Quantity::Mass, "lb" | "[lb_av]") => factor(0.453_592_37),
            (Quantity::Length, "cm") => factor(1.0),
            (Quantity::Length, "m") => factor(100.0),
            (Quantity::Length, "in" | "[in_i]") => factor(2.54),
            (Quantity::Length, "ft" | "[ft_i]") => factor(30.48),
            (Quantity::Rate, "/min" | "{beats}/min" | "beats/min" | "count/min" | "{beat}/min") => factor(1.0),
            (Quantity::Pressure, "mm[Hg]" | "mmHg") => factor(1.0),
            (Quantity::Hba1c, "%") => factor(1.0),
            (Quantity::Hba1c, "mmol/mol") => Some(0.09148 * value + 2.152),
            (Quantity::Glucose, "mmol/L") => factor(1.0),
            (Quantity::Glucose, u) if u.starts_with("mmol<") && u.ends_with(">/L") => factor(1.0),
            (Quantity::Glucose, "mg/dL") => factor(1.0 / 18.0156),
            (Quantity::Cholesterol, "mmol/L") => factor(1.0),
            (Quantity::Cholesterol, "mg/dL") => factor(1.0 / 38.67),
            (Quantity::Plain, _) => factor(1.0),
            _ => None,
        }
    }
}

/// LOINC codes an Observation may carry, the vault path they go to and their quantity.
pub const LOINC: &[(&str, &str, Quantity)] = &[
    ("4548-4", paths::HBA1C, Quantity::Hba1c),
    ("17856-6", paths::HBA1C, Quantity::Hba1c),
    ("59261-8", paths::HBA1C, Quantity::Hba1c),
    ("29463-7", paths::WEIGHT_KG, Quantity::Mass),
    ("3141-9", paths::WEIGHT_KG, Quantity::Mass),
    ("8302-2", paths::HEIGHT_CM, Quantity::Length),
    ("39156-5", paths::BMI, Quantity::Plain),
    ("8867-4", paths::HEART_RATE, Quantity::Rate),
    ("8480-6", paths::SYSTOLIC, Quantity::Pressure),
    ("8462-4", paths::DIASTOLIC, Quantity::Pressure),
    ("2339-0", paths::GLUCOSE, Quantity::Glucose),
    ("2345-7", paths::GLUCOSE, Quantity::Glucose),
    ("15074-8", paths::GLUCOSE, Quantity::Glucose),
    ("2093-3", paths::CHOLESTEROL, Quantity::Cholesterol),
];

/// Apple Health record types, where they go, their quantity, and how a day's records combine
/// (`None`: each record is a point).
pub const APPLE: &[(&str, &str, Quantity, Option<super::DailyKind>)] = &[
    ("HKQuantityTypeIdentifierStepCount", paths::STEPS, Quantity::Plain, Some(super::DailyKind::Sum)),
    (
        "HKQuantityTypeIdentifierDistanceWalkingRunning",
        paths::WALKING_RUNNING_KM,
        Quantity::Distance,
        Some(super::DailyKind::Sum),
    ),
    ("HKQuantityTypeIdentifierHeartRate", paths::HEART_RATE, Quantity::Rate, Some(super::DailyKind::Mean)),
    ("HKQuantityTypeIdentifierBodyMass", paths::WEIGHT_KG, Quantity::Mass, None),
    ("HKQuantityTypeIdentifierHeight", paths::HEIGHT_CM, Quantity::Length, None),
    ("HKQuantityTypeIdentifierBodyMassIndex", paths::BMI, Quantity::Plain, None),
    ("HKQuantityTypeIdentifierBloodGlucose", paths::GLUCOSE, Quantity::Glucose, None),
    ("HKQuantityTypeIdentifierBloodPressureSystolic", paths::SYSTOLIC, Quantity::Pressure, None),
    ("HKQuantityTypeIdentifierBloodPressureDiastolic", paths::DIASTOLIC, Quantity::Pressure, None),
];

/// Coding systems, by their FHIR URI, and the short name a code is written with.
pub const SYSTEMS: &[(&str, &str)] = &[
    ("http://snomed.info/sct", "sct"),
    ("http://hl7.org/fhir/sid/icd-10", "icd10"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "icd10"),
    ("http://www.nlm.nih.gov/research/umls/rxnorm", "rxnorm"),
    ("http://www.whocc.no/atc", "atc"),
    ("http://hl7.org/fhir/sid/cvx", "cvx"),
    ("http://loinc.org", "loinc"),
];

/// `SHORT|CODE` for a coding in a known system.
pub(crate) fn code(system: &str, code: &str) -> Option<String> {
    let short = SYSTEMS.iter().find(|(uri, _)| *uri == system)?.1;
    let code = format!("{short}|{}", code.trim());
    me2b_proto::value::is_token(&code).then_some(code)
}

/// An instant and the calendar day it fell on where it was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct When {
    /// The instant.
    pub at: Timestamp,
    /// The local day.
    pub day: Date,
}

/// Reads a time as the sources write it: RFC 3339 (`2026-11-30T07:00:00Z`, `...+01:00`,
/// fractions), RFC 3339 without an offset (UTC, as GPX defines it), Apple Health's
/// `2026-11-30 07:00:00 +0100`, or a date (`2026-11-30`, its midnight UTC).
pub(crate) fn when(text: &str) -> Option<When> {
    let text = text.trim();
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .or_else(|| OffsetDateTime::parse(&format!("{text}Z"), &Rfc3339).ok())
        .or_else(|| apple_time(text));
    let time = match parsed {
        Some(time) => time,
        None => {
            let date: Date = text.parse().ok()?;
            return Some(When { at: date.start()?, day: date });
        }
    };
    let ms = u64::try_from(time.unix_timestamp_nanos() / 1_000_000).ok()?;
    let date = time.date();
    let day = Date::new(date.year(), u32::from(u8::from(date.month())), u32::from(date.day()))?;
    Some(When { at: Timestamp::from_millis(ms), day })
}

/// `2026-11-30 07:00:00 +0100`, read as the RFC 3339 time it is.
fn apple_time(text: &str) -> Option<OffsetDateTime> {
    let mut parts = text.split(' ');
    let (date, clock, offset) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || offset.len() != 5 || !offset.is_char_boundary(3) {
        return None;
    }
    let rfc3339 = format!("{date}T{clock}{}:{}", &offset[..3], &offset[3..]);
    OffsetDateTime::parse(&rfc3339, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_from_every_source() {
        let utc = when("2026-11-30T07:00:00Z").unwrap();
        assert_eq!(when("2026-11-30T08:00:00+01:00"), Some(utc));
        assert_eq!(when("2026-11-30T07:00:00"), Some(utc), "GPX without an offset is UTC");
        assert_eq!(when("2026-11-30 08:00:00 +0100"), Some(utc));
        assert_eq!(when("2026-11-30T07:00:00.500Z").unwrap().at.as_millis(), utc.at.as_millis() + 500);
        // Half past midnight in Vienna is the 30th there, the 29th in UTC: the day is local.
        let early = when("2026-11-30 00:30:00 +0100").unwrap();
        assert_eq!(early.day, Date::new(2026, 11, 30).unwrap());
        assert_eq!(Date::of(early.at), Date::new(2026, 11, 29).unwrap());
        assert_eq!(when("2026-11-30").unwrap().day, Date::new(2026, 11, 30).unwrap());
        for bad in ["yesterday", "2026-13-01T00:00:00Z", "1960-01-01T00:00:00Z", ""] {
            assert_eq!(when(bad), None, "{bad}");
        }
    }

    #[test]
    fn units_convert_to_the_vault_unit() {
        let close = |a: Option<f64>, b: f64| assert!((a.unwrap() - b).abs() < 1e-9, "{a:?} != {b}");
        close(Quantity::Hba1c.convert(48.0, "mmol/mol"), 0.09148 * 48.0 + 2.152); // 6.54 %
        close(Quantity::Hba1c.convert(6.9, "%"), 6.9);
        close(Quantity::Glucose.convert(180.156, "mg/dL"), 10.0); // 180.156 g/mol
        close(Quantity::Glucose.convert(5.5, "mmol<180.1558800000541>/L"), 5.5);
        close(Quantity::Mass.convert(150.0, "[lb_av]"), 68.038_855_5);
        close(Quantity::Distance.convert(5000.0, "m"), 5.0);
        assert_eq!(Quantity::Hba1c.convert(6.5, "mg/dL"), None);
        for (_, path, _) in LOINC {
            assert!(super::path(path).is_ok());
        }
    }
}
