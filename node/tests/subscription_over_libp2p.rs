//! A subscription over libp2p: after the agreement, a change to an agreed field sends an update
//! to the business; a change to a field the agreement does not name sends nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::engine::Event;
use me2b_proto::messages::ItemContent;
use me2b_proto::terms::{FieldRequest, Use};
use me2b_proto::value::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agreed_field_change_is_sent_and_nothing_else() {
    let (person, mut business) = person_and_business().await;
    person.set("body.height_cm", Value::Number(180.0)).await;
    let mut terms = shoe_terms();
    terms.fields = vec![FieldRequest::raw(path("body.shoe_size_eu"))];
    terms.usage = Use::Subscription { min_interval: Duration::from_secs(1) };
    publish(&business, terms).await;
    let Event::DataReceived { agreement_id, .. } =
        business.wait_for("first package", |e| matches!(e, Event::DataReceived { .. })).await
    else {
        unreachable!()
    };
    let value_held =
        |state: &me2b_proto::engine::State| match &state.received[&agreement_id][&path("body.shoe_size_eu")].content {
            ItemContent::Value(value) => value.expose().clone(),
            other => panic!("expected a value, got {other:?}"),
        };
    let state = business.handle.state().await.unwrap();
    assert_eq!(value_held(&state), Value::Number(44.0));
    let first = state.received[&agreement_id][&path("body.shoe_size_eu")].sequence;

    // A field outside the agreement changes first, then the agreed one: only the agreed one
    // arrives, and it is the next package.
    person.set("body.height_cm", Value::Number(181.0)).await;
    person.set("body.shoe_size_eu", Value::Number(45.0)).await;
    let Event::DataReceived { fields, .. } = business
        .wait_for("update", |e| matches!(e, Event::DataReceived { agreement_id: a, .. } if *a == agreement_id))
        .await
    else {
        unreachable!()
    };
    assert_eq!(fields, vec![path("body.shoe_size_eu")]);
    let state = business.handle.state().await.unwrap();
    assert_eq!(value_held(&state), Value::Number(45.0));
    let held = &state.received[&agreement_id];
    assert_eq!(held.len(), 1, "only the agreed field is held");
    assert_eq!(held[&path("body.shoe_size_eu")].sequence, first + 1, "the height change sent no package");
}
