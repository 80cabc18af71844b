//! Trust on first use: once a person agreed with Stride, Stride's key is pinned to its name. A
//! second key whose signed profile also says "Stride" is flagged: an `Impersonation` event
//! naming both keys, and its request waits for the owner with the warning first among the
//! prompt's reasons; the agent agrees to nothing with it on its own. The control: a person who
//! never agreed with the real Stride (nothing pinned) agrees with the same request at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::engine::{Command, Event, Role};
use me2b_proto::policy::{AskReason, Decision};
use me2b_proto::profile::BusinessProfile;

async fn calling_itself_stride(seed: u8) -> TestNode {
    start_with(Role::Business, [seed; 32], tempfile::tempdir().unwrap(), |config| {
        config.profile = Some(BusinessProfile { name: "Stride".into(), ..BusinessProfile::default() });
    })
    .await
}

async fn shoe_person(seed: u8) -> TestNode {
    let person = start(Role::Person, seed).await;
    person.command(Command::SetPolicy(person_policy())).await;
    person.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;
    person.set("body.shoe_size_eu", me2b_proto::value::Value::Number(44.0)).await;
    person.set("activity.running_km", me2b_proto::value::Value::Series(vec![])).await;
    person
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_key_calling_itself_stride_is_flagged_and_never_agreed_with_alone() {
    let mut stride = calling_itself_stride(2).await;
    let mut person = shoe_person(1).await;
    person.handle.dial(stride.address().await).await.unwrap();
    agree(&mut person, &mut stride).await;
    let state = person.handle.state().await.unwrap();
    let real = stride.handle.info().await.unwrap().public_key;
    assert!(state.businesses[&real].pinned, "the first agreement pins Stride's key");

    let fake = calling_itself_stride(4).await;
    let fake_key = fake.handle.info().await.unwrap().public_key;
    person.handle.dial(fake.address().await).await.unwrap();
    publish(&fake, shoe_terms()).await;
    let Event::Impersonation { name, claimed_by, pinned } =
        person.wait_for("the impersonation flag", |e| matches!(e, Event::Impersonation { .. })).await
    else {
        unreachable!()
    };
    assert_eq!((name.as_str(), claimed_by, pinned), ("Stride", fake_key, real));
    let Event::AwaitingOwner { negotiation_id, reasons, peer, .. } =
        person.wait_for("the prompt", |e| matches!(e, Event::AwaitingOwner { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(peer, fake_key);
    assert_eq!(reasons.first(), Some(&AskReason::Impersonation { name: "Stride".into(), pinned: real }));
    assert!(reasons[0].to_string().starts_with("WARNING"), "{}", reasons[0]);

    // What the console and the CLI show for the prompt says it too, and nothing was agreed.
    let state = person.handle.state().await.unwrap();
    let negotiation = &state.negotiations[&negotiation_id];
    let Decision::AskOwner { reasons, .. } = state.decision(negotiation, now()) else {
        panic!("the agent must ask the owner")
    };
    assert!(matches!(reasons[0], AskReason::Impersonation { .. }));
    assert!(state.agreements.values().all(|record| record.agreement.business != fake_key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_pinned_stride_the_same_request_is_agreed() {
    let fake = calling_itself_stride(4).await;
    let mut person = shoe_person(5).await;
    person.handle.dial(fake.address().await).await.unwrap();
    publish(&fake, shoe_terms()).await;
    person.wait_for("agreement", |e| matches!(e, Event::Finalized { .. })).await;
    let state = person.handle.state().await.unwrap();
    let fake_key = fake.handle.info().await.unwrap().public_key;
    assert!(state.businesses[&fake_key].pinned, "the first to agree with is the one pinned");
    assert_eq!(state.impersonated(&fake_key), None);
}
