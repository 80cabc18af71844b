//! The importers on a real node (sled store): each sample file under `examples/` lands at its
//! vault paths with converted units and its provenance, re-importing it adds nothing, a
//! malformed file is refused with its position and changes nothing, and an unusable entry is
//! rejected alone with its position and the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_node::import::{self, CsvMapping, Format, ImportError};
use me2b_proto::engine::{Command, Handled, ImportCounts, Provenance, Role};
use me2b_proto::predicate::Predicate;
use me2b_proto::time::Date;
use me2b_proto::value::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn example(path: &str) -> Vec<u8> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(path);
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// What one import did: the node's counts and the importer's.
#[derive(Debug)]
struct Report {
    counts: ImportCounts,
    entries: u64,
    repeated: u64,
    skipped: u64,
    rejected: Vec<import::Rejected>,
}

async fn import(node: &TestNode, format: &Format, file: &str, bytes: &[u8]) -> Result<Report, ImportError> {
    let collector = import::read(format, bytes)?;
    let (entries, repeated, skipped) = (collector.entries, collector.repeated, collector.skipped);
    let (updates, rejected, _) = collector.finish();
    let provenance = Provenance::Import(import::source(format, file, now()));
    let Handled::Imported(counts) = node.command(Command::Import { updates, provenance }).await else {
        panic!("an import answers with its counts")
    };
    Ok(Report { counts, entries, repeated, skipped, rejected })
}

async fn vault(node: &TestNode) -> BTreeMap<String, (Value, Provenance)> {
    let state = node.handle.state().await.unwrap();
    state.vault.iter().map(|(path, r)| (path.to_string(), (r.value.expose().clone(), r.provenance.clone()))).collect()
}

fn holds(vault: &BTreeMap<String, (Value, Provenance)>, path: &str, predicate: &str) -> bool {
    let predicate: Predicate = predicate.parse().unwrap();
    predicate.evaluate(&vault[path].0, now()).unwrap()
}

fn series(vault: &BTreeMap<String, (Value, Provenance)>, path: &str) -> Vec<(i64, f64, Option<String>)> {
    let Value::Series(points) = &vault[path].0 else { panic!("{path} is a series") };
    points.iter().map(|p| (p.at.as_millis() as i64, p.value, p.tag.clone())).collect()
}

fn runs_mapping() -> Format {
    let map = "distance_km=activity.running.distance_km,minutes=activity.running.duration_min";
    Format::Csv(CsvMapping::parse(map, Some("date".into()), Some("shoe".into())).unwrap())
}

const KM: &str = "activity.running.distance_km";

#[tokio::test]
async fn a_runners_files_add_up_per_shoe_and_import_once() {
    let person = start(Role::Person, 31).await;
    let csv = import(&person, &runs_mapping(), "runs.csv", &example("runner/runs.csv")).await.unwrap();
    assert!(csv.rejected.is_empty(), "{:?}", csv.rejected);
    assert_eq!(csv.counts.added, csv.entries, "every value of every row is new");
    let vault_now = vault(&person).await;
    assert!(holds(&vault_now, KM, "sum tagged pegasus-41 >= 690.39"));
    assert!(holds(&vault_now, KM, "sum tagged pegasus-41 < 690.41"), "the trail runs count apart");
    assert!(holds(&vault_now, KM, "count tagged trail-x >= 7"));
    let Provenance::Import(source) = &vault_now[KM].1 else { panic!("provenance: {:?}", vault_now[KM].1) };
    assert_eq!((source.format.as_str(), source.file.as_str()), ("csv", "runs.csv"));

    let easy = import(&person, &Format::Gpx, "easy.gpx", &example("runner/easy.gpx")).await.unwrap();
    assert_eq!((easy.entries, easy.counts.added), (2, 2), "one run: its distance and its duration");
    let vault_now = vault(&person).await;
    assert!(holds(&vault_now, KM, "sum tagged pegasus-41 > 695.35"), "the loop is 5.0 km within metres");
    assert!(holds(&vault_now, KM, "sum tagged pegasus-41 < 695.45"));
    assert!(holds(&vault_now, KM, "sum tagged pegasus-41 < 700"));

    let long = import(&person, &Format::Gpx, "long.gpx", &example("runner/long.gpx")).await.unwrap();
    assert_eq!(long.counts.added, 2);
    let vault_now = vault(&person).await;
    assert!(holds(&vault_now, KM, "sum tagged pegasus-41 >= 700"), "this is the run that crosses 700 km");
    // It started at 08:30 in Vienna (+01:00): 07:30 UTC.
    let day = Date::new(2026, 11, 30).unwrap().start().unwrap().as_millis() as i64;
    let start = day + (7 * 60 + 30) * 60_000;
    let long_point = series(&vault_now, KM).into_iter().find(|(at, ..)| *at == start).expect("the long run");
    assert!((long_point.1 - 12.1).abs() < 0.01, "{long_point:?}");
    assert_eq!(long_point.2.as_deref(), Some("pegasus-41"), "the gear in the track's extensions tags the run");
    let minutes = series(&vault_now, "activity.running.duration_min");
    let long_minutes = minutes.iter().find(|(at, ..)| *at == start).unwrap().1;
    assert!((long_minutes - 12.1 * 5.5).abs() < 0.1, "duration is last minus first time: {long_minutes}");

    // Again, all three: nothing is added, everything is a duplicate, the vault is as it was.
    for (format, file) in [(runs_mapping(), "runs.csv"), (Format::Gpx, "easy.gpx"), (Format::Gpx, "long.gpx")] {
        let again = import(&person, &format, file, &example(&format!("runner/{file}"))).await.unwrap();
        assert_eq!((again.counts.added, again.counts.updated), (0, 0), "{file} again: {again:?}");
        assert_eq!(again.counts.duplicates, again.entries, "{file} again");
    }
    assert_eq!(vault(&person).await, vault_now);
    // The control: the same track run a day later is another run, and counts.
    let next_day = String::from_utf8(example("runner/long.gpx")).unwrap().replace("2026-11-30T", "2026-12-01T");
    let again = import(&person, &Format::Gpx, "long.gpx", next_day.as_bytes()).await.unwrap();
    assert_eq!(again.counts.added, 2, "a new run is not a duplicate");
    assert!(holds(&vault(&person).await, KM, "sum tagged pegasus-41 > 719.5"));

    let ride = import(&person, &Format::Tcx, "ride.tcx", &example("runner/ride.tcx")).await.unwrap();
    assert_eq!(ride.counts.added, 2);
    let vault_now = vault(&person).await;
    assert_eq!(series(&vault_now, "activity.cycling.distance_km")[0].1, 24.5, "the laps add up");
    assert_eq!(series(&vault_now, "activity.cycling.duration_min")[0].1, 75.0);
    assert!(holds(&vault_now, KM, "sum tagged pegasus-41 < 719.7"), "a ride is not a run");
}

#[tokio::test]
async fn health_records_land_typed_with_units_converted() {
    let person = start(Role::Person, 32).await;
    let bundle = import(&person, &Format::Fhir, "bundle.json", &example("health/bundle.json")).await.unwrap();
    assert!(bundle.rejected.is_empty(), "{:?}", bundle.rejected);
    assert_eq!(bundle.skipped, 1, "the refuted asthma");
    let records = vault(&person).await;
    let hba1c = series(&records, "health.lab.hba1c_percent");
    let values: Vec<f64> = hba1c.iter().map(|p| (p.1 * 100.0).round() / 100.0).collect();
    assert_eq!(values, [6.1, 7.0, 6.3], "53 mmol/mol (IFCC) is 7.0 % (NGSP)");
    let glucose = series(&records, "health.lab.glucose_mmol_l")[0].1;
    assert!((glucose - 131.0 / 18.0156).abs() < 1e-9, "mg/dL to mmol/L: {glucose}");
    assert_eq!(series(&records, "health.vitals.bp_systolic_mmhg")[0].1, 138.0, "a panel's components");
    assert_eq!(series(&records, "health.vitals.bp_diastolic_mmhg")[0].1, 86.0);
    assert_eq!(records["profile.birthdate"].0, Value::Date(Date::new(1972, 5, 14).unwrap()));
    let Value::Codes(conditions) = &records["health.conditions"].0 else { panic!("codes") };
    assert_eq!(conditions.iter().map(String::as_str).collect::<Vec<_>>(), ["icd10|E11.9", "sct|44054006"]);
    assert!(holds(&records, "health.medications", "has rxnorm|860975"));
    assert!(holds(&records, "health.immunizations", "has cvx|208"));
    let Provenance::Import(source) = &records["health.lab.hba1c_percent"].1 else { panic!("provenance") };
    assert_eq!(source.original_id.as_deref(), Some("hba1c-3"), "the latest entry's own id");

    let again = import(&person, &Format::Fhir, "bundle.json", &example("health/bundle.json")).await.unwrap();
    assert_eq!((again.counts.added, again.counts.updated), (0, 0), "{again:?}");
    assert_eq!(vault(&person).await, records);

    let apple = import(&person, &Format::AppleHealth, "export.xml", &example("health/export.xml")).await.unwrap();
    assert!(apple.rejected.is_empty(), "{:?}", apple.rejected);
    assert_eq!(apple.skipped, 3, "three nights of sleep: a type the vault does not keep");
    let records = vault(&person).await;
    let steps = series(&records, "activity.steps");
    assert_eq!(steps.len(), 6, "a point a day per source: phone and watch, three days");
    assert!(steps.iter().all(|(_, v, _)| *v > 1000.0), "a day's hourly counts are summed: {steps:?}");
    let tags: std::collections::BTreeSet<_> = steps.iter().map(|p| p.2.clone().unwrap()).collect();
    assert_eq!(tags.into_iter().collect::<Vec<_>>(), ["alex-s-apple-watch", "alex-s-iphone"]);
    assert_eq!(series(&records, "health.vitals.heart_rate_bpm").len(), 3, "a day's heart rate is its mean");
    assert_eq!(series(&records, KM).len(), 1, "one running workout in three days");
    let weights = series(&records, "body.weight_kg");
    assert_eq!(weights.len(), 4, "three mornings on the scale and the clinic's one");
    let again = import(&person, &Format::AppleHealth, "export.xml", &example("health/export.xml")).await.unwrap();
    assert_eq!((again.counts.added, again.counts.updated), (0, 0), "{again:?}");

    let card = import(&person, &Format::Vcard, "me.vcf", &example("health/me.vcf")).await.unwrap();
    assert!(card.rejected.is_empty(), "{:?}", card.rejected);
    let records = vault(&person).await;
    assert_eq!(records["profile.email"].0, Value::Text("alex@example.org".into()));
    assert_eq!(records["profile.name"].0, Value::Text("Alex Example".into()));
    assert_eq!(card.counts.duplicates, 2, "the card's name and birthday are the ones the clinic has");
}

#[tokio::test]
async fn a_malformed_file_is_refused_with_its_position_and_changes_nothing() {
    let person = start(Role::Person, 33).await;
    import(&person, &Format::Gpx, "easy.gpx", &example("runner/easy.gpx")).await.unwrap();
    let before = vault(&person).await;

    let long = example("runner/long.gpx");
    let truncated = &long[..long.len() / 2];
    let error = import(&person, &Format::Gpx, "long.gpx", truncated).await.unwrap_err();
    assert!(error.position.starts_with("line "), "{error}");
    let line: usize = error.position["line ".len()..].parse().unwrap();
    let lines = truncated.iter().filter(|b| **b == b'\n').count();
    assert!(line >= lines && line <= lines + 1, "{error}: the file ends at line {lines}");

    let bundle = String::from_utf8(example("health/bundle.json")).unwrap();
    let broken = bundle.replacen("\"status\": \"final\",", "\"status\": \"final\" \"oops\",", 1);
    let error = import(&person, &Format::Fhir, "bundle.json", broken.as_bytes()).await.unwrap_err();
    assert!(error.position.starts_with("line ") && error.position.contains(" column "), "{error}");

    let not_a_bundle = br#"{"resourceType": "Patient", "id": "x"}"#;
    let error = import(&person, &Format::Fhir, "patient.json", not_a_bundle).await.unwrap_err();
    assert!(error.reason.contains("not \"Bundle\""), "{error}");
    let error = import(&person, &Format::AppleHealth, "export.xml", &example("runner/easy.gpx")).await.unwrap_err();
    assert!(error.reason.contains("not an Apple Health export"), "{error}");
    let error = import(&person, &Format::Gpx, "x.gpx", b"<gpx><trk><name>a</trk></gpx>").await.unwrap_err();
    assert!(error.position.starts_with("line 1"), "mismatched tags: {error}");

    assert_eq!(vault(&person).await, before, "nothing of a refused file is stored");
}

#[tokio::test]
async fn an_unusable_entry_is_rejected_alone_with_its_reason() {
    let person = start(Role::Person, 34).await;
    let gpx = String::from_utf8(example("runner/long.gpx")).unwrap();
    // A second track whose third point has no longitude.
    let track_start = gpx.find("  <trk>").unwrap();
    let track_end = gpx.find("</trk>").unwrap() + "</trk>\n".len();
    let broken_track = gpx[track_start..track_end].replacen("lon=\"", "lon_=\"", 3).replace("08:", "10:");
    let two = format!("{}{}{}", &gpx[..track_end], broken_track, &gpx[track_end..]);
    let report = import(&person, &Format::Gpx, "two.gpx", two.as_bytes()).await.unwrap();
    assert_eq!(report.rejected.len(), 1, "{:?}", report.rejected);
    assert!(report.rejected[0].reason.contains("without a valid lat/lon"), "{:?}", report.rejected);
    assert!(report.rejected[0].position.starts_with("line "));
    assert_eq!(report.counts.added, 2, "the good track is imported");

    let csv = "date,shoe,distance_km,minutes\n2026-11-01,Pegasus 41,10.0,55\nlast tuesday,Pegasus 41,5,30\n\
               2026-11-03,Pegasus 41,ten,60\n2026-11-04,Pegasus 41,,\n";
    let report = import(&person, &runs_mapping(), "runs.csv", csv.as_bytes()).await.unwrap();
    let rejected: Vec<(&str, &str)> =
        report.rejected.iter().map(|r| (r.position.as_str(), r.reason.as_str())).collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert_eq!(rejected[0].0, "line 3");
    assert!(rejected[0].1.contains("not a date or time"));
    assert_eq!(rejected[1].0, "line 4");
    assert!(rejected[1].1.contains("\"ten\" is not a number"));
    assert_eq!(report.counts.added, 3, "line 2's distance and minutes, line 4's minutes; line 5 is empty");

    let bundle = br#"{"resourceType": "Bundle", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final",
          "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
          "effectiveDateTime": "2026-11-01", "valueQuantity": {"value": 6.8, "code": "mg/dL"}}},
        {"resource": {"resourceType": "Observation", "status": "final",
          "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
          "effectiveDateTime": "2026-11-02", "valueQuantity": {"value": 6.8, "code": "%"}}}]}"#;
    let report = import(&person, &Format::Fhir, "labs.json", bundle).await.unwrap();
    assert_eq!(report.rejected.len(), 1, "{:?}", report.rejected);
    assert_eq!(report.rejected[0].position, "entry 1");
    assert!(
        report.rejected[0].reason.contains("\"mg/dL\""),
        "an HbA1c in mg/dL is not converted: {:?}",
        report.rejected
    );
    assert_eq!(report.counts.added, 1);
    assert_eq!(report.repeated, 0);
}
