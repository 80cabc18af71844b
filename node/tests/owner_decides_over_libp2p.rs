//! Sensitive requests wait for the owner, who approves through the node's handle; a request
//! declined by the owner never reaches the business as a proposal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::engine::{Command, Event};
use me2b_proto::predicate::Predicate;
use me2b_proto::terms::FieldRequest;
use me2b_proto::value::Value;
use me2b_proto::vocab::Purpose;

fn health_terms() -> me2b_proto::terms::Terms {
    let mut terms = shoe_terms();
    terms.purpose = Purpose::Research;
    terms.contact = None;
    terms.fields = vec![
        FieldRequest::raw(path("health.acquired.asthma")),
        FieldRequest::derived(path("health.acquired.peak_flow"), Predicate::NumberInRange { min: 300.0, max: 600.0 })
            .optional(),
    ];
    terms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_approves_one_request_and_declines_another() {
    let (mut person, mut business) = person_and_business().await;
    person.set("health.acquired.asthma", Value::Boolean(true)).await;
    person.set("health.acquired.peak_flow", Value::Number(420.0)).await;

    // The business publishes in the shoe category the person follows.
    publish(&business, health_terms()).await;
    let Event::AwaitingOwner { negotiation_id, .. } =
        person.wait_for("owner question", |e| matches!(e, Event::AwaitingOwner { .. })).await
    else {
        unreachable!()
    };
    assert!(business.handle.state().await.unwrap().negotiations.is_empty(), "nothing sent before approval");
    person.command(Command::Approve(negotiation_id)).await;
    person.wait_for("agreement", |e| matches!(e, Event::Finalized { .. })).await;
    business.wait_for("data", |e| matches!(e, Event::DataReceived { .. })).await;

    publish(&business, health_terms()).await;
    let Event::AwaitingOwner { negotiation_id, .. } =
        person.wait_for("owner question", |e| matches!(e, Event::AwaitingOwner { .. })).await
    else {
        unreachable!()
    };
    person.command(Command::Decline(negotiation_id)).await;
    let state = business.handle.state().await.unwrap();
    assert_eq!(state.negotiations.len(), 1, "the declined request never reached the business");
}
