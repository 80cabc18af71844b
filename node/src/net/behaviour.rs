//! The [`Behaviour`]: everything a me2b node speaks (identify, Kademlia, gossipsub, mDNS, relay
//! client, DCUtR, AutoNAT, connection limits, and one request-response behaviour per direct
//! protocol), how it is put together from a [`NetConfig`], and the gossip scoring me2b runs.

use super::codec::Codec;
use super::{
    ANNOUNCE, BuildError, KAD_PROTOCOL, NEGOTIATE, NetConfig, OFFER, PROTOCOL_VERSION, REVOKE, TRANSFER, build_error,
};
use libp2p::{
    StreamProtocol, autonat, connection_limits, dcutr, gossipsub, identify, identity, kad, mdns, relay,
    request_response,
};
use me2b_proto::envelope::MessageKind;
use me2b_proto::limits::MAX_GOSSIP_MESSAGE_BYTES;
use prometheus_client::registry::Registry;

pub use derived::{Behaviour, BehaviourEvent};

mod derived {
    // The derive generates `BehaviourEvent`, whose variants carry no docs.
    #![allow(missing_docs)]

    use super::Codec;
    use libp2p::swarm::NetworkBehaviour;
    use libp2p::swarm::behaviour::toggle::Toggle;
    use libp2p::{autonat, connection_limits, dcutr, gossipsub, identify, kad, mdns, relay, request_response};

    /// Everything a me2b node speaks.
    #[derive(NetworkBehaviour)]
    pub struct Behaviour {
        /// Connection limits.
        pub limits: connection_limits::Behaviour,
        /// identify (`me2b/1`).
        pub identify: identify::Behaviour,
        /// Kademlia on `/me2b/kad/1.0.0` (off only in simulations that fix the topology).
        pub kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
        /// Requests and intents.
        pub gossipsub: gossipsub::Behaviour,
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
        /// LAN discovery (off in tests and the simulator).
        pub mdns: Toggle<mdns::tokio::Behaviour>,
        /// Reaching and being reached through relays.
        pub relay: Toggle<relay::client::Behaviour>,
        /// Hole punching through relayed connections.
        pub dcutr: Toggle<dcutr::Behaviour>,
        /// Learning whether this node is publicly reachable.
        pub autonat: Toggle<autonat::Behaviour>,
    }
}

impl Behaviour {
    /// The request-response behaviour that carries `kind`.
    pub fn direct(&mut self, kind: MessageKind) -> &mut request_response::Behaviour<Codec> {
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
        .validation_mode(gossipsub::ValidationMode::Strict)
        .max_transmit_size(MAX_GOSSIP_MESSAGE_BYTES + 1024)
        .heartbeat_interval(config.heartbeat)
        .build()
        .map_err(build_error)?;
    let mut gossipsub = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), gossip_config)
        .map_err(build_error)?
        .with_metrics(registry, gossipsub::MetricsConfig::default());
    gossipsub.with_peer_score(peer_score_params(), peer_score_thresholds()).map_err(build_error)?;
    let kad = config.dht.then(|| {
        let mut kad =
            kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad::Config::new(KAD_PROTOCOL));
        kad.set_mode(Some(kad::Mode::Server));
        kad
    });
    // One behaviour per protocol: a behaviour with several protocols would send every request
    // on the first one the peer supports.
    let direct = |protocol: StreamProtocol| {
        request_response::Behaviour::with_codec(
            Codec,
            [(protocol, request_response::ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(config.request_timeout)
                .with_max_concurrent_streams(256),
        )
    };
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(config.max_connections))
        .with_max_established_per_peer(Some(config.max_connections_per_peer))
        .with_max_pending_incoming(Some(config.max_pending_incoming));
    let mdns = if config.mdns {
        Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id).map_err(build_error)?)
    } else {
        None
    };
    let relayed = relay.is_some();
    Ok(Behaviour {
        limits: connection_limits::Behaviour::new(limits),
        identify: identify::Behaviour::new(identify::Config::new(PROTOCOL_VERSION.into(), key.public())),
        kad: kad.into(),
        gossipsub,
        negotiate: direct(NEGOTIATE),
        transfer: direct(TRANSFER),
        revoke: direct(REVOKE),
        offer: direct(OFFER),
        announce: direct(ANNOUNCE),
        mdns: mdns.into(),
        relay: relay.into(),
        dcutr: relayed.then(|| dcutr::Behaviour::new(peer_id)).into(),
        autonat: relayed.then(|| autonat::Behaviour::new(peer_id, autonat::Config::default())).into(),
    })
}

/// Peer scoring for how me2b runs: invalid messages cost a lot; quiet topics are normal, so
/// there is no penalty for under-delivery; many nodes on one IP (loopback, a NAT) are fine.
fn peer_score_params() -> gossipsub::PeerScoreParams {
    gossipsub::PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        behaviour_penalty_weight: -1.0,
        app_specific_weight: 1.0,
        topic_score_cap: 100.0,
        ..gossipsub::PeerScoreParams::default()
    }
}

fn peer_score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    }
}

/// Score parameters for one me2b topic: each invalid message costs the sender heavily.
pub fn topic_score_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        ..gossipsub::TopicScoreParams::default()
    }
}
