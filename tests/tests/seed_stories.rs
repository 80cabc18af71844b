//! The two seed stories across real processes, with the sample files of `examples/` imported
//! through `me2b data import`:
//!
//! 1. B2One: a runner's activity log, tagged by shoe, feeds a trigger agreement "tell me when
//!    the Pegasus 41 passes 700 km". The run that crosses 700 km fires exactly one event; the
//!    shop learns that event and nothing else, and may push one offer.
//! 2. C2B2B: a person's FHIR records answer a study's "HbA1c above 6.5 % in the last 12 months"
//!    and "aged 40 to 64" as yes/no facts; the observations never leave the person's node.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use me2b_tests::*;
use serde_json::json;

const TRIGGER: &str = "trigger:activity.running.distance_km:sum tagged pegasus-41 >= 700:replacement-due";

/// Whether `text` holds `secret` as a value, not by chance inside a longer run of letters and
/// digits (a peer id or a signature in base58 holds `E11` one time in a few hundred): where
/// the secret begins or ends with a letter or digit, the text must not continue the run there.
fn holds(text: &str, secret: &str) -> bool {
    let alphanumeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    text.match_indices(secret).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + secret.len()..].chars().next();
        let open_left = !alphanumeric(secret.chars().next()) || !alphanumeric(before);
        let open_right = !alphanumeric(secret.chars().next_back()) || !alphanumeric(after);
        open_left && open_right
    })
}

#[test]
fn a_value_is_found_whole_and_not_inside_an_identifier() {
    assert!(holds(r#"{"code": "icd10|E11"}"#, "E11"));
    assert!(holds("born 1972-05-14", "-05-14"));
    assert!(holds("7.00 %", "7.00"));
    assert!(!holds("12D3KooWE11xyz", "E11"), "inside a peer id");
    assert!(!holds("15.03", "5.0"), "inside another number");
}

fn ledger_kinds(node: &Node, kind: &str) -> usize {
    node.json(&["ledger"]).as_array().unwrap().iter().filter(|e| e["kind"] == kind).count()
}

/// Writes a policy document into the node's data directory and sets it.
fn set_policy(node: &Node, toml: &str) {
    let file = node.dir.path().join("policy.toml");
    std::fs::write(&file, toml).unwrap();
    node.ok(&["policy", "set", file.to_str().unwrap()]);
}

fn import(node: &Node, file: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["data", "import", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    node.json(&args)
}

#[test]
fn the_run_that_crosses_700_km_tells_the_shop_once_and_nothing_else() {
    let mut shop = Node::init("business", "Stride", "127.0.0.61");
    shop.start(&[]);
    let mut runner = Node::init("person", "Ada", "127.0.0.62");
    runner.start(&[shop.address()]);
    runner.ok(&["subscribe", "apparel.shoes"]);
    // The runner lets shops ask about their activity, and be told once a month at most.
    set_policy(
        &runner,
        "max_retention = \"90d\"\nmax_contact = \"1/30d\"\n\n[[rules]]\npath = \"activity\"\nshare = \"raw\"\n\
         purposes = [\"personalised-offers\"]\nask_owner = true\n",
    );
    shop.wait_event("peer-subscribed", |e| e["topic"] == "me2b/v1/requests/apparel.shoes");

    // A year of runs from a spreadsheet, in the human form of the CLI.
    let map = "distance_km=activity.running.distance_km,minutes=activity.running.duration_min";
    let runs = example("runner/runs.csv");
    let said = runner.ok(&[
        "data",
        "import",
        runs.to_str().unwrap(),
        "--map",
        map,
        "--time-column",
        "date",
        "--tag-column",
        "shoe",
    ]);
    assert!(said.contains("imported runs.csv (csv): 162 entries; 162 added, 0 updated, 0 duplicates"), "{said}");

    shop.ok(&[
        "campaign",
        "publish",
        "--category",
        "apparel.shoes",
        "--field",
        "activity.running.distance_km",
        "--purpose",
        "personalised-offers",
        "--retention",
        "90d",
        "--use",
        TRIGGER,
        "--contact",
        "1/30d",
        "--description",
        "We tell you when your Pegasus 41 is worn out",
    ]);
    let pending = runner.wait_event("awaiting-owner", |_| true);
    runner.ok(&["approve", pending["negotiation_id"].as_str().unwrap()]);
    let finalized = shop.wait_event("agreement-finalized", |_| true);
    let agreement = finalized["agreement_id"].as_str().unwrap().to_owned();
    assert_eq!(runner.json(&["agreements", "show", &agreement])["state"], "ACTIVE");

    // 695.4 km: below the threshold, nothing is sent.
    let easy = import(&runner, &example("runner/easy.gpx"), &[]);
    assert_eq!((easy["format"].as_str(), easy["added"].as_u64()), (Some("gpx"), Some(2)));
    assert_eq!(ledger_kinds(&runner, "DataSent"), 0, "690.4 + 5.0 km does not fire");

    // 707.5 km: this import fires the trigger, once.
    import(&runner, &example("runner/long.gpx"), &[]);
    let received = shop.wait_event("data-received", |e| e["agreement_id"] == agreement.as_str());
    assert_eq!(received["fields"], json!(["activity.running.distance_km"]));
    assert_eq!(ledger_kinds(&runner, "DataSent"), 1);

    // Importing it again adds nothing; a later run keeps the sum above 700 km but the trigger
    // has fired: nothing more is sent.
    let again = import(&runner, &example("runner/long.gpx"), &[]);
    assert_eq!((again["added"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(2)), "{again}");
    let later = runner.dir.path().join("later.gpx");
    let text = std::fs::read_to_string(example("runner/long.gpx")).unwrap().replace("2026-11-30T", "2026-12-01T");
    std::fs::write(&later, text).unwrap();
    assert_eq!(import(&runner, &later, &[])["added"], 2);
    assert_eq!(ledger_kinds(&runner, "DataSent"), 1, "the trigger fires once");

    // The shop holds the event and nothing else: no distance, no run, no other shoe, no file.
    let held = shop.json(&["received"]);
    let items = held[0]["items"].as_object().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items["activity.running.distance_km"]["event"], "replacement-due");
    let export = shop.ok(&["export"]);
    for secret in ["707.", "690.4", "12.1", "5.0", "Trail", "trail-x", "runs.csv", "long.gpx"] {
        assert!(!holds(&export, secret), "the shop's node holds `{secret}`");
    }

    // One offer within the contact permission; a second is refused.
    let offer =
        ["offer", "send", "--agreement", &agreement, "--description", "Pegasus 42, your size", "--price", "99 EUR"];
    shop.ok(&offer);
    runner.wait_event("offer-received", |e| e["agreement_id"] == agreement.as_str());
    let refused = shop.fails(&offer);
    assert!(refused.contains("contact"), "{refused}");
    assert_eq!(runner.json(&["offers"]).as_array().unwrap().len(), 1);
}

#[test]
fn a_study_learns_yes_or_no_from_health_records_and_never_the_records() {
    // The study asks about the last 12 months of the real clock: the records are made for today.
    let person_dir = tempfile::tempdir().unwrap();
    let today = me2b_proto::time::Date::of(me2b_proto::time::Timestamp::from_millis(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64,
    ));
    for (path, content) in me2b_tests::examples::files(today) {
        if let Some(name) = path.strip_prefix("health/") {
            std::fs::write(person_dir.path().join(name), content).unwrap();
        }
    }
    let mut study = Node::init("business", "Vienna Diabetes Study", "127.0.0.63");
    study.start(&[]);
    let mut person = Node::init("person", "Alex", "127.0.0.64");
    person.start(&[study.address()]);
    person.ok(&["subscribe", "health.research"]);
    // Health records and the birth date answer research questions as derived facts only.
    let rule =
        |path: &str| format!("[[rules]]\npath = \"{path}\"\nshare = \"derived-only\"\npurposes = [\"research\"]\n");
    set_policy(&person, &format!("max_retention = \"365d\"\n\n{}\n{}", rule("health"), rule("profile")));
    study.wait_event("peer-subscribed", |e| e["topic"] == "me2b/v1/requests/health.research");

    let report = import(&person, &person_dir.path().join("bundle.json"), &[]);
    assert_eq!(report["format"], "fhir", "a .json file with a resourceType is a FHIR bundle");
    assert_eq!(report["rejected_count"], 0, "{report}");

    study.ok(&[
        "campaign",
        "publish",
        "--category",
        "health.research",
        "--field",
        "health.lab.hba1c_percent:max in last 365d > 6.5",
        "--field",
        "profile.birthdate:age in 40..=64",
        "--purpose",
        "research",
        "--retention",
        "365d",
        "--description",
        "Glycaemic control in people aged 40 to 64",
    ]);
    let pending = person.wait_event("awaiting-owner", |_| true);
    let shown = person.json(&["pending"]);
    let fields = &shown[0]["terms"]["fields"];
    assert_eq!(fields, &json!(["health.lab.hba1c_percent:max in last 365d > 6.5", "profile.birthdate:age in 40..=64"]));
    person.ok(&["approve", pending["negotiation_id"].as_str().unwrap()]);
    study.wait_event("data-received", |_| true);

    let held = study.json(&["received"]);
    let items = held[0]["items"].as_object().unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items["health.lab.hba1c_percent"]["holds"], true, "7.0 % 120 days ago");
    assert_eq!(items["profile.birthdate"]["holds"], true, "54 years old");
    let export = study.ok(&["export"]);
    for secret in
        ["6.1", "7.00", "6.3", "53.0", "mmol", "4548-4", "44054006", "E11", "-05-14", "Alex", "rxnorm", "bundle.json"]
    {
        assert!(!holds(&export, secret), "the study's node holds `{secret}`");
    }
    // The person's node still has every observation.
    let hba1c = person.json(&["data", "get", "health.lab.hba1c_percent"]);
    assert_eq!(hba1c["value"].as_array().map(Vec::len), Some(3), "{hba1c}");
    assert!(hba1c["provenance"].as_str().unwrap().starts_with("import:fhir:bundle.json"), "{hba1c}");
}
