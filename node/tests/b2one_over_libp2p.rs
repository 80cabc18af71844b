//! A business's request crosses real libp2p gossip to a person; the negotiation, signatures
//! and data transfer run over direct Noise-encrypted streams; both stores hold the result.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::engine::Event;
use me2b_proto::messages::ItemContent;
use me2b_proto::value::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_agreed_and_exactly_the_agreed_fields_arrive() {
    let (mut person, mut business) = person_and_business().await;
    publish(&business, shoe_terms()).await;

    let Event::Finalized { agreement_id, .. } =
        person.wait_for("agreement", |e| matches!(e, Event::Finalized { .. })).await
    else {
        unreachable!()
    };
    business.wait_for("data", |e| matches!(e, Event::DataReceived { .. })).await;

    let state = business.handle.state().await.unwrap();
    let held = &state.received[&agreement_id];
    match &held[&path("body.shoe_size_eu")].content {
        ItemContent::Value(value) => assert_eq!(value.expose(), &Value::Number(44.0)),
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(held[&path("activity.running_km")].content, ItemContent::Derived { holds: false, .. }));
    assert_eq!(held.len(), 2);

    // gossipsub's own counters: the person's node saw the one request once, no copies.
    let gossip = person.handle.info().await.unwrap().gossip;
    assert_eq!((gossip.first_seen, gossip.duplicates), (1, 0), "{gossip:?}");

    // Both ledgers, as stored, verify.
    for node in [&person, &business] {
        let key = node.handle.public_key();
        let (entries, head) =
            node.handle.query(|engine, store| (store.ledger().unwrap(), engine.state().ledger)).await.unwrap();
        let verified = me2b_proto::ledger::verify(&entries, &key, Some(&head)).unwrap();
        assert!(verified.len() >= 3);
    }
    person.handle.shutdown().await;
    business.handle.shutdown().await;
}
