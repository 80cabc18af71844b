//! The engine's bounds hold: a driver that stops polling gets `Busy` instead of unbounded
//! growth, the replay guard refuses rather than forgets, and negotiations cannot run past
//! their round limit.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::engine::{Command, Config, Engine, HandleError, Input, Output, Provenance, Rejection, Role, State};
use me2b_proto::envelope::{self, EnvelopeError, MessageKind, ReplayGuard, Seal};
use me2b_proto::identity::{Keypair, NegotiationId, Nonce};
use me2b_proto::limits::{MAX_PENDING_OUTPUTS, MAX_ROUNDS, MAX_SEEN_NONCES, MAX_SEEN_NONCES_PER_SENDER};
use me2b_proto::messages::{NegotiationBody, NegotiationMessage, TerminationCode};
use me2b_proto::value::Value;
use me2b_proto::wire;
use prost::Message as _;
use std::time::Duration;

#[test]
fn an_engine_that_is_not_polled_says_busy() {
    let mut engine =
        Engine::new(Keypair::from_secret_bytes(&[1; 32]), Config::new(Role::Person, [1; 32]), State::default(), START);
    let mut accepted = 0;
    let busy = loop {
        let command = Command::SetRecord {
            path: path("body.weight_kg"),
            value: Value::Number(70.0),
            provenance: Provenance::Owner,
        };
        match engine.handle(Input::Command(command), START) {
            Ok(_) => accepted += 1,
            Err(error) => break error,
        }
        assert!(accepted <= MAX_PENDING_OUTPUTS, "the output queue grew past its bound");
    };
    assert_eq!(busy, HandleError::Busy);
    let mut drained = 0;
    while engine.poll().is_some() {
        drained += 1;
    }
    assert!(drained <= MAX_PENDING_OUTPUTS);
    let command =
        Command::SetRecord { path: path("body.weight_kg"), value: Value::Number(71.0), provenance: Provenance::Owner };
    assert!(engine.handle(Input::Command(command), START).is_ok(), "works again once polled");
}

#[test]
fn the_replay_guard_refuses_when_full_instead_of_forgetting() {
    let sender = Keypair::from_secret_bytes(&[3; 32]);
    let me = Keypair::from_secret_bytes(&[4; 32]).public();
    let mut guard = ReplayGuard::default();
    let header = |i: u32| {
        let mut nonce = [0u8; 16];
        nonce[..4].copy_from_slice(&i.to_le_bytes());
        let bytes = envelope::seal(
            Seal {
                keypair: &sender,
                kind: MessageKind::Negotiation,
                recipient: Some(me),
                nonce: Nonce::from_bytes(nonce),
                issued_at: START,
                expires_at: START.saturating_add(Duration::from_secs(60)),
            },
            Vec::new(),
        );
        envelope::open(&bytes, MessageKind::Negotiation, Some(&me), START).unwrap().header().clone()
    };
    let first = header(0);
    guard.check(&first, START).unwrap();
    // Fill the guard without signing 200,000 envelopes: vary the nonce of one header, and its
    // sender each time one sender's quota is reached (a Sybil's many keys).
    let mut filler = first.clone();
    let sybils: Vec<_> = (0..=MAX_SEEN_NONCES / MAX_SEEN_NONCES_PER_SENDER)
        .map(|k| if k == 0 { sender.public() } else { Keypair::from_secret_bytes(&[k as u8 + 100; 32]).public() })
        .collect();
    for i in 1..MAX_SEEN_NONCES as u32 {
        let mut nonce = [0u8; 16];
        nonce[..4].copy_from_slice(&i.to_le_bytes());
        filler.nonce = Nonce::from_bytes(nonce);
        filler.sender = sybils[i as usize / MAX_SEEN_NONCES_PER_SENDER];
        guard.check(&filler, START).unwrap();
    }
    assert_eq!(guard.len(), MAX_SEEN_NONCES);
    assert_eq!(guard.check(&header(u32::MAX), START), Err(EnvelopeError::Busy));
    assert_eq!(guard.check(&first, START), Err(EnvelopeError::Replayed), "nothing was forgotten");
    // Once the window has passed the guard empties and accepts again.
    assert!(guard.check(&header(u32::MAX), START.saturating_add(Duration::from_secs(61))).is_ok());
}

#[test]
fn negotiation_messages_past_the_round_limit_are_refused() {
    let mut w = world();
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    w.net.deliver_next();
    let id: NegotiationId = *w.net.peer(&w.person).engine.state().negotiations.keys().next().unwrap();
    let message = NegotiationMessage {
        id,
        round: MAX_ROUNDS + 1,
        body: NegotiationBody::Terminate { code: TerminationCode::Declined, reason: String::new() },
    };
    let bytes = envelope::seal(
        Seal {
            keypair: &Keypair::from_secret_bytes(&[2; 32]),
            kind: MessageKind::Negotiation,
            recipient: Some(persona_key(&w.net, w.person, w.shoes).public()),
            nonce: Nonce::from_bytes([9; 16]),
            issued_at: w.net.now(),
            expires_at: w.net.now().saturating_add(Duration::from_secs(60)),
        },
        wire::NegotiationMessage::from(&message).encode_to_vec(),
    );
    let to = persona_key(&w.net, w.person, w.shoes).public();
    let refused = w.net.input(w.person, Input::Direct { from: w.shoes, to, kind: MessageKind::Negotiation, bytes });
    assert_eq!(refused, Err(HandleError::Rejected(Rejection::Protocol("round out of range"))));
}

#[test]
fn a_live_request_is_handed_to_a_subscribing_peer_once_per_connection_however_late() {
    let mut business = Engine::new(
        Keypair::from_secret_bytes(&[2; 32]),
        Config::new(Role::Business, [2; 32]),
        State::default(),
        START,
    );
    let shoes: me2b_proto::vocab::Category = "apparel.shoes".parse().unwrap();
    let command = Command::PublishRequest {
        category: shoes.clone(),
        business_name: "Stride".into(),
        description: "shoes".into(),
        terms: shoe_terms(START.saturating_add(Duration::from_secs(3600))),
    };
    business.handle(Input::Command(command), START).unwrap();
    while business.poll().is_some() {}
    let person = Keypair::from_secret_bytes(&[1; 32]).public();
    let mut announced = |input: Input, after: Duration| {
        business.handle(input, START.saturating_add(after)).unwrap();
        std::iter::from_fn(|| business.poll())
            .filter(|output| matches!(output, Output::Send { kind: MessageKind::DataRequest, .. }))
            .count()
    };
    let subscribed = |category: &me2b_proto::vocab::Category| Input::PeerSubscribed {
        peer: person,
        topic: category.request_topic(),
    };
    // Connecting hands nothing over: the peer has not said what it wants.
    assert_eq!(announced(Input::PeerConnected(person), Duration::ZERO), 0);
    // Another topic: nothing.
    assert_eq!(announced(subscribed(&"food.coffee".parse().unwrap()), Duration::from_millis(10)), 0);
    // The topic, seconds later (the 2.5 s of issue 18, and far past any window): once.
    assert_eq!(announced(subscribed(&shoes), Duration::from_millis(2_500)), 1);
    assert_eq!(announced(subscribed(&shoes), Duration::from_secs(120)), 0);
    // A new connection (the peer may have restarted): again, once.
    assert_eq!(announced(Input::PeerConnected(person), Duration::from_secs(121)), 0);
    assert_eq!(announced(subscribed(&shoes), Duration::from_secs(121)), 1);
}
