//! Every text form the protocol has is read by its type's `FromStr` and written by its
//! `Display`, and the two agree: parse(print(x)) == x for every valid x. Bad text says what
//! to write instead.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use me2b_proto::document::{PolicyDoc, TermsDoc};
use me2b_proto::engine::Provenance;
use me2b_proto::identity::{IntentId, Keypair, PublicKey, RequestId};
use me2b_proto::messages::Context;
use me2b_proto::policy::{FieldRule, Policy, Share};
use me2b_proto::predicate::{Aggregation, CompareOp, Predicate, Window};
use me2b_proto::terms::{
    Compensation, ContactPermission, Disclosure, FieldRequest, Money, Terms, Use, format_contact, parse_contact,
};
use me2b_proto::time::{Date, Timestamp, format_duration, parse_duration};
use me2b_proto::vocab::{Category, FieldPath, Purpose, Topic};
use proptest::prelude::*;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

fn round_trips<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Display + FromStr + PartialEq + std::fmt::Debug,
    T::Err: Display,
{
    let text = value.to_string();
    match text.parse::<T>() {
        Ok(back) => prop_assert_eq!(&back, value, "through {:?}", text),
        Err(error) => prop_assert!(false, "{:?} does not read back: {}", text, error),
    }
    Ok(())
}

fn dotted() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-z0-9_]{1,8}", 1..=4).prop_map(|segments| segments.join("."))
}

fn path() -> impl Strategy<Value = FieldPath> {
    dotted().prop_map(|text| text.parse().unwrap())
}

fn category() -> impl Strategy<Value = Category> {
    dotted().prop_map(|text| text.parse().unwrap())
}

fn purpose() -> impl Strategy<Value = Purpose> {
    proptest::sample::select(Purpose::ALL.to_vec())
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..1_000_000_000).prop_map(Duration::from_millis),
        (1u64..10_000).prop_map(|d| Duration::from_secs(d * 86_400)),
    ]
}

fn date() -> impl Strategy<Value = Date> {
    (1970i32..2200, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap())
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![(-1_000_000i64..1_000_000).prop_map(|n| n as f64), -1e12f64..1e12]
}

fn op() -> impl Strategy<Value = CompareOp> {
    proptest::sample::select(vec![
        CompareOp::Less,
        CompareOp::LessOrEqual,
        CompareOp::Equal,
        CompareOp::GreaterOrEqual,
        CompareOp::Greater,
    ])
}

fn predicate() -> impl Strategy<Value = Predicate> {
    prop_oneof![
        (0u32..150).prop_map(|years| Predicate::AgeAtLeast { years }),
        (number(), number()).prop_map(|(a, b)| Predicate::NumberInRange { min: a.min(b), max: a.max(b) }),
        (op(), number()).prop_map(|(op, operand)| Predicate::NumberCompare { op, operand }),
        (op(), date()).prop_map(|(op, operand)| Predicate::DateCompare { op, operand }),
        (0u64..4_000_000_000_000, number())
            .prop_map(|(ms, threshold)| Predicate::sum_since(Timestamp::from_millis(ms), threshold)),
        (date(), number()).prop_map(|(day, threshold)| Predicate::sum_since(day.start().unwrap(), threshold)),
        (0u32..150, 0u32..150).prop_map(|(a, b)| Predicate::AgeInRange { min: a.min(b), max: a.max(b) }),
        proptest::collection::vec(token(), 1..5).prop_map(|values| Predicate::TextOneOf { values }),
        ("[a-z0-9]{1,8}", "[A-Za-z0-9._-]{1,40}")
            .prop_map(|(system, code)| Predicate::HasCode { code: format!("{system}|{code}") }),
        (aggregation(), window(), proptest::option::of(token()), op(), number()).prop_map(
            |(function, window, tag, op, operand)| Predicate::Aggregate { function, window, tag, op, operand }
        ),
    ]
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._|/-]{1,64}"
}

fn aggregation() -> impl Strategy<Value = Aggregation> {
    proptest::sample::select(vec![
        Aggregation::Count,
        Aggregation::Sum,
        Aggregation::Mean,
        Aggregation::Min,
        Aggregation::Max,
    ])
}

fn window() -> impl Strategy<Value = Window> {
    prop_oneof![
        Just(Window::All),
        (0u64..4_000_000_000_000).prop_map(|ms| Window::Since(Timestamp::from_millis(ms))),
        date().prop_map(|day| Window::Since(day.start().unwrap())),
        (1u64..100_000_000_000).prop_map(|ms| Window::Last(Duration::from_millis(ms))),
    ]
}

fn money() -> impl Strategy<Value = Money> {
    (0u64..10_000_000_000, "[A-Z]{3}").prop_map(|(minor, currency)| Money::new(minor, &currency).unwrap())
}

fn compensation() -> impl Strategy<Value = Compensation> {
    prop_oneof![
        Just(Compensation::None),
        (1u8..=100).prop_map(|percent| Compensation::Discount { percent }),
        money().prop_map(Compensation::Money),
        "[a-zA-Z][a-zA-Z0-9 %:,.-]{0,30}[a-zA-Z]".prop_map(Compensation::Service),
    ]
}

fn contact() -> impl Strategy<Value = ContactPermission> {
    (1u32..1000, 1u64..100_000)
        .prop_map(|(max_messages, secs)| ContactPermission { max_messages, per_period: Duration::from_secs(secs) })
}

fn event() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,20}"
}

fn usage() -> impl Strategy<Value = Use> {
    prop_oneof![
        Just(Use::OneTime),
        duration()
            .prop_filter("a period", |d| !d.is_zero())
            .prop_map(|min_interval| Use::Subscription { min_interval }),
        (path(), predicate(), event(), proptest::option::of(predicate().prop_map(Box::new)))
            .prop_map(|(path, predicate, event, rearm)| Use::Trigger { path, predicate, event, rearm }),
    ]
}

fn field() -> impl Strategy<Value = FieldRequest> {
    (path(), proptest::option::of(predicate()), any::<bool>()).prop_map(|(path, predicate, required)| {
        let field = match predicate {
            Some(predicate) => FieldRequest::derived(path, predicate),
            None => FieldRequest::raw(path),
        };
        if required { field } else { field.optional() }
    })
}

fn key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(|seed| Keypair::from_secret_bytes(&seed).public())
}

proptest! {
    #[test]
    fn names_round_trip(path in path(), category in category(), purpose in purpose()) {
        round_trips(&path)?;
        round_trips(&category)?;
        round_trips(&purpose)?;
        round_trips(&category.request_topic())?;
        round_trips(&category.intent_topic())?;
        prop_assert_eq!(category.request_topic().category().clone(), category);
    }

    #[test]
    fn durations_round_trip(duration in duration()) {
        let text = format_duration(duration);
        prop_assert_eq!(parse_duration(&text).ok(), Some(duration), "through {}", text);
    }

    #[test]
    fn dates_and_predicates_round_trip(date in date(), predicate in predicate()) {
        round_trips(&date)?;
        round_trips(&predicate)?;
    }

    #[test]
    fn terms_round_trip(
        money in money(),
        compensation in compensation(),
        contact in contact(),
        usage in usage(),
        field in field(),
    ) {
        round_trips(&money)?;
        round_trips(&compensation)?;
        round_trips(&contact)?;
        prop_assert_eq!(parse_contact(&format_contact(Some(&contact))).ok(), Some(Some(contact)));
        round_trips(&usage)?;
        round_trips(&field)?;
    }

    #[test]
    fn whole_terms_round_trip_through_their_document(
        fields in proptest::collection::btree_map(path(), (proptest::option::of(predicate()), any::<bool>()), 1..5),
        purpose in purpose(),
        retention in duration(),
        usage in usage(),
        compensation in compensation(),
        contact in proptest::option::of(contact()),
    ) {
        let fields = fields.into_iter().map(|(path, (predicate, required))| FieldRequest {
            path,
            required,
            disclosure: predicate.map_or(Disclosure::Raw, Disclosure::Derived),
        }).collect();
        let terms = Terms {
            fields,
            purpose,
            retention,
            usage,
            onward_sharing: false,
            compensation,
            contact,
            jurisdiction: "EU".into(),
            expires_at: Timestamp::from_millis(5),
        };
        prop_assert_eq!(TermsDoc::from(&terms).terms(terms.expires_at), Ok(terms));
    }

    #[test]
    fn ids_keys_and_provenance_round_trip(id in any::<[u8; 16]>(), key in key(), device in "[a-z][a-z0-9 -]{0,20}") {
        round_trips(&Context::Request(RequestId::from_bytes(id)))?;
        round_trips(&Context::Intent(IntentId::from_bytes(id)))?;
        round_trips(&key)?;
        round_trips(&Provenance::Owner)?;
        round_trips(&Provenance::Device(device))?;
        round_trips(&Provenance::Issuer(key))?;
    }

    #[test]
    fn policies_round_trip_through_their_document(
        rules in proptest::collection::vec(
            (path(), proptest::sample::select(vec![Share::Raw, Share::DerivedOnly, Share::Never]),
             proptest::collection::btree_set(purpose(), 0..3), any::<bool>(),
             proptest::option::of(duration()), proptest::collection::btree_set(category(), 0..2)),
            0..4),
        max_retention in duration(),
        min_compensation in compensation(),
        max_contact in proptest::option::of(contact()),
        denied in proptest::collection::btree_set(key(), 0..3),
    ) {
        let policy = Policy {
            rules: rules.into_iter().map(|(path, share, purposes, ask_owner, max_retention, categories)| FieldRule {
                path, share, purposes, ask_owner, max_retention, categories,
            }).collect(),
            max_retention,
            min_compensation,
            max_contact,
            denied_businesses: denied,
            ..Policy::ask_first()
        };
        prop_assert_eq!(Policy::try_from(PolicyDoc::from(&policy)), Ok(policy));
    }

    #[test]
    fn nothing_panics_on_any_text(text in "\\PC{0,40}") {
        let _ = text.parse::<FieldRequest>();
        let _ = text.parse::<Use>();
        let _ = text.parse::<Predicate>();
        let _ = text.parse::<Compensation>();
        let _ = text.parse::<ContactPermission>();
        let _ = text.parse::<Money>();
        let _ = text.parse::<Topic>();
        let _ = text.parse::<Context>();
        let _ = text.parse::<Provenance>();
        let _ = parse_duration(&text);
    }
}

#[test]
fn bad_text_says_what_to_write() {
    let says = |error: String, hint: &str| assert!(error.contains(hint), "{error:?} does not say {hint:?}");
    says(parse_duration("30 days").unwrap_err().to_string(), "e.g. 30d");
    says("selling".parse::<Purpose>().unwrap_err().to_string(), "personalised-offers");
    says("Body Size".parse::<FieldRequest>().unwrap_err().to_string(), "field path");
    says("150% discount".parse::<Compensation>().unwrap_err().to_string(), "1% to 100%");
    says("0/30d".parse::<ContactPermission>().unwrap_err().to_string(), "e.g. 1/30d");
    says("forever".parse::<Use>().unwrap_err().to_string(), "subscription:1d");
    says("me2b/v2/requests/x".parse::<Topic>().unwrap_err().to_string(), "me2b/v1/requests/");
    says("age > eighteen".parse::<Predicate>().unwrap_err().to_string(), "age >= 18");
    assert_eq!("activity.running_km:optional".parse::<FieldRequest>().map(|f| f.required), Ok(false));
    assert!(matches!(
        "trigger:activity.running_km>=600:replacement-due".parse::<Use>(),
        Ok(Use::Trigger { ref event, .. }) if event == "replacement-due"
    ));
    assert!("trigger:activity.running_km:x".parse::<Use>().is_err());
    assert!(parse_contact("none").unwrap().is_none());
}
