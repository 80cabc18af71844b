//! Attack: a peer publishes a data request whose business name carries terminal escapes (clear
//! the screen, set the window title). The person's node refuses it as malformed and penalises
//! the sender; it never reaches `me2b requests`. The same peer's plain request, sent first, is
//! taken (the negative control: the difference is the escapes alone).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use futures::StreamExt;
use libp2p::gossipsub;
use me2b_proto::engine::{Command, Event, Role};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escapes_in_a_business_name_never_reach_the_person() {
    let mut person = start(Role::Person, 1).await;
    person.command(Command::SetPolicy(person_policy())).await;
    person.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;
    let topic = gossipsub::IdentTopic::new("me2b/v1/requests/apparel.shoes");
    let mut rogue = rogue_on([66; 32], person.address().await, &topic).await;
    rogue.behaviour_mut().gossipsub.publish(topic.clone(), signed_request([66; 32], 1, "Plain Shoes")).unwrap();
    tokio::spawn(async move {
        let mut sent = false;
        loop {
            rogue.select_next_some().await;
            if !sent {
                sent = rogue
                    .behaviour_mut()
                    .gossipsub
                    .publish(topic.clone(), signed_request([66; 32], 2, "Stride\u{1b}[2J\u{1b}]0;owned\u{7}"))
                    .is_ok();
            }
        }
    });

    person.wait_for("the plain request", |e| matches!(e, Event::RequestSeen { .. })).await;
    let reason = person.wait_for_misbehaviour().await;
    assert!(reason.contains("control characters"), "{reason}");
    let names: Vec<String> =
        person.handle.state().await.unwrap().requests.values().map(|r| r.request.business_name.clone()).collect();
    assert_eq!(names, vec!["Plain Shoes".to_owned()]);
    person.handle.shutdown().await;
}
