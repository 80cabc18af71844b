//! Malformed, forged and out-of-agreement messages are rejected with a reason that says
//! whether to penalise the sender, and the node keeps working.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::engine::{HandleError, Input, Rejection};
use me2b_proto::envelope::{self, EnvelopeError, MessageKind, Seal};
use me2b_proto::identity::{Keypair, Nonce};
use me2b_proto::messages::{DataItem, DataPackage, ItemContent};
use me2b_proto::value::{Personal, Value};
use me2b_proto::wire;
use prost::Message as _;
use std::time::Duration;

fn rejection(result: Result<me2b_proto::engine::Handled, HandleError>) -> Rejection {
    match result {
        Err(HandleError::Rejected(rejection)) => rejection,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn garbage_and_forged_gossip_is_rejected_and_penalised() {
    let mut w = world();
    let garbage =
        rejection(w.net.input(w.person, Input::Gossip { kind: MessageKind::DataRequest, bytes: vec![0xff; 40] }));
    assert!(garbage.penalise());

    // A request signed by one key but claiming another sender.
    let request = wire::DataRequest { id: vec![1; 16], category: "apparel.shoes".into(), ..Default::default() };
    let honest = envelope::seal(
        Seal {
            keypair: &Keypair::from_secret_bytes(&[9; 32]),
            kind: MessageKind::DataRequest,
            recipient: None,
            nonce: Nonce::from_bytes([1; 16]),
            issued_at: START,
            expires_at: START.saturating_add(DAY),
        },
        request.encode_to_vec(),
    );
    let mut signed = wire::SignedEnvelope::decode(honest.as_slice()).unwrap();
    let mut inner = wire::Envelope::decode(signed.envelope.as_slice()).unwrap();
    inner.sender = w.shoes.to_bytes().to_vec();
    signed.envelope = inner.encode_to_vec();
    let forged = rejection(
        w.net.input(w.person, Input::Gossip { kind: MessageKind::DataRequest, bytes: signed.encode_to_vec() }),
    );
    assert_eq!(forged, Rejection::Envelope(EnvelopeError::BadSignature));
    assert!(forged.penalise());

    // Well signed but schema-invalid (no terms).
    let invalid = rejection(w.net.input(w.person, Input::Gossip { kind: MessageKind::DataRequest, bytes: honest }));
    assert!(matches!(invalid, Rejection::Decode(_)));
    assert!(invalid.penalise());

    // The node still works.
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    w.net.settle();
    assert_eq!(finalized(&w.net.peer(&w.person).events).len(), 1);
}

#[test]
fn a_replayed_direct_message_is_rejected_without_penalty() {
    let mut w = world();
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    w.net.settle();
    let (kind, bytes) = w
        .net
        .peer(&w.person)
        .outputs
        .iter()
        .find_map(|o| match o {
            me2b_proto::engine::Output::Send { kind: MessageKind::Negotiation, bytes, .. } => {
                Some((MessageKind::Negotiation, bytes.clone()))
            }
            _ => None,
        })
        .unwrap();
    let from = persona_key(&w.net, w.person, w.shoes).public();
    let replayed = rejection(w.net.input(w.shoes, Input::Direct { from, to: w.shoes, kind, bytes }));
    assert_eq!(replayed, Rejection::Envelope(EnvelopeError::Replayed));
    assert!(!replayed.penalise());
}

#[test]
fn a_message_claiming_another_sender_than_the_connection_is_rejected() {
    let mut w = world();
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    w.net.deliver_next(); // gossip to the person; its proposal is now in flight
    let bytes = w
        .net
        .peer(&w.person)
        .outputs
        .iter()
        .find_map(|o| match o {
            me2b_proto::engine::Output::Send { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .unwrap();
    let wrong = rejection(
        w.net.input(w.shoes, Input::Direct { from: w.clinic, to: w.shoes, kind: MessageKind::Negotiation, bytes }),
    );
    assert_eq!(wrong, Rejection::Envelope(EnvelopeError::WrongSender));
}

#[test]
fn data_outside_the_agreement_is_refused_and_not_stored() {
    let mut w = world();
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    w.net.settle();
    let id = finalized(&w.net.peer(&w.shoes).events)[0];
    let person_key = persona_key(&w.net, w.person, w.shoes);
    let send = |net: &mut me2b_proto::harness::Network, items: Vec<DataItem>, nonce: u8| {
        let package = DataPackage { agreement_id: id, sequence: 2, items };
        let bytes = envelope::seal(
            Seal {
                keypair: &person_key,
                kind: MessageKind::DataPackage,
                recipient: Some(w.shoes),
                nonce: Nonce::from_bytes([nonce; 16]),
                issued_at: net.now(),
                expires_at: net.now().saturating_add(Duration::from_secs(60)),
            },
            wire::DataPackage::from(&package).encode_to_vec(),
        );
        net.input(
            w.shoes,
            Input::Direct { from: person_key.public(), to: w.shoes, kind: MessageKind::DataPackage, bytes },
        )
    };
    let email = DataItem {
        path: path("profile.email"),
        content: ItemContent::Value(Personal::new(Value::Text("x@y.z".into()))),
    };
    let refused = rejection(send(&mut w.net, vec![email], 1));
    assert!(matches!(refused, Rejection::OutsideAgreement(_)));
    assert!(refused.penalise());
    // A raw value where only a derived fact was agreed.
    let raw_km = DataItem {
        path: path("activity.running_km"),
        content: ItemContent::Value(Personal::new(Value::Number(600.0))),
    };
    assert!(matches!(rejection(send(&mut w.net, vec![raw_km], 2)), Rejection::OutsideAgreement(_)));
    assert!(!w.net.peer(&w.shoes).engine.state().received[&id].contains_key(&path("profile.email")));
}

#[test]
fn an_oversized_direct_message_is_refused_before_decoding() {
    let mut w = world();
    let big = vec![0u8; me2b_proto::limits::MAX_DIRECT_MESSAGE_BYTES + 1];
    let refused = rejection(
        w.net.input(w.shoes, Input::Direct { from: w.person, to: w.shoes, kind: MessageKind::DataPackage, bytes: big }),
    );
    assert!(matches!(refused, Rejection::Envelope(EnvelopeError::TooLarge { .. })));
}

#[test]
fn a_countersignature_carrying_data_outside_the_agreement_is_refused_whole() {
    use me2b_proto::messages::{NegotiationBody, NegotiationMessage};
    let mut w = world();
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    // Up to the person's countersignature, still on its way to the business.
    let finalize = until_countersigned(&mut w.net, w.person);
    let honest = w.net.peer(&w.person).engine.state().outbox.get(&finalize).unwrap().payload.clone();
    let mut message =
        NegotiationMessage::try_from(wire::NegotiationMessage::decode(honest.as_slice()).unwrap()).unwrap();
    let NegotiationBody::Finalize { first_package: Some(encoded), .. } = &mut message.body else {
        panic!("the countersignature carries the first data: {:?}", message.body);
    };
    let mut package = DataPackage::try_from(wire::DataPackage::decode(encoded.as_slice()).unwrap()).unwrap();
    package.items.push(DataItem {
        path: path("profile.email"),
        content: ItemContent::Value(Personal::new(Value::Text("x@y.z".into()))),
    });
    *encoded = wire::DataPackage::from(&package).encode_to_vec();
    let person_key = persona_key(&w.net, w.person, w.shoes);
    let bytes = envelope::seal(
        Seal {
            keypair: &person_key,
            kind: MessageKind::Negotiation,
            recipient: Some(w.shoes),
            nonce: Nonce::from_bytes([7; 16]),
            issued_at: w.net.now(),
            expires_at: w.net.now().saturating_add(Duration::from_secs(60)),
        },
        wire::NegotiationMessage::from(&message).encode_to_vec(),
    );
    let refused = rejection(w.net.input(
        w.shoes,
        Input::Direct { from: person_key.public(), to: w.shoes, kind: MessageKind::Negotiation, bytes },
    ));
    assert!(matches!(refused, Rejection::OutsideAgreement(_)), "{refused:?}");
    assert!(refused.penalise());
    let business = w.net.peer(&w.shoes);
    assert!(finalized(&business.events).is_empty(), "the countersignature is refused with its data");
    assert!(business.engine.state().received.is_empty(), "nothing of it is kept");
    // Negative control: the honest countersignature, with the agreed data, lands.
    w.net.settle();
    let business = w.net.peer(&w.shoes);
    let id = finalized(&business.events)[0];
    let received = &business.engine.state().received[&id];
    assert!(received.contains_key(&path("body.shoe_size_eu")));
    assert!(!received.contains_key(&path("profile.email")));
}
