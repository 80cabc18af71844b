//! The [`Behaviour`]: everything a me2b node speaks (the ban gate, connection limits, identify,
//! Kademlia, gossipsub, mDNS, relay client, DCUtR, AutoNAT, and one request-response behaviour
//! per direct protocol), how it is put together from a [`NetConfig`], and how gossip is
//! configured and scored.
//!
//! ## Gossip, as another implementation must run it
//! - **Message id**: the SHA-256 of the message's data (the signed me2b envelope), 32 bytes
//!   ([`message_id`]). Any implementation computes it from what it received, so IHAVE, IWANT and
//!   IDONTWANT name the same message on every side (js-libp2p's default, from + seqno, and
//!   rust-libp2p's default, its text form, differ).
//! - **Sizes**: a message's data is at most `MAX_GOSSIP_MESSAGE_BYTES` (16 KiB); bigger ones are
//!   rejected by validation (an invalid message: scored and counted against the sender, which is
//!   warned about). An RPC frame may be up to [`MAX_GOSSIP_FRAME_BYTES`] (4 MiB, js-libp2p
//!   gossipsub's own inbound limit), which holds the largest batch a peer may legally send: an
//!   IWANT answer for at most [`MAX_IWANT_PER_HEARTBEAT`] messages. A frame beyond that is not legal from
//!   any implementation; gossipsub closes that inbound stream (the peer reopens it).
//! - **Scoring**: see [`topic_score_params`]: one invalid message outweighs everything a peer
//!   can earn.

use super::bans::Gate;
use super::codec::Codec;
use super::{
    ANNOUNCE, BuildError, KAD_PROTOCOL, NEGOTIATE, NetConfig, OFFER, PROTOCOL_VERSION, REVOKE, TRANSFER, build_error,
};
use libp2p::{
    StreamProtocol, autonat, connection_limits, dcutr, gossipsub, identify, identity, kad, mdns, relay,
    request_response,
};
use me2b_proto::envelope::MessageKind;
use prometheus_client::registry::Registry;
use std::time::Duration;

pub use derived::{Behaviour, BehaviourEvent, Direct, DirectEvent};

mod derived {
    // The derive generates `BehaviourEvent`, whose variants carry no docs.
    #![allow(missing_docs)]

    use super::{Codec, Gate};
    use libp2p::swarm::NetworkBehaviour;
    use libp2p::swarm::behaviour::toggle::Toggle;
    use libp2p::{autonat, connection_limits, dcutr, gossipsub, identify, kad, mdns, relay, request_response};

    /// Everything a me2b node speaks.
    #[derive(NetworkBehaviour)]
    pub struct Behaviour {
        /// Refuses banned peers and address ranges (first, so nothing else sets up for them).
        pub gate: Gate,
        /// Connection limits.
        pub limits: connection_limits::Behaviour,
        /// identify (`me2b/1`).
        pub identify: identify::Behaviour,
        /// Kademlia on `/me2b/kad/1.0.0` (off only in simulations that fix the topology).
        pub kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
        /// Requests, intents and answers.
        pub gossipsub: gossipsub::Behaviour,
        /// The direct protocols.
        pub direct: Direct,
        /// LAN discovery (off in tests, the simulator, and for a person unless turned on).
        pub mdns: Toggle<mdns::tokio::Behaviour>,
        /// Reaching and being reached through relays.
        pub relay: Toggle<relay::client::Behaviour>,
        /// Hole punching through relayed connections.
        pub dcutr: Toggle<dcutr::Behaviour>,
        /// Learning whether this node is publicly reachable.
        pub autonat: Toggle<autonat::Behaviour>,
    }

    /// The direct protocols, one request-response behaviour each: all that a person's
    /// persona connection speaks (see [`crate::personas`]), and part of every node's
    /// [`Behaviour`].
    #[derive(NetworkBehaviour)]
    pub struct Direct {
        /// `/me2b/negotiate/1.0.0`.
        pub negotiate: request_response::Behaviour<Codec>,
        /// `/me2b/transfer/1.0.0`.
        pub transfer: request_response::Behaviour<Codec>,
        /// `/me2b/revoke/1.0.0`.
        pub revoke: request_response::Behaviour<Codec>,
        /// `/me2b/offer/1.0.0`.
        pub offer: request_response::Behaviour<Codec>,
        /// `/me2b/announce/1.0.0`.
        pub announce: request_response::Behaviour<Codec>,
    }
}

/// Which protocol a [`DirectEvent`] is on, and the event.
pub fn split(event: DirectEvent) -> (StreamProtocol, request_response::Event<super::DirectRequest, super::Answer>) {
    match event {
        DirectEvent::Negotiate(event) => (NEGOTIATE, event),
        DirectEvent::Transfer(event) => (TRANSFER, event),
        DirectEvent::Revoke(event) => (REVOKE, event),
        DirectEvent::Offer(event) => (OFFER, event),
        DirectEvent::Announce(event) => (ANNOUNCE, event),
    }
}

impl Direct {
    /// The direct protocols with `config`'s request timeout.
    pub fn new(config: &NetConfig) -> Direct {
        // One behaviour per protocol: a behaviour with several protocols would send every
        // request on the first one the peer supports.
        let direct = |protocol: StreamProtocol| {
            request_response::Behaviour::with_codec(
                Codec,
                [(protocol, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(config.request_timeout)
                    .with_max_concurrent_streams(256),
            )
        };
        Direct {
            negotiate: direct(NEGOTIATE),
            transfer: direct(TRANSFER),
            revoke: direct(REVOKE),
            offer: direct(OFFER),
            announce: direct(ANNOUNCE),
        }
    }

    /// The request-response behaviour that carries `kind`.
    pub fn for_kind(&mut self, kind: MessageKind) -> &mut request_response::Behaviour<Codec> {
        match kind {
            MessageKind::Negotiation => &mut self.negotiate,
            MessageKind::DataPackage => &mut self.transfer,
            MessageKind::PersonalOffer => &mut self.offer,
            MessageKind::DataRequest | MessageKind::Intent => &mut self.announce,
            MessageKind::Revocation | MessageKind::DeletionReceipt => &mut self.revoke,
        }
    }
}

pub(super) fn behaviour(
    key: &identity::Keypair,
    relay: Option<relay::client::Behaviour>,
    config: &NetConfig,
    registry: &mut Registry,
) -> Result<Behaviour, BuildError> {
    let peer_id = key.public().to_peer_id();
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validate_messages()
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .message_id_fn(message_id)
        .max_transmit_size(MAX_GOSSIP_FRAME_BYTES)
        .max_control_messages_sent(MAX_IWANT_PER_HEARTBEAT)
        .heartbeat_interval(config.heartbeat)
        .history_length(GOSSIP_HISTORY)
        .history_gossip(GOSSIP_HISTORY)
        .build()
        .map_err(build_error)?;
    // No author, sequence number or libp2p signature on gossip: the me2b envelope inside is
    // signed by the key that speaks for it (a business's, or an intent's one-time key), and a
    // node's peer id on its messages would link everything a person publishes.
    let mut gossipsub = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip_config)
        .map_err(build_error)?
        .with_metrics(registry, gossipsub::MetricsConfig::default());
    gossipsub.with_peer_score(peer_score_params(), peer_score_thresholds()).map_err(build_error)?;
    let kad = config.dht.then(|| {
        // Records others put here are checked by the node before they are stored (the only
        // records are businesses' signed profiles: see `super::profile_record`).
        let mut kad_config = kad::Config::new(KAD_PROTOCOL);
        kad_config.set_record_filtering(kad::StoreInserts::FilterBoth);
        kad_config.set_periodic_bootstrap_interval(Some(config.dht_refresh));
        if !config.dht_server {
            // Kademlia reserves every bucket's room up front (256 buckets of k entries, about
            // 1.2 MB at k = 20): a node that only asks keeps smaller buckets.
            kad_config.set_kbucket_size(CLIENT_BUCKET);
            // And its walks look for as many closest servers as its buckets hold, not k. A
            // client stores no record and serves no lookup, so k closest servers would only be
            // k connections: every person's bootstrap walk reached every server at once (a
            // connection each way, with its gossip streams), and at 1,000 nodes that was most
            // of what the DHT cost. A lookup still finds a record the k closest hold: the
            // closest few of them are among those k.
            kad_config.set_replication_factor(CLIENT_BUCKET);
            // Servers go into its routing table when the node says (`super::FirstWalk`), not
            // when Kademlia meets them: each one in would start a walk.
            kad_config.set_kbucket_inserts(kad::BucketInserts::Manual);
        }
        kad_config.set_query_timeout(config.request_timeout * 2);
        let mut kad = kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
        kad.set_mode(Some(if config.dht_server { kad::Mode::Server } else { kad::Mode::Client }));
        kad
    });
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(config.max_connections))
        .with_max_established_incoming(Some(config.max_connections.saturating_sub(config.outbound_reserve)))
        .with_max_established_per_peer(Some(config.max_connections_per_peer))
        .with_max_pending_incoming(Some(config.max_pending_incoming));
    let mdns = if config.mdns {
        Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id).map_err(build_error)?)
    } else {
        None
    };
    let relayed = relay.is_some();
    Ok(Behaviour {
        gate: Gate::default(),
        limits: connection_limits::Behaviour::new(limits),
        // The protocol version and listen addresses are what peers need; the agent names no
        // implementation version. A new listen address is pushed to the peers already connected:
        // a node that dialled before its listener was up (or that moved) is otherwise known
        // only by the address its peers had, and a persona reaches a business only by dialling.
        identify: identify::Behaviour::new(
            identify::Config::new(PROTOCOL_VERSION.into(), key.public())
                .with_agent_version(AGENT.into())
                .with_push_listen_addr_updates(true),
        ),
        kad: kad.into(),
        gossipsub,
        direct: Direct::new(config),
        mdns: mdns.into(),
        relay: relay.into(),
        dcutr: relayed.then(|| dcutr::Behaviour::new(peer_id)).into(),
        autonat: relayed.then(|| autonat::Behaviour::new(peer_id, autonat::Config::default())).into(),
    })
}

/// The k-buckets' size of a node that only asks the DHT (Kademlia's client mode).
const CLIENT_BUCKET: std::num::NonZeroUsize = std::num::NonZeroUsize::new(4).unwrap();

/// What identify says this node runs: the project, no version (peers need the protocol
/// version only).
pub const AGENT: &str = "me2b";

/// The largest gossip RPC frame read: js-libp2p gossipsub's own inbound limit, and more than
/// the largest legal batch ([`MAX_IWANT_PER_HEARTBEAT`] messages of at most `MAX_GOSSIP_MESSAGE_BYTES`
/// with their framing, about 2.2 MiB).
pub const MAX_GOSSIP_FRAME_BYTES: usize = 4 * 1024 * 1024;
/// Most message ids asked of one peer with IWANT per heartbeat (and most IHAVE ids sent).
pub const MAX_IWANT_PER_HEARTBEAT: usize = 128;

/// Heartbeats for which a node advertises (IHAVE) and serves (IWANT) a message it has (the
/// gossipsub defaults are 3 and 5). A node whose mesh is all black holes hears a message only
/// from an honest peer's IHAVE, and each heartbeat an honest peer advertises to about a quarter
/// of its peers outside its mesh: the chance that none picks it falls with every heartbeat of
/// the window. Under a 4:1 black-hole attack (40 people, 160 Sybils, 12 requests, two runs at
/// once on 2 cores) 5 of 4,800 deliveries were missed with 3 heartbeats, none with 8. What it
/// costs: message ids in IHAVE for 8 heartbeats instead of 3, and messages kept for 8
/// heartbeats instead of 5; me2b's topics carry a few messages a second at most.
pub const GOSSIP_HISTORY: usize = 8;

/// A gossip message's id: the SHA-256 of its data. See the module docs.
pub fn message_id(message: &gossipsub::Message) -> gossipsub::MessageId {
    gossipsub::MessageId::new(me2b_proto::identity::Digest::of(&message.data).as_bytes())
}

/// Graylisted below this score: nothing from the peer is processed.
pub const GRAYLIST_THRESHOLD: f64 = -200.0;
/// Gossip to and from the peer stops below this score.
const GOSSIP_THRESHOLD: f64 = -10.0;
/// The most a peer can earn on all topics together ([`gossipsub::PeerScoreParams::topic_score_cap`]).
const TOPIC_SCORE_CAP: f64 = 50.0;
/// What one invalid message costs (squared for several: 2 cost 4 times this).
const INVALID_MESSAGE_WEIGHT: f64 = -70.0;
/// Each application-level penalty point (see [`super::bans`]) costs this much score.
pub const POINT_SCORE: f64 = -10.0;

/// Peer scoring for how me2b runs: invalid messages dominate; quiet topics are normal, so
/// there is no penalty for under-delivery; many nodes on one IP (loopback, a NAT) are fine.
fn peer_score_params() -> gossipsub::PeerScoreParams {
    gossipsub::PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        behaviour_penalty_weight: -1.0,
        behaviour_penalty_decay: gossipsub::score_parameter_decay(Duration::from_secs(600)),
        app_specific_weight: 1.0,
        topic_score_cap: TOPIC_SCORE_CAP,
        ..gossipsub::PeerScoreParams::default()
    }
}

fn peer_score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: GOSSIP_THRESHOLD,
        publish_threshold: -50.0,
        graylist_threshold: GRAYLIST_THRESHOLD,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    }
}

/// Score parameters for one me2b topic, chosen as the gossipsub v1.1 evaluation advises: what
/// a peer can earn is small and slow, what an invalid message costs is large and lasting.
///
/// | | weight | cap | so at most | decay |
/// |---|---|---|---|---|
/// | P1 time in mesh | 1/120 per second | 3,600 s | +30 after an hour | - |
/// | P2 first deliveries | 1 per message | 20 | +20 | to 10 % in 10 min |
/// | P3, P3b mesh deliveries | 0 (quiet topics are normal) | | 0 | |
/// | P4 invalid messages | -70 × count² | | | to 10 % in an hour |
///
/// All topics together are capped at +50 (`TOPIC_SCORE_CAP`), so one invalid message takes
/// any peer, however long in the mesh, to -20 or less: below the gossip threshold of -10, no
/// more gossip to or from it, and its publications forwarded by no one. Its next honest message
/// is still processed (an honest implementation's one bad message loses nothing else). Two
/// invalid messages take it to -230 or less: below the graylist threshold of -200, nothing of
/// its is processed, and the node counts every second of that against it until it is banned
/// (see [`super::bans`]). The penalty fades over the next hour. The rust-libp2p defaults (time
/// in mesh up to +3,600 within seconds) let a peer that had been in the mesh a while send
/// dozens of invalid messages unpunished.
pub fn topic_score_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 1.0 / 120.0,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 3600.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_cap: 20.0,
        first_message_deliveries_decay: gossipsub::score_parameter_decay(Duration::from_secs(600)),
        invalid_message_deliveries_weight: INVALID_MESSAGE_WEIGHT,
        invalid_message_deliveries_decay: gossipsub::score_parameter_decay(Duration::from_secs(3600)),
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        ..gossipsub::TopicScoreParams::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The most one topic's params let a peer earn.
    fn most_earned(params: &gossipsub::TopicScoreParams) -> f64 {
        params.topic_weight
            * (params.time_in_mesh_weight * params.time_in_mesh_cap
                + params.first_message_deliveries_weight * params.first_message_deliveries_cap)
    }

    #[test]
    fn one_invalid_message_outweighs_anything_a_peer_can_earn() {
        let topic = topic_score_params();
        let peer = peer_score_params();
        assert!(topic.validate().is_ok() && peer.validate().is_ok() && peer_score_thresholds().validate().is_ok());
        let earned = most_earned(&topic).min(peer.topic_score_cap);
        let invalid = |count: f64| topic.topic_weight * topic.invalid_message_deliveries_weight * count * count;
        assert!(earned + invalid(1.0) < GOSSIP_THRESHOLD, "one invalid message stops gossip with the peer");
        let one_point = POINT_SCORE * peer.app_specific_weight;
        assert!(invalid(1.0) + one_point > GRAYLIST_THRESHOLD, "but a fresh peer's next honest message counts");
        assert!(earned + invalid(2.0) < GRAYLIST_THRESHOLD, "two graylist it");
        // The negative control: rust-libp2p's defaults let a peer long in the mesh get away.
        let default = gossipsub::TopicScoreParams { topic_weight: 1.0, ..topic };
        let default = gossipsub::TopicScoreParams {
            time_in_mesh_weight: 1.0,
            time_in_mesh_quantum: Duration::from_millis(1),
            ..default
        };
        assert!(most_earned(&default).min(3600.0) + invalid(4.0) > GRAYLIST_THRESHOLD);
    }

    #[test]
    fn the_message_id_is_the_sha256_of_the_data() {
        let message = gossipsub::Message {
            source: None,
            data: b"abc".to_vec(),
            sequence_number: Some(7),
            topic: gossipsub::TopicHash::from_raw("t"),
        };
        // SHA-256("abc"), the FIPS 180-2 test vector.
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let id = message_id(&message);
        let hex: String = id.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }
}
