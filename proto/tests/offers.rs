//! A business with contact permission pushes personal offers, within the frequency cap; a
//! business without it cannot.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::engine::{Command, CommandError, Event, HandleError, Input};
use me2b_proto::messages::ProductOffer;
use me2b_proto::terms::Money;

fn offer() -> ProductOffer {
    ProductOffer {
        description: "Trail runner, EU 44".into(),
        price: Money::new(9_900, "EUR").unwrap(),
        valid_until: START.saturating_add(7 * DAY),
    }
}

#[test]
fn offers_flow_within_the_contact_cap() {
    let mut w = world();
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.retention = 60 * DAY;
    publish(&mut w.net, w.shoes, "apparel.shoes", terms);
    w.net.settle();
    let id = finalized(&w.net.peer(&w.shoes).events)[0];
    command(&mut w.net, w.shoes, Command::SendOffer { agreement_id: id, offer: offer() });
    w.net.settle();
    assert!(
        w.net
            .peer(&w.person)
            .events
            .iter()
            .any(|e| matches!(e, Event::OfferReceived { agreement_id, .. } if *agreement_id == id))
    );

    // The terms allow one offer per 30 days.
    let second = w.net.input(w.shoes, Input::Command(Command::SendOffer { agreement_id: id, offer: offer() }));
    assert_eq!(second, Err(HandleError::Command(CommandError::ContactCapReached)));
    w.net.advance(31 * DAY);
    command(&mut w.net, w.shoes, Command::SendOffer { agreement_id: id, offer: offer() });
}

#[test]
fn without_contact_permission_no_offer_is_sent() {
    let mut w = world();
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.contact = None;
    publish(&mut w.net, w.shoes, "apparel.shoes", terms);
    w.net.settle();
    let id = finalized(&w.net.peer(&w.shoes).events)[0];
    let sent = w.net.input(w.shoes, Input::Command(Command::SendOffer { agreement_id: id, offer: offer() }));
    assert_eq!(sent, Err(HandleError::Command(CommandError::ContactNotAllowed)));
}
