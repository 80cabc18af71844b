//! Terms beyond the person's policy are countered over the negotiate protocol; the business
//! signs the narrower terms and receives only what they name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::engine::Event;
use me2b_proto::terms::FieldRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_offer_is_signed_and_only_its_fields_arrive() {
    let (mut person, mut business) = person_and_business().await;
    person.set("profile.email", me2b_proto::value::Value::Text("ada@example.org".into())).await;
    let mut terms = shoe_terms();
    terms.retention = 365 * DAY;
    terms.onward_sharing = true;
    terms.fields.push(FieldRequest::raw(path("profile.email")).optional());
    publish(&business, terms).await;

    let Event::Finalized { agreement_id, .. } =
        business.wait_for("agreement", |e| matches!(e, Event::Finalized { .. })).await
    else {
        unreachable!()
    };
    business.wait_for("data", |e| matches!(e, Event::DataReceived { .. })).await;
    let state = business.handle.state().await.unwrap();
    let agreed = &state.agreements[&agreement_id].agreement.terms;
    assert_eq!(agreed.retention, 60 * DAY);
    assert!(!agreed.onward_sharing);
    assert!(agreed.field(&path("profile.email")).is_none());
    assert!(!state.received[&agreement_id].contains_key(&path("profile.email")));
    person.wait_for("data sent", |e| matches!(e, Event::DataSent { .. })).await;
}
