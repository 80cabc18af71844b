//! The sample files under `examples/`: generated here, for no real person, so that they can be
//! made again (and checked: `tests/tests/examples.rs` fails when a committed file differs from
//! what this module makes for [`ANCHOR`]). Dates are relative to a "today": the committed files
//! use [`ANCHOR`]; a test or demo whose question is relative to the real clock ("in the last 12
//! months") makes them for the real today with `me2b-examples --today`.
//!
//! The runner: `runs.csv` is a year of runs, 690.4 km of them in the Pegasus 41 and a few in
//! trail shoes; `easy.gpx` adds 5.0 km in the Pegasus (695.4 km), `long.gpx` 12.1 km more
//! (707.5 km): the run that crosses 700 km. `ride.tcx` is a bike ride (no shoe).
//!
//! The health records: `bundle.json` is a FHIR R4 Bundle of a person aged 54 with three HbA1c
//! results (6.1 % 500 days ago, 53 mmol/mol = 7.0 % 120 days ago, 6.3 % 30 days ago), blood
//! pressure, weight, glucose in mg/dL, an active and a refuted condition, a medication and an
//! immunisation; `export.xml` is a small Apple Health export (steps from a phone and a watch,
//! heart rate, weight, a running workout); `me.vcf` is the person's contact card.

use me2b_proto::time::Date;
use std::fmt::Write as _;

/// The "today" of the committed files.
pub const ANCHOR: (i32, u32, u32) = (2026, 12, 1);

/// The committed files' today.
pub fn anchor() -> Date {
    Date::new(ANCHOR.0, ANCHOR.1, ANCHOR.2).expect("a valid anchor date")
}

/// Every sample file, by its path under `examples/`, as of `today`.
pub fn files(today: Date) -> Vec<(&'static str, String)> {
    vec![
        ("runner/runs.csv", runs_csv(today)),
        ("runner/easy.gpx", gpx(today.plus(-4), "07:05:00Z", "Easy run", 5.0, 5.9)),
        ("runner/long.gpx", gpx(today.plus(-1), "08:30:00+01:00", "Sunday long run", 12.1, 5.5)),
        ("runner/ride.tcx", ride_tcx(today.plus(-2))),
        ("health/bundle.json", fhir_bundle(today)),
        ("health/export.xml", apple_export(today, 3)),
        ("health/me.vcf", vcard(today)),
    ]
}

/// Kilometres of the Pegasus 41 runs in `runs.csv`.
pub const CSV_PEGASUS_KM: f64 = 690.4;
/// The shoe's tag in the vault, as the importers make it of "Pegasus 41".
pub const PEGASUS_TAG: &str = "pegasus-41";

trait Days {
    fn plus(self, days: i64) -> Date;
}

impl Days for Date {
    fn plus(self, days: i64) -> Date {
        Date::from_days_since_epoch(self.days_since_epoch() + days)
    }
}

/// A deterministic sequence of small variations (a linear congruential generator).
struct Wobble(u64);

impl Wobble {
    /// A number in `[-1, 1)`.
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

fn runs_csv(today: Date) -> String {
    // Ten kilometres less a cycle's worth: nine cycles of these plus 8.2 and 7.2 is 690.4 km.
    const CYCLE: [f64; 8] = [8.2, 10.5, 6.4, 12.1, 5.8, 15.3, 9.7, 7.0];
    let mut distances: Vec<f64> = CYCLE.iter().copied().cycle().take(CYCLE.len() * 9).collect();
    distances.extend([8.2, 7.2]);
    let mut wobble = Wobble(41);
    let mut csv = String::from("date,shoe,distance_km,minutes,notes\n");
    let first = today.plus(-6 - 3 * distances.len() as i64);
    for (i, km) in distances.iter().enumerate() {
        let day = first.plus(3 * i as i64);
        let minutes = km * (5.6 + 0.3 * wobble.next());
        let note = if i % 9 == 4 { "\"hilly, felt good\"" } else { "" };
        writeln!(csv, "{day},Pegasus 41,{km:.1},{minutes:.1},{note}").expect("a string");
        if i % 10 == 7 {
            let trail = 14.0 + 4.0 * wobble.next();
            writeln!(csv, "{},Trail X,{trail:.1},{:.1},trail", day.plus(1), trail * 7.1).expect("a string");
        }
    }
    csv
}

/// A loop of `km` around a park (the path is a circle; its length is `km` within metres),
/// at `pace` min/km, starting on `day` at `start` (a time with its offset). Every tenth point
/// has no elevation, as in real recordings.
fn gpx(day: Date, start: &str, name: &str, km: f64, pace: f64) -> String {
    const POINTS: usize = 600;
    let (lat0, lon0) = (48.2082_f64, 16.4049_f64);
    let radius_km = km / std::f64::consts::TAU;
    let started = day.start().expect("a day after 1970").as_millis() / 1000;
    let hms: Vec<u64> = start[..8].split(':').map(|p| p.parse().expect("HH:MM:SS")).collect();
    let zone = &start[8..];
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <gpx version=\"1.1\" creator=\"me2b-examples\" xmlns=\"http://www.topografix.com/GPX/1/1\">\n",
    );
    writeln!(xml, "  <trk>\n    <name>{name}</name>\n    <type>running</type>").expect("a string");
    xml.push_str("    <extensions><gear>Pegasus 41</gear></extensions>\n    <trkseg>\n");
    let mut wobble = Wobble(km.to_bits());
    for i in 0..=POINTS {
        let angle = std::f64::consts::TAU * i as f64 / POINTS as f64;
        let lat = lat0 + (radius_km * angle.sin()) / 111.195;
        let lon = lon0 + (radius_km * (1.0 - angle.cos())) / (111.195 * lat0.to_radians().cos());
        let seconds = (km * pace * 60.0 * i as f64 / POINTS as f64).round() as u64;
        let local = started as i64 + (hms[0] * 3600 + hms[1] * 60 + hms[2] + seconds) as i64;
        let time = clock(local, zone);
        let ele = if i % 10 == 9 { String::new() } else { format!("<ele>{:.1}</ele>", 160.0 + 4.0 * wobble.next()) };
        writeln!(xml, "      <trkpt lat=\"{lat:.6}\" lon=\"{lon:.6}\">{ele}<time>{time}</time></trkpt>")
            .expect("a string");
    }
    xml.push_str("    </trkseg>\n  </trk>\n</gpx>\n");
    xml
}

/// `YYYY-MM-DDTHH:MM:SS` and `zone` for `local` seconds (local wall-clock time since the epoch).
fn clock(local: i64, zone: &str) -> String {
    let day = Date::from_days_since_epoch(local.div_euclid(86_400));
    let s = local.rem_euclid(86_400);
    format!("{day}T{:02}:{:02}:{:02}{zone}", s / 3600, s / 60 % 60, s % 60)
}

fn ride_tcx(day: Date) -> String {
    let id = format!("{day}T15:00:00Z");
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <TrainingCenterDatabase xmlns=\"http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2\">\n\
         \x20 <Activities>\n\
         \x20   <Activity Sport=\"Biking\">\n\
         \x20     <Id>{id}</Id>\n\
         \x20     <Lap StartTime=\"{id}\"><TotalTimeSeconds>2700</TotalTimeSeconds><DistanceMeters>15000</DistanceMeters></Lap>\n\
         \x20     <Lap StartTime=\"{day}T15:45:00Z\"><TotalTimeSeconds>1800</TotalTimeSeconds><DistanceMeters>9500</DistanceMeters></Lap>\n\
         \x20   </Activity>\n\
         \x20 </Activities>\n\
         </TrainingCenterDatabase>\n"
    )
}

/// The person's birth date: 54 years old on `today`.
pub fn birth_date(today: Date) -> String {
    format!("{}-05-14", today.year() - 54 - i32::from((today.month(), today.day()) < (5, 14)))
}

fn coding(system: &str, code: &str, display: &str) -> serde_json::Value {
    serde_json::json!({"coding": [{"system": system, "code": code, "display": display}]})
}

fn fhir_bundle(today: Date) -> String {
    use serde_json::json;
    const LOINC: &str = "http://loinc.org";
    const UCUM: &str = "http://unitsofmeasure.org";
    let at = |days: i64| format!("{}T09:15:00+01:00", today.plus(-days));
    let quantity = |value: f64, unit: &str| json!({"value": value, "unit": unit, "system": UCUM, "code": unit});
    let observation = |id: &str, days: i64, code: &str, name: &str, value: f64, unit: &str| {
        json!({"fullUrl": format!("urn:uuid:{id}"), "resource": {
            "resourceType": "Observation", "id": id, "status": "final",
            "code": coding(LOINC, code, name), "subject": {"reference": "urn:uuid:patient-1"},
            "effectiveDateTime": at(days), "valueQuantity": quantity(value, unit)}})
    };
    let birth = birth_date(today);
    let entries = vec![
        json!({"fullUrl": "urn:uuid:patient-1", "resource": {
            "resourceType": "Patient", "id": "patient-1", "gender": "female", "birthDate": birth,
            "name": [{"given": ["Alex"], "family": "Example"}]}}),
        observation("hba1c-1", 500, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", 6.1, "%"),
        observation(
            "hba1c-2",
            120,
            "59261-8",
            "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol",
            53.0,
            "mmol/mol",
        ),
        observation("hba1c-3", 30, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", 6.3, "%"),
        observation("weight-1", 30, "29463-7", "Body weight", 81.5, "kg"),
        observation("glucose-1", 30, "2345-7", "Glucose [Mass/volume] in Serum or Plasma", 131.0, "mg/dL"),
        json!({"fullUrl": "urn:uuid:bp-1", "resource": {
            "resourceType": "Observation", "id": "bp-1", "status": "final",
            "code": coding(LOINC, "85354-9", "Blood pressure panel"), "effectiveDateTime": at(30),
            "component": [
                {"code": coding(LOINC, "8480-6", "Systolic blood pressure"), "valueQuantity": quantity(138.0, "mm[Hg]")},
                {"code": coding(LOINC, "8462-4", "Diastolic blood pressure"), "valueQuantity": quantity(86.0, "mm[Hg]")}]}}),
        json!({"fullUrl": "urn:uuid:condition-1", "resource": {
            "resourceType": "Condition", "id": "condition-1",
            "clinicalStatus": coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
            "verificationStatus": coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"),
            "code": {"coding": [
                {"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes mellitus type 2"},
                {"system": "http://hl7.org/fhir/sid/icd-10", "code": "E11.9", "display": "Type 2 diabetes mellitus without complications"}]},
            "onsetDateTime": at(120)}}),
        json!({"fullUrl": "urn:uuid:condition-2", "resource": {
            "resourceType": "Condition", "id": "condition-2",
            "verificationStatus": coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", "refuted", "Refuted"),
            "code": coding("http://snomed.info/sct", "195967001", "Asthma")}}),
        json!({"fullUrl": "urn:uuid:medication-1", "resource": {
            "resourceType": "MedicationStatement", "id": "medication-1", "status": "active",
            "medicationCodeableConcept": coding("http://www.nlm.nih.gov/research/umls/rxnorm", "860975", "metformin 500 MG"),
            "subject": {"reference": "urn:uuid:patient-1"}}}),
        json!({"fullUrl": "urn:uuid:immunization-1", "resource": {
            "resourceType": "Immunization", "id": "immunization-1", "status": "completed",
            "vaccineCode": coding("http://hl7.org/fhir/sid/cvx", "208", "COVID-19, mRNA, 30 mcg/0.3 mL"),
            "occurrenceDateTime": at(400)}}),
    ];
    let bundle =
        json!({"resourceType": "Bundle", "id": "example-health-records", "type": "collection", "entry": entries});
    serde_json::to_string_pretty(&bundle).expect("JSON") + "\n"
}

/// An Apple Health export of `days` days: steps from the phone and the watch each hour from
/// 7 to 21, a heart rate every 10 minutes from 7 to 21, a weight each morning, a run every
/// other day, a night of sleep (a type the vault does not keep). About 31 KiB a day.
pub fn apple_export(today: Date, days: i64) -> String {
    let mut xml = String::new();
    apple_export_into(today, days, &mut xml);
    xml
}

/// [`apple_export`], appended to `xml` day by day through `write`, for files larger than
/// memory should hold.
pub fn apple_export_into(today: Date, days: i64, out: &mut impl std::fmt::Write) {
    let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE HealthData [\n<!ATTLIST HealthData locale CDATA #REQUIRED>\n]>\n\
                <HealthData locale=\"en_AT\">\n <ExportDate value=\"";
    let _ = writeln!(out, "{head}{today} 20:00:00 +0100\"/>");
    let _ = writeln!(
        out,
        " <Me HKCharacteristicTypeIdentifierDateOfBirth=\"{}\" HKCharacteristicTypeIdentifierBiologicalSex=\"HKBiologicalSexFemale\"/>",
        birth_date(today)
    );
    let mut wobble = Wobble(7);
    for d in (1..=days).rev() {
        let day = today.plus(-d);
        for hour in 7..=21 {
            for (source, share) in [("Alex’s iPhone", 0.6), ("Alex’s Apple Watch", 0.4)] {
                let steps = (400.0 * share * (1.0 + 0.5 * wobble.next())).round();
                let _ = writeln!(
                    out,
                    " <Record type=\"HKQuantityTypeIdentifierStepCount\" sourceName=\"{source}\" unit=\"count\" \
                     creationDate=\"{day} {hour:02}:59:00 +0100\" startDate=\"{day} {hour:02}:00:00 +0100\" \
                     endDate=\"{day} {hour:02}:59:00 +0100\" value=\"{steps}\"/>"
                );
            }
            for minute in (0..60).step_by(10) {
                let bpm = (72.0 + 8.0 * wobble.next()).round();
                let _ = writeln!(
                    out,
                    " <Record type=\"HKQuantityTypeIdentifierHeartRate\" sourceName=\"Alex’s Apple Watch\" unit=\"count/min\" \
                     startDate=\"{day} {hour:02}:{minute:02}:00 +0100\" endDate=\"{day} {hour:02}:{minute:02}:00 +0100\" value=\"{bpm}\">\n  \
                     <MetadataEntry key=\"HKMetadataKeyHeartRateMotionContext\" value=\"0\"/>\n </Record>"
                );
            }
        }
        let kg = 81.5 + 0.4 * wobble.next();
        let _ = writeln!(
            out,
            " <Record type=\"HKQuantityTypeIdentifierBodyMass\" sourceName=\"Scale\" unit=\"kg\" \
             startDate=\"{day} 06:45:00 +0100\" endDate=\"{day} 06:45:00 +0100\" value=\"{kg:.1}\"/>"
        );
        if d % 2 == 0 {
            let km = 8.0 + 2.0 * wobble.next();
            let _ = writeln!(
                out,
                " <Workout workoutActivityType=\"HKWorkoutActivityTypeRunning\" duration=\"{:.1}\" durationUnit=\"min\" \
                 sourceName=\"Alex’s Apple Watch\" startDate=\"{day} 18:00:00 +0100\" endDate=\"{day} 18:50:00 +0100\">\n  \
                 <WorkoutStatistics type=\"HKQuantityTypeIdentifierDistanceWalkingRunning\" startDate=\"{day} 18:00:00 +0100\" \
                 endDate=\"{day} 18:50:00 +0100\" sum=\"{km:.2}\" unit=\"km\"/>\n </Workout>",
                km * 5.8
            );
        }
        // An unknown type: counted as skipped.
        let _ = writeln!(
            out,
            " <Record type=\"HKCategoryTypeIdentifierSleepAnalysis\" sourceName=\"Alex’s Apple Watch\" \
             startDate=\"{day} 23:10:00 +0100\" endDate=\"{} 06:30:00 +0100\" value=\"HKCategoryValueSleepAnalysisAsleepCore\"/>",
            day.plus(1)
        );
    }
    let _ = writeln!(out, "</HealthData>");
}

fn vcard(today: Date) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Alex Example\r\nN:Example;Alex;;;\r\nEMAIL;TYPE=home:alex@example.org\r\n\
         TEL;TYPE=cell:+43 660 0000000\r\nADR;TYPE=home:;;Beispielgasse 1;Wien;;1020;Austria\r\nBDAY:{}\r\nEND:VCARD\r\n",
        birth_date(today).replace('-', "")
    )
}
