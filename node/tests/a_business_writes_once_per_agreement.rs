//! A business whose policy takes a proposal as it comes signs the agreement at once and sends
//! its signature before its write (`Output::Send::early`). Its answer to the proposal is an
//! acknowledgement, so it waits for a write; but not for a write of its own: the node's next
//! write, which the person's countersignature brings a round trip later (or the tick, within a
//! second), covers it (see `Node::commit`). So an agreement costs the business one flush, not
//! two, and "acknowledged means durable" still holds. Two tests:
//!
//! - over six agreements with a real person, the business flushes about once per agreement;
//! - a proposal's answer still leaves only after a write that holds the negotiation, even when
//!   no countersignature comes (a rogue that proposes and goes quiet).
//!
//! Negative controls: with every batch that sends early written at once (the code before),
//! the first test counted twelve flushes for six agreements; with the deferred batch's answers
//! released at once instead of kept for the write, the second saw the answer with no flush
//! since the proposal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use futures::StreamExt;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use me2b_node::net::{BehaviourEvent, DirectEvent, DirectRequest};
use me2b_proto::engine::{Command, Event, Handled, Role};
use me2b_proto::envelope::{self, MessageKind, Seal};
use me2b_proto::identity::{Keypair, NegotiationId, Nonce};
use me2b_proto::messages::{Context, NegotiationBody, NegotiationMessage};
use prost::Message as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_flushes_once_per_agreement_it_signs_at_once() {
    const ROUNDS: u64 = 6;
    let (mut person, mut business) = person_and_business().await;
    business.wait_subscribed(&person).await;
    let mut flushes = 0;
    for _ in 0..ROUNDS {
        let before = business.handle.info().await.unwrap().commits;
        publish(&business, shoe_terms()).await;
        business.wait_for("data", |e| matches!(e, Event::DataReceived { .. })).await;
        person.wait_for("agreement", |e| matches!(e, Event::Finalized { .. })).await;
        // The publication's own write is not the agreement's.
        flushes += business.handle.info().await.unwrap().commits - before - 1;
    }
    // One per agreement, and one more for each round in which the tick (once a second) fell
    // between the business's signature and the countersignature and wrote what waited: a few
    // at most on a loaded machine. Two per agreement is the code that writes each on its own.
    assert!(
        flushes <= ROUNDS + 3,
        "{flushes} flushes for {ROUNDS} agreements: the answer to each proposal was written on its own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposals_answer_waits_for_a_write_that_holds_it() {
    let business = start(Role::Business, 2).await;
    let Handled::Request(request) = business
        .command(Command::PublishRequest {
            category: "apparel.shoes".parse().unwrap(),
            business_name: "Stride".into(),
            description: "Shoes that fit".into(),
            terms: shoe_terms(),
        })
        .await
    else {
        panic!("no request id")
    };
    let business_id = business.handle.peer_id();
    let business_key = business.handle.public_key();
    let secret = [71; 32];
    let mut rogue = rogue(secret, business.address().await);
    let deadline = tokio::time::Instant::now() + WAIT;
    let next = async |rogue: &mut libp2p::Swarm<me2b_node::net::Behaviour>| {
        tokio::time::timeout_at(deadline, rogue.select_next_some()).await.expect("the rogue waited too long")
    };
    loop {
        if let SwarmEvent::ConnectionEstablished { peer_id, .. } = next(&mut rogue).await
            && peer_id == business_id
        {
            break;
        }
    }
    // The rogue proposes the request's own terms (which the business's policy takes at once),
    // then never countersigns.
    let terms = shoe_terms();
    let message = NegotiationMessage {
        id: NegotiationId::from_bytes([72; 16]),
        round: 1,
        body: NegotiationBody::Propose {
            context: Context::Request(request),
            deadline: terms.expires_at,
            terms,
            offer: None,
        },
    };
    let seal = Seal {
        keypair: &Keypair::from_secret_bytes(&secret),
        kind: MessageKind::Negotiation,
        recipient: Some(business_key),
        nonce: Nonce::from_bytes([73; 16]),
        issued_at: now(),
        expires_at: now().saturating_add(std::time::Duration::from_secs(60)),
    };
    let bytes = envelope::seal(seal, me2b_proto::wire::NegotiationMessage::from(&message).encode_to_vec());
    let before = business.handle.info().await.unwrap().commits;
    rogue
        .behaviour_mut()
        .direct
        .negotiate
        .send_request(&business_id, DirectRequest::new(MessageKind::Negotiation, bytes));
    // The answer, with the business's writes counted as it arrived (`info` does not write),
    // and the business's signature, which shows that it agreed at once.
    let (mut answered, mut signed) = (None, false);
    while answered.is_none() || !signed {
        match next(&mut rogue).await {
            SwarmEvent::Behaviour(BehaviourEvent::Direct(DirectEvent::Negotiate(
                request_response::Event::Message { message: request_response::Message::Request { .. }, .. },
            ))) => signed = true,
            SwarmEvent::Behaviour(BehaviourEvent::Direct(DirectEvent::Negotiate(
                request_response::Event::Message {
                    message: request_response::Message::Response { response, .. }, ..
                },
            ))) => answered = Some((response, business.handle.info().await.unwrap().commits)),
            SwarmEvent::Behaviour(BehaviourEvent::Direct(DirectEvent::Negotiate(
                request_response::Event::OutboundFailure { error, .. },
            ))) => panic!("the proposal failed: {error}"),
            _ => {}
        }
    }
    let (answer, written) = answered.unwrap();
    assert_eq!(answer, me2b_node::net::Answer::Accepted, "the business took the proposal");
    assert!(
        written > before,
        "the answer to the proposal left before any write held it ({before} flushes, then {written})"
    );
}
