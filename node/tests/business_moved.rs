//! A business moves: it comes back at another address after an agreement was made, and puts
//! its new signed profile in the DHT (through another node, the hub). The person revokes: its
//! persona cannot reach the business where the profile it holds says, and finds where it is now
//! through the DHT (the new profile, or the routing table, whichever answers first), and the
//! receipt comes back. A record that is not a business's own profile is never stored
//! (`net::profile_record`'s test is the control for forgeries).
//!
//! A business that dialled before its listener was up: its peers first heard of it with no
//! address to dial back, and learn the address when identify pushes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use futures::StreamExt;
use libp2p::identify;
use libp2p::swarm::SwarmEvent;
use me2b_node::net::{BehaviourEvent, DirectEvent};
use me2b_proto::engine::{Command, Event, Role};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_that_moved_is_found_through_its_profile_in_the_dht() {
    // A person's node that serves the DHT (a hub; people only ask it by default).
    let hub = start_with(Role::Person, [9; 32], tempfile::tempdir().unwrap(), |c| c.net.dht_server = true).await;
    let mut business = start(Role::Business, 2).await;
    business.handle.dial(hub.address().await).await.unwrap();
    let mut person = start(Role::Person, 1).await;
    person.command(Command::SetPolicy(person_policy())).await;
    person.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;
    person.set("body.shoe_size_eu", me2b_proto::value::Value::Number(44.0)).await;
    person.set("activity.running_km", me2b_proto::value::Value::Series(vec![])).await;
    person.handle.dial(business.address().await).await.unwrap();
    person.handle.dial(hub.address().await).await.unwrap();
    let agreement_id = agree(&mut person, &mut business).await;
    let old_address = business.address().await;

    // The business moves: same key and store, another address; it puts its new profile in
    // the DHT through the hub.
    business.handle.shutdown().await;
    let TestNode { dir, secret, .. } = business;
    let mut business = start_in(Role::Business, secret, dir).await;
    assert_ne!(business.address().await, old_address);
    business.handle.dial(hub.address().await).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, business.events.recv()).await.expect("the profile reaches the DHT") {
            Ok(me2b_node::NodeEvent::ProfilePublished) => break,
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(error) => panic!("{error}"),
        }
    }

    person.command(Command::Revoke { agreement_id, reason: "moving on".into() }).await;
    business.wait_for("the revocation", |e| matches!(e, Event::DataDeleted { .. })).await;
    person.wait_for("the receipt", |e| matches!(e, Event::DeletionConfirmed { .. })).await;
}

/// The business's key comes back on a bare swarm that dials the person first and listens only
/// once the person has its identify answer, which named no address. The person revokes: the
/// persona cannot reach the business at its old address, and reaches it at the new one as soon
/// as identify pushes it (the control: without the push, every retry goes to the old address
/// and the revocation never arrives).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_that_listens_after_it_dialled_is_reached_where_it_listens() {
    let (mut person, mut business) = person_and_business().await;
    let agreement_id = agree(&mut person, &mut business).await;
    business.handle.shutdown().await;
    let TestNode { secret, .. } = business;

    let mut back = bare_swarm(secret);
    back.dial(person.address().await).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut listening = false;
    loop {
        let event = tokio::time::timeout_at(deadline, back.select_next_some()).await.expect("no revocation came");
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Sent { .. })) if !listening => {
                assert_eq!(back.listeners().count(), 0, "the person heard of no address");
                person.command(Command::Revoke { agreement_id, reason: "moving on".into() }).await;
                back.listen_on("/memory/0".parse().unwrap()).unwrap();
                listening = true;
            }
            SwarmEvent::Behaviour(BehaviourEvent::Direct(DirectEvent::Revoke(
                libp2p::request_response::Event::Message { .. },
            ))) => break,
            _ => {}
        }
    }
    assert!(listening);
    person.handle.shutdown().await;
}
