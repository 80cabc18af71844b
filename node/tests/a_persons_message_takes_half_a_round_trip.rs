//! A person's direct message costs half a round trip: the stream its persona opens names its
//! protocol and carries the message at once (multistream-select's `V1Lazy`, set on persona
//! swarms in `net::swarm`), instead of waiting a round trip for the business to confirm the
//! name. Of an agreement's three messages, the person's proposal and countersignature (with
//! the data) then cross a slow link in one one-way trip each, and the business's signature in
//! three (its own swarm negotiates as before): five trips, where they took nine.
//!
//! Links of 100 ms each way; the second agreement between a person and a business (the first
//! dials the persona's connection), from the person's `RequestSeen` (its proposal leaving) to
//! the business's `DataReceived`. It must take less than seven one-way trips: two trips of
//! margin on either side, far more than the nodes' own work. Negative control: without the
//! override the second agreement took 928 ms, nine trips and a little.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::engine::Event;
use std::time::{Duration, Instant};

const ONE_WAY: Duration = Duration::from_millis(100);

/// Every link 100 ms each way.
#[derive(Debug)]
struct Slow;

impl me2b_node::link::LinkModel for Slow {
    fn link(&self, _remote: &libp2p::Multiaddr) -> Option<me2b_node::link::Link> {
        Some(me2b_node::link::Link { latency: ONE_WAY, loss: 0.0, bandwidth: None })
    }
}

/// Publishes a request and returns the time from the person's proposal leaving to the data
/// arriving at the business.
async fn cycle(person: &mut TestNode, business: &mut TestNode) -> Duration {
    publish(business, shoe_terms()).await;
    person.wait_for("the request", |e| matches!(e, Event::RequestSeen { .. })).await;
    let proposed = Instant::now();
    business.wait_for("the data", |e| matches!(e, Event::DataReceived { .. })).await;
    proposed.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agreement_crosses_a_slow_link_in_five_one_way_trips() {
    let links = std::sync::Arc::new(Slow);
    let (mut person, mut business) =
        person_and_business_with(|config| config.net.link_model = Some(links.clone())).await;
    person.wait_connected(business.handle.peer_id()).await;
    let first = cycle(&mut person, &mut business).await;
    let second = cycle(&mut person, &mut business).await;
    eprintln!("cycles over {ONE_WAY:?} links: {first:?} (with the persona's dial), then {second:?}");
    assert!(
        second < 7 * ONE_WAY,
        "an agreement took {second:?} over {ONE_WAY:?} links: more than five one-way trips and their margin"
    );
}
