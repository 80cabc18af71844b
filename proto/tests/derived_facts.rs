//! A derived fact reveals its answer and nothing else: whatever two vaults hold, if the
//! predicate gives them the same answer, the bytes that leave the node are the same.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use me2b_proto::identity::Digest;
use me2b_proto::messages::{DataItem, DataPackage, ItemContent};
use me2b_proto::predicate::Predicate;
use me2b_proto::terms::Disclosure;
use me2b_proto::time::{Date, Timestamp};
use me2b_proto::value::{Point, Value};
use me2b_proto::wire;
use proptest::prelude::*;
use prost::Message as _;

const DAY_MS: u64 = 86_400_000;
const NOW: Timestamp = Timestamp::from_millis(20_600 * DAY_MS);

fn series() -> impl Strategy<Value = Value> {
    let point = (20_000u64..20_700, 0.0f64..50.0, proptest::option::of(prop_oneof!["pegasus-41", "trail"]));
    proptest::collection::vec(point, 0..40).prop_map(|points| {
        let mut points: Vec<Point> = points
            .into_iter()
            .map(|(day, km, tag)| Point { at: Timestamp::from_millis(day * DAY_MS), value: km, tag })
            .collect();
        points.sort_by_key(|p| p.at);
        Value::Series(points)
    })
}

fn birth_date() -> impl Strategy<Value = Value> {
    (-20_000i64..20_000).prop_map(|days| Value::Date(Date::from_days_since_epoch(days)))
}

fn codes() -> impl Strategy<Value = Value> {
    proptest::collection::btree_set(prop_oneof!["sct|44054006", "sct|38341003", "icd10|E11.9", "loinc|4548-4"], 0..4)
        .prop_map(Value::Codes)
}

/// What leaves the node: the encoded item.
fn sent(predicate: &Predicate, value: &Value) -> Vec<u8> {
    let content = ItemContent::disclose(&Disclosure::Derived(predicate.clone()), value, NOW).unwrap();
    encode(content)
}

fn encode(content: ItemContent) -> Vec<u8> {
    let item = DataItem { path: "health.x".parse().unwrap(), content };
    let package = DataPackage { agreement_id: Digest::of(b"agreement"), sequence: 1, items: vec![item] };
    wire::DataPackage::from(&package).encode_to_vec()
}

fn same_answer_same_bytes(predicate: &str, a: &Value, b: &Value) -> Result<(), TestCaseError> {
    let predicate: Predicate = predicate.parse().unwrap();
    let (answer_a, answer_b) = (predicate.evaluate(a, NOW).unwrap(), predicate.evaluate(b, NOW).unwrap());
    prop_assert_eq!(answer_a == answer_b, sent(&predicate, a) == sent(&predicate, b));
    Ok(())
}

proptest! {
    #[test]
    fn aggregates_reveal_only_their_answer(a in series(), b in series()) {
        for predicate in ["sum tagged pegasus-41 >= 700", "max in last 365d > 30", "count since 2026-01-01 >= 5", "mean < 20"] {
            same_answer_same_bytes(predicate, &a, &b)?;
        }
    }

    #[test]
    fn ages_reveal_only_their_answer(a in birth_date(), b in birth_date()) {
        for predicate in ["age >= 18", "age in 40..=64"] {
            same_answer_same_bytes(predicate, &a, &b)?;
        }
    }

    #[test]
    fn codes_reveal_only_their_answer(a in codes(), b in codes()) {
        same_answer_same_bytes("has sct|44054006", &a, &b)?;
    }
}

/// The negative control: a raw disclosure of the same values differs whenever they do.
#[test]
fn a_raw_disclosure_of_different_values_differs() {
    let a = Value::Series(vec![Point::tagged(NOW, 710.0, "pegasus-41")]);
    let b = Value::Series(vec![Point::tagged(NOW, 720.0, "pegasus-41")]);
    let predicate: Predicate = "sum tagged pegasus-41 >= 700".parse().unwrap();
    assert_eq!(sent(&predicate, &a), sent(&predicate, &b), "same answer, same bytes");
    let raw = |v: &Value| encode(ItemContent::disclose(&Disclosure::Raw, v, NOW).unwrap());
    assert_ne!(raw(&a), raw(&b));
}
