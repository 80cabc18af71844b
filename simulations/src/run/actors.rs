//! The simulated people and adversaries around the real nodes: owners who answer their node's
//! questions and revoke, bare libp2p peers that send malformed messages, and the flooders' spam.

use super::*;

/// A flooder's request: marketing use of a field nobody shares, so honest agents refuse it
/// after verifying and evaluating it (the cost a flood imposes).
pub(super) fn spam(expires: Duration) -> Option<Command> {
    let terms = me2b_proto::terms::Terms {
        fields: vec![me2b_proto::terms::FieldRequest::raw("finance.income".parse().ok()?)],
        purpose: Purpose::Marketing,
        retention: Duration::from_secs(365 * 86_400),
        usage: me2b_proto::terms::Use::OneTime,
        onward_sharing: true,
        compensation: me2b_proto::terms::Compensation::None,
        contact: None,
        jurisdiction: "EU".into(),
        expires_at: now().saturating_add(expires),
    };
    Some(Command::PublishRequest {
        category: "apparel.shoes".parse().ok()?,
        business_name: "spam".into(),
        description: "spam".into(),
        terms,
    })
}

/// How a simulated owner decides, drawn per person in the order the questions come, so that
/// decisions follow from the seed: the in-process run and the driver of real daemons
/// ([`crate::drive`]) use the same draws.
pub struct Owner {
    people: crate::scenario::People,
    asked: rand_chacha::ChaCha20Rng,
    revoking: rand_chacha::ChaCha20Rng,
}

impl Owner {
    /// The owner of person `index`.
    pub fn new(scenario: &Scenario, seed: u64, index: usize) -> Owner {
        Owner {
            people: scenario.people.clone(),
            asked: rng(seed, "owner", index as u64),
            revoking: rng(seed, "revoke", index as u64),
        }
    }

    /// The node asks about a negotiation: whether the owner approves, and after how long
    /// (seconds of scenario time).
    pub fn asked(&mut self) -> (bool, f64) {
        let approve = (self.asked.next_u64() as f64 / u64::MAX as f64) < self.people.approve;
        let think = self.people.think_time_s.sample(&mut self.asked).max(0.0);
        (approve, think)
    }

    /// An agreement was made: after how long (seconds of scenario time) the owner revokes
    /// it, if they do.
    pub fn finalized(&mut self) -> Option<f64> {
        let revoke = (self.revoking.next_u64() as f64 / u64::MAX as f64) < self.people.revoke;
        let after = self.people.revoke_after_s.sample(&mut self.revoking).max(0.0);
        revoke.then_some(after)
    }
}

/// The simulated owner of person `index`: answers questions after a think time (approving
/// with the scenario's probability) and revokes some agreements after a while ([`Owner`]).
pub(super) fn spawn_owner(runner: &Runner, index: usize, decisions: mpsc::Sender<(usize, Command)>) {
    let Some(handle) = &runner.nodes[index].handle else { return };
    let mut events = handle.events();
    let scale = runner.scenario.time_scale;
    let mut owner = Owner::new(&runner.scenario, runner.seed, index);
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(NodeEvent::Engine(event)) => event,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            let (wait, command) = match event {
                Event::AwaitingOwner { negotiation_id, .. } => {
                    let (approve, think) = owner.asked();
                    let command =
                        if approve { Command::Approve(negotiation_id) } else { Command::Decline(negotiation_id) };
                    (think, command)
                }
                Event::Finalized { agreement_id, .. } => {
                    let Some(after) = owner.finalized() else { continue };
                    (after, Command::Revoke { agreement_id, reason: "simulated owner".into() })
                }
                _ => continue,
            };
            let decisions = decisions.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs_f64(wait * scale)).await;
                let _ = decisions.send((index, command)).await;
            });
        }
    });
}

/// A bare libp2p peer that speaks the protocols but sends garbage: a malformed negotiation
/// message to each node it reaches, and a gossip message that is not an envelope every 200 ms
/// on each topic a peer follows.
pub(super) async fn malformed_peer(
    secret: [u8; 32],
    targets: Vec<Multiaddr>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    use futures::StreamExt as _;
    use libp2p::gossipsub;
    use libp2p::swarm::SwarmEvent;
    use me2b_node::net::{self, BehaviourEvent, DirectRequest};
    let config = NetConfig { mdns: false, ..NetConfig::default() };
    let Ok(key) = net::libp2p_keypair(secret) else { return };
    let Ok(mut swarm) = net::build_memory_swarm(key, &config, &mut net::gossip_registry()) else { return };
    for target in targets {
        let _ = swarm.dial(target);
    }
    let mut topics = std::collections::BTreeSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    let garbage = DirectRequest::new(me2b_proto::envelope::MessageKind::Negotiation, vec![0x0a, 0xff, 0xff, 0x01]);
                    swarm.behaviour_mut().direct.negotiate.send_request(&peer_id, garbage);
                }
                SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { topic, .. }))
                    if topics.insert(topic.clone()) =>
                {
                    let _ = swarm.behaviour_mut().gossipsub.subscribe(&gossipsub::IdentTopic::new(topic.into_string()));
                }
                _ => {}
            },
            _ = tick.tick() => {
                for topic in &topics {
                    let _ = swarm.behaviour_mut().gossipsub.publish(topic.clone(), b"not an envelope".to_vec());
                }
            }
        }
    }
}

/// What the Sybils did, counted across all of them.
#[derive(Debug, Default)]
pub struct SybilStats {
    /// Connections they established with honest nodes.
    pub connections: std::sync::atomic::AtomicU64,
    /// Gossip messages they received (first copies).
    pub received: std::sync::atomic::AtomicU64,
    /// Of those, how many they let gossipsub forward.
    pub forwarded: std::sync::atomic::AtomicU64,
}

/// The switches shared by every Sybil.
#[derive(Debug, Clone, Default)]
pub struct SybilSwitches {
    /// Whether they forward what they receive now (covert Sybils do until the flash).
    pub forwarding: Arc<std::sync::atomic::AtomicBool>,
    /// Stops them.
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    /// What they did.
    pub stats: Arc<SybilStats>,
    /// Woken at each connection a Sybil makes.
    pub connected: Arc<tokio::sync::Notify>,
}

/// A Sybil: a bare libp2p peer with the node's own network stack (gossipsub with the same
/// parameters, identify, the direct protocols; no DHT) and a fresh identity. It dials
/// `targets`, joins every topic a peer announces, and, when `forwarding` is off, never
/// validates what it receives (so gossipsub neither forwards nor advertises it): a black hole
/// in the mesh. When `forwarding` is on, it accepts everything at once, like an honest relay.
pub(super) async fn sybil(secret: [u8; 32], targets: Vec<Multiaddr>, switches: SybilSwitches) {
    use futures::StreamExt as _;
    use libp2p::gossipsub;
    use libp2p::swarm::SwarmEvent;
    use me2b_node::net::{self, BehaviourEvent};
    use std::sync::atomic::Ordering::Relaxed;
    let config = NetConfig { mdns: false, dht: false, ..NetConfig::default() };
    let Ok(key) = net::libp2p_keypair(secret) else { return };
    let Ok(mut swarm) = net::build_memory_swarm(key, &config, &mut net::gossip_registry()) else { return };
    for target in targets {
        let _ = swarm.dial(target);
    }
    let mut topics = std::collections::BTreeSet::new();
    let mut check = tokio::time::interval(Duration::from_millis(100));
    while !switches.stop.load(Relaxed) {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { .. } => {
                    switches.stats.connections.fetch_add(1, Relaxed);
                    switches.connected.notify_one();
                }
                SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { topic, .. }))
                    if topics.insert(topic.clone()) =>
                {
                    let _ = swarm.behaviour_mut().gossipsub.subscribe(&gossipsub::IdentTopic::new(topic.into_string()));
                }
                SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                    propagation_source, message_id, ..
                })) => {
                    switches.stats.received.fetch_add(1, Relaxed);
                    if switches.forwarding.load(Relaxed) {
                        switches.stats.forwarded.fetch_add(1, Relaxed);
                        let _ = swarm.behaviour_mut().gossipsub.report_message_validation_result(
                            &message_id, &propagation_source, gossipsub::MessageAcceptance::Accept,
                        );
                    }
                    // Otherwise left unvalidated: gossipsub holds it until its validation
                    // times out, never forwarding or advertising it.
                }
                _ => {}
            },
            _ = check.tick() => {}
        }
    }
}
