//! Attack: a peer puts terminal escapes (clear the screen, set the window title), line breaks
//! or bidirectional overrides in the text people see: a business's name, a description, a
//! `service:` compensation. Such text is malformed input: refused at decode and the sender
//! penalised, so it never reaches `me2b requests`, `me2b pending` or a log. A person's
//! refusal tells the business nothing about what the vault holds.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::decode::DecodeError;
use me2b_proto::engine::{Command, CommandError, Event, HandleError, Input, Output, Rejection};
use me2b_proto::envelope::{self, MessageKind, Seal};
use me2b_proto::identity::{Keypair, Nonce};
use me2b_proto::terms::FieldRequest;
use me2b_proto::wire;
use prost::Message as _;

const HOSTILE: [&str; 4] =
    ["Stride\u{1b}[2J", "Stride\u{1b}]0;owned\u{7}", "Stride\r\nINFO forged", "Stride\u{202e}edirtS"];

/// The shoe maker's published request, re-signed by its key after `edit`.
fn resealed(w: &mut World, nonce: u8, edit: impl Fn(&mut wire::DataRequest)) -> Vec<u8> {
    let bytes = w
        .net
        .peer(&w.shoes)
        .outputs
        .iter()
        .find_map(|o| match o {
            Output::Publish { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .unwrap();
    let signed = wire::SignedEnvelope::decode(bytes.as_slice()).unwrap();
    let inner = wire::Envelope::decode(signed.envelope.as_slice()).unwrap();
    let mut request = wire::DataRequest::decode(inner.payload.as_slice()).unwrap();
    request.id = vec![nonce; 16];
    edit(&mut request);
    envelope::seal(
        Seal {
            keypair: &Keypair::from_secret_bytes(&[2; 32]),
            kind: MessageKind::DataRequest,
            recipient: None,
            nonce: Nonce::from_bytes([nonce; 16]),
            issued_at: w.net.now(),
            expires_at: w.net.now().saturating_add(DAY),
        },
        request.encode_to_vec(),
    )
}

#[test]
fn escapes_in_a_business_name_are_refused_and_penalised() {
    let mut w = world();
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    for (i, name) in HOSTILE.iter().enumerate() {
        let bytes = resealed(&mut w, 100 + i as u8, |r| r.business_name = (*name).into());
        match w.net.input(w.person, Input::Gossip { kind: MessageKind::DataRequest, bytes }) {
            Err(HandleError::Rejected(rejection)) => {
                assert!(matches!(rejection, Rejection::Decode(DecodeError::NotPrintable(_))), "{rejection:?}");
                assert!(rejection.penalise());
            }
            other => panic!("{name:?} was not refused: {other:?}"),
        }
    }
    let shown = w.net.peer(&w.person).engine.state().requests.values().map(|r| r.request.business_name.clone());
    assert!(shown.into_iter().all(|name| name == "Stride"));
    // Negative control: the same request with a plain name is taken.
    let bytes = resealed(&mut w, 120, |r| r.business_name = "Stride Running".into());
    w.net.input(w.person, Input::Gossip { kind: MessageKind::DataRequest, bytes }).unwrap();
}

#[test]
fn a_business_cannot_publish_escapes_either() {
    let mut w = world();
    for name in HOSTILE {
        let command = Command::PublishRequest {
            category: "apparel.shoes".parse().unwrap(),
            business_name: name.into(),
            description: "Shoes that fit".into(),
            terms: shoe_terms(START.saturating_add(DAY)),
        };
        let refused = w.net.input(w.shoes, Input::Command(command));
        assert!(
            matches!(refused, Err(HandleError::Command(CommandError::Invalid(ref e))) if e.contains("control")),
            "{refused:?}"
        );
    }
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.compensation = me2b_proto::terms::Compensation::Service("free \u{1b}[2Jshoes".into());
    let command = Command::PublishRequest {
        category: "apparel.shoes".parse().unwrap(),
        business_name: "Stride".into(),
        description: "Shoes that fit".into(),
        terms,
    };
    assert!(w.net.input(w.shoes, Input::Command(command)).is_err());
}

#[test]
fn a_refusal_does_not_tell_the_business_what_the_vault_lacks() {
    use me2b_proto::messages::{NegotiationBody, NegotiationMessage};
    let mut w = world();
    // A person who declines rather than counters; the business (hand-driven) counters with a
    // field the policy would share but the vault does not hold.
    let policy = me2b_proto::policy::Policy { counter: false, ..person_policy() };
    command(&mut w.net, w.person, Command::SetPolicy(policy));
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.fields.truncate(1);
    terms.contact = None;
    publish(&mut w.net, w.shoes, "apparel.shoes", terms);
    w.net.deliver_next();
    let negotiation = w.net.peer(&w.person).engine.state().negotiations.values().next().unwrap().clone();
    let mut wider = negotiation.terms.clone();
    wider.fields.push(FieldRequest::raw(path("body.height_cm")));
    counter_from_shoes(&mut w.net, w.person, negotiation.id, wider).unwrap();

    // What went to the business: the last negotiation message the person sent.
    let sent = w.net.peer(&w.person).outputs.iter().rev().find_map(|o| match o {
        Output::Send { kind: MessageKind::Negotiation, bytes, .. } => Some(bytes.clone()),
        _ => None,
    });
    let opened = envelope::verify(&sent.unwrap(), MessageKind::Negotiation).unwrap();
    let message = NegotiationMessage::try_from(opened.decode::<wire::NegotiationMessage>().unwrap()).unwrap();
    let NegotiationBody::Terminate { reason: told, .. } = message.body else {
        panic!("expected a termination, got {:?}", message.body);
    };
    assert_eq!(told, "terms not acceptable under the person's policy");
    // The person sees the whole reason, which names the field (the negative control: this is
    // what the business would have learned).
    let own = w.net.peer(&w.person).events.iter().find_map(|e| match e {
        Event::Terminated { reason, by_peer: false, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(own.unwrap().contains("body.height_cm"));
}
