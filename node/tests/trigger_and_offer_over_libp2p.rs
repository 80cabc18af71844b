//! After agreement over libp2p: a trigger sends only its event when the condition becomes
//! true, and the business pushes a personal offer within the contact cap.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_node::NodeError;
use me2b_proto::engine::{Command, CommandError, Event, HandleError};
use me2b_proto::messages::{ItemContent, ProductOffer};
use me2b_proto::predicate::Predicate;
use me2b_proto::terms::{FieldRequest, Money, Use};
use me2b_proto::time::Timestamp;
use me2b_proto::value::{Point, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_fires_once_and_offers_respect_the_cap() {
    let (mut person, mut business) = person_and_business().await;
    let mut terms = shoe_terms();
    terms.fields = vec![FieldRequest::raw(path("body.shoe_size_eu"))];
    terms.usage = Use::Trigger {
        path: path("activity.running_km"),
        predicate: Predicate::sum_since(Timestamp::EPOCH, 600.0),
        event: "replacement-due".into(),
        rearm: None,
    };
    publish(&business, terms).await;
    let Event::Finalized { agreement_id, .. } =
        business.wait_for("agreement", |e| matches!(e, Event::Finalized { .. })).await
    else {
        unreachable!()
    };

    let runs = |km: f64| Value::Series(vec![Point::new(now(), km)]);
    person.set("activity.running_km", runs(610.0)).await;
    business.wait_for("trigger", |e| matches!(e, Event::DataReceived { .. })).await;
    let held = business.handle.state().await.unwrap().received[&agreement_id].clone();
    assert_eq!(held.len(), 1);
    assert_eq!(held[&path("activity.running_km")].content, ItemContent::TriggerEvent("replacement-due".into()));

    let offer = ProductOffer {
        description: "Trail runner".into(),
        price: Money::new(8_800, "EUR").unwrap(),
        valid_until: now().saturating_add(DAY),
    };
    business.command(Command::SendOffer { agreement_id, offer: offer.clone() }).await;
    person.wait_for("offer", |e| matches!(e, Event::OfferReceived { .. })).await;
    let second = business.handle.command(Command::SendOffer { agreement_id, offer }).await;
    assert!(matches!(second, Err(NodeError::Engine(HandleError::Command(CommandError::ContactCapReached)))));
}
