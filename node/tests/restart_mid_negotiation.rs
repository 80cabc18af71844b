//! A person's node restarted while a negotiation awaits the owner resumes it from its store:
//! the owner approves after the restart and the agreement is made.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::engine::{Command, Event, Role};
use me2b_proto::terms::FieldRequest;
use me2b_proto::value::Value;
use me2b_proto::vocab::Purpose;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_after_a_restart_completes_the_agreement() {
    let (mut person, mut business) = person_and_business().await;
    person.set("health.acquired.asthma", Value::Boolean(true)).await;
    let mut terms = shoe_terms();
    terms.purpose = Purpose::Research;
    terms.contact = None;
    terms.fields = vec![FieldRequest::raw(path("health.acquired.asthma"))];
    publish(&business, terms).await;
    let Event::AwaitingOwner { negotiation_id, .. } =
        person.wait_for("owner question", |e| matches!(e, Event::AwaitingOwner { .. })).await
    else {
        unreachable!()
    };

    person.handle.shutdown().await;
    let TestNode { dir, secret, .. } = person;
    let person = start_in(Role::Person, secret, dir).await;
    person.handle.dial(business.address().await).await.unwrap();
    person.command(Command::Approve(negotiation_id)).await;
    business.wait_for("data", |e| matches!(e, Event::DataReceived { .. })).await;
    assert_eq!(person.handle.state().await.unwrap().agreements.len(), 1);
}
