//! Attack: a hostile business answers every revocation "rejected". Here it is a bare libp2p
//! peer holding the business's real key (the business's node replaced by one that refuses
//! everything). The person's node must never mark the agreement DELETED on any answer: the
//! revocation stays "not confirmed" with the business's words and keeps being retried. When the
//! honest node is back (the negative control: same agreement, same person), the receipt ends it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use futures::StreamExt;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use me2b_node::net::{Answer, BehaviourEvent, DirectEvent};
use me2b_proto::agreement::{Lifecycle, RevocationAnswer};
use me2b_proto::engine::{Command, Event, Role};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_that_rejects_every_revocation_never_gets_it_marked_deleted() {
    let (mut person, mut business) = person_and_business().await;
    let agreement_id = agree(&mut person, &mut business).await;
    business.handle.shutdown().await;
    let TestNode { dir, secret, .. } = business;

    // The hostile stand-in, with the business's key: it rejects every revocation.
    let mut hostile = rogue(secret, person.address().await);
    person.command(Command::Revoke { agreement_id, reason: "changed my mind".into() }).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut rejected = 0;
    while rejected < 2 {
        let event = tokio::time::timeout_at(deadline, hostile.select_next_some()).await.expect("no revocation came");
        if let SwarmEvent::Behaviour(BehaviourEvent::Direct(DirectEvent::Revoke(request_response::Event::Message {
            message: request_response::Message::Request { channel, .. },
            ..
        }))) = event
        {
            let answer = Answer::Rejected("no such thing \u{1b}[2J".into());
            hostile.behaviour_mut().direct.revoke.send_response(channel, answer).unwrap();
            rejected += 1;
            if rejected == 1 {
                // The person sends it again at once rather than wait for the backoff.
                let Event::RevocationNotConfirmed { reason, .. } =
                    person.wait_for("not confirmed", |e| matches!(e, Event::RevocationNotConfirmed { .. })).await
                else {
                    unreachable!()
                };
                assert_eq!(reason, "no such thing [2J", "the answer is shown as printable text");
                person.command(Command::Revoke { agreement_id, reason: "changed my mind".into() }).await;
            }
        }
    }
    let state = person.handle.state().await.unwrap();
    let record = &state.agreements[&agreement_id];
    assert!(matches!(record.lifecycle, Lifecycle::Revoked { .. }), "{:?}", record.lifecycle);
    assert!(matches!(record.revocation.as_ref().unwrap().answer, RevocationAnswer::NotConfirmed { .. }));
    drop(hostile);

    // The honest node returns: the same revocation now ends in a receipt.
    let mut business = start_in(Role::Business, secret, dir).await;
    business.handle.dial(person.address().await).await.unwrap();
    business.wait_for("deletion", |e| matches!(e, Event::DataDeleted { .. })).await;
    person.wait_for("receipt", |e| matches!(e, Event::DeletionConfirmed { .. })).await;
    let state = person.handle.state().await.unwrap();
    assert!(matches!(state.agreements[&agreement_id].lifecycle, Lifecycle::Deleted { .. }));
    person.handle.shutdown().await;
    business.handle.shutdown().await;
}
