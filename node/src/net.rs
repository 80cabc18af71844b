//! The libp2p side of a node: the [`Behaviour`] (identify, Kademlia, gossipsub, mDNS, relay
//! client, DCUtR, AutoNAT, connection limits, and one request-response behaviour for the four
//! direct protocols), the length-delimited codec for direct messages, and how the swarm is
//! built for real networks (TCP, QUIC, DNS, relay) or in memory (tests, simulator).

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::{
    PeerId, StreamProtocol, Swarm, Transport as _, autonat, connection_limits, dcutr, gossipsub, identify, identity,
    kad, mdns, noise, relay, request_response, tcp, yamux,
};
use me2b_proto::engine::Role;
use me2b_proto::envelope::MessageKind;
use me2b_proto::identity::PublicKey;
use me2b_proto::limits::{MAX_DIRECT_MESSAGE_BYTES, MAX_GOSSIP_MESSAGE_BYTES};
use prometheus_client::registry::Registry;
use std::io;
use std::time::Duration;

/// The identify protocol version every me2b node announces.
pub const PROTOCOL_VERSION: &str = "me2b/1";
/// The Kademlia protocol: me2b's own DHT, not IPFS's.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/me2b/kad/1.0.0");
/// Negotiation messages.
pub const NEGOTIATE: StreamProtocol = StreamProtocol::new("/me2b/negotiate/1.0.0");
/// Data packages.
pub const TRANSFER: StreamProtocol = StreamProtocol::new("/me2b/transfer/1.0.0");
/// Revocations and deletion receipts.
pub const REVOKE: StreamProtocol = StreamProtocol::new("/me2b/revoke/1.0.0");
/// Personal offers.
pub const OFFER: StreamProtocol = StreamProtocol::new("/me2b/offer/1.0.0");
/// Live requests and intents handed to a peer when it connects (gossip does not replay them
/// to late joiners).
pub const ANNOUNCE: StreamProtocol = StreamProtocol::new("/me2b/announce/1.0.0");

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

/// The protocol that carries a direct message kind.
pub fn protocol_for(kind: MessageKind) -> StreamProtocol {
    match kind {
        MessageKind::Negotiation => NEGOTIATE,
        MessageKind::DataPackage => TRANSFER,
        MessageKind::PersonalOffer => OFFER,
        MessageKind::DataRequest | MessageKind::Intent => ANNOUNCE,
        MessageKind::Revocation | MessageKind::DeletionReceipt => REVOKE,
    }
}

fn kind_byte(kind: MessageKind) -> u8 {
    match kind {
        MessageKind::DataRequest => 1,
        MessageKind::Intent => 2,
        MessageKind::Negotiation => 3,
        MessageKind::DataPackage => 4,
        MessageKind::PersonalOffer => 5,
        MessageKind::Revocation => 6,
        MessageKind::DeletionReceipt => 7,
    }
}

fn kind_of(byte: u8, protocol: &StreamProtocol) -> Option<MessageKind> {
    let kind = match byte {
        1 => MessageKind::DataRequest,
        2 => MessageKind::Intent,
        3 => MessageKind::Negotiation,
        4 => MessageKind::DataPackage,
        5 => MessageKind::PersonalOffer,
        6 => MessageKind::Revocation,
        7 => MessageKind::DeletionReceipt,
        _ => return None,
    };
    (protocol_for(kind) == *protocol).then_some(kind)
}

/// A direct message: its kind and the signed envelope.
#[derive(Debug, Clone)]
pub struct DirectRequest {
    /// What it is.
    pub kind: MessageKind,
    /// The signed envelope.
    pub bytes: Vec<u8>,
}

/// The receiver's answer to a direct message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Handled.
    Accepted,
    /// Refused, through no fault of the sender (late, duplicate, busy).
    Ignored,
    /// Refused as invalid.
    Rejected,
}

/// Reads and writes direct messages: an unsigned varint length, capped before anything is
/// allocated, then a kind byte and the envelope. Responses are one byte.
#[derive(Debug, Clone, Copy, Default)]
pub struct Codec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut length: u64 = 0;
    for shift in (0..).step_by(7).take(10) {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        length |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
        if shift >= 56 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "length varint too long"));
        }
    }
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    if length > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {length} bytes exceeds {max}")));
    }
    let mut frame = vec![0u8; length];
    io.read_exact(&mut frame).await?;
    Ok(frame)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, frame: &[u8]) -> io::Result<()> {
    let mut length = frame.len() as u64;
    let mut prefix = Vec::with_capacity(10);
    loop {
        let byte = (length & 0x7f) as u8;
        length >>= 7;
        if length == 0 {
            prefix.push(byte);
            break;
        }
        prefix.push(byte | 0x80);
    }
    io.write_all(&prefix).await?;
    io.write_all(frame).await?;
    io.close().await
}

impl request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = DirectRequest;
    type Response = Ack;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<DirectRequest> {
        let mut frame = read_frame(io, MAX_DIRECT_MESSAGE_BYTES + 1).await?;
        if frame.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "empty frame"));
        }
        let kind = kind_of(frame[0], protocol)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "message kind does not fit the protocol"))?;
        frame.remove(0);
        Ok(DirectRequest { kind, bytes: frame })
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Ack> {
        let frame = read_frame(io, 1).await?;
        match frame.first() {
            Some(0) => Ok(Ack::Accepted),
            Some(1) => Ok(Ack::Ignored),
            Some(2) => Ok(Ack::Rejected),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "bad response")),
        }
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: DirectRequest,
    ) -> io::Result<()> {
        let mut frame = Vec::with_capacity(1 + request.bytes.len());
        frame.push(kind_byte(request.kind));
        frame.extend_from_slice(&request.bytes);
        write_frame(io, &frame).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        ack: Ack,
    ) -> io::Result<()> {
        let byte = match ack {
            Ack::Accepted => 0,
            Ack::Ignored => 1,
            Ack::Rejected => 2,
        };
        write_frame(io, &[byte]).await
    }
}

pub use behaviour::{Behaviour, BehaviourEvent};

mod behaviour {
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

/// Network settings.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Whether to discover peers on the LAN.
    pub mdns: bool,
    /// Timeout of a whole direct exchange (request and response).
    pub request_timeout: Duration,
    /// How long an idle connection stays open.
    pub idle_timeout: Duration,
    /// Most established connections.
    pub max_connections: u32,
    /// Most connections per peer.
    pub max_connections_per_peer: u32,
    /// Most incoming connections still in their handshake.
    pub max_pending_incoming: u32,
    /// Gossipsub heartbeat (shorter in tests).
    pub heartbeat: Duration,
    /// Most gossip messages handled from one peer per [`NetConfig::gossip_window`]; more are
    /// dropped unhandled.
    pub gossip_per_peer: u32,
    /// The window of the per-peer gossip limit.
    pub gossip_window: Duration,
    /// Whether to run the Kademlia DHT (peer discovery beyond the bootstrap peers). Always on
    /// for a real node; a simulation may turn it off to keep the topology it drew.
    pub dht: bool,
    /// The modelled links to the peers it dials (memory transport only; the simulator).
    pub link_model: Option<std::sync::Arc<dyn crate::link::LinkModel>>,
    /// How many peers the node tries to stay connected to: peers found through the DHT (which
    /// Kademlia walks by itself when its first peers arrive and every 5 minutes) are dialled
    /// while it has fewer.
    pub target_peers: usize,
}

impl NetConfig {
    /// The defaults for a node of `role`. A business answers everyone who responds to its
    /// campaigns, each over a direct connection, so its connection budget is eight times a
    /// person's, and it lets more handshakes run at once: a campaign brings its answers in a
    /// burst (measured in the simulator: 400 people answering within a second, 64 handshakes
    /// at a time, left 320 of them retrying in step until their negotiations gave up).
    pub fn for_role(role: Role) -> Self {
        let default = NetConfig::default();
        match role {
            Role::Business => NetConfig { max_connections: 4096, max_pending_incoming: 1024, ..default },
            Role::Person => default,
        }
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            mdns: true,
            request_timeout: Duration::from_secs(30),
            // gossipsub keeps its mesh connections open; the others (a negotiation, a
            // transfer) are closed after this long unused, which frees a business's budget.
            idle_timeout: Duration::from_secs(30),
            max_connections: 512,
            max_connections_per_peer: 4,
            max_pending_incoming: 128,
            heartbeat: Duration::from_secs(1),
            gossip_per_peer: 1000,
            gossip_window: Duration::from_secs(10),
            target_peers: 12,
            link_model: None,
            dht: true,
        }
    }
}

/// Why the swarm could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the network: {0}")]
pub struct BuildError(String);

fn build_error(error: impl std::fmt::Display) -> BuildError {
    BuildError(error.to_string())
}

fn behaviour(
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

/// A swarm for real networks: TCP and QUIC, Noise, Yamux, DNS, and a relay client.
pub fn build_swarm(
    key: identity::Keypair,
    config: &NetConfig,
    registry: &mut Registry,
) -> Result<Swarm<Behaviour>, BuildError> {
    Ok(libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(build_error)?
        .with_quic()
        .with_dns()
        .map_err(build_error)?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(build_error)?
        .with_behaviour(|key, relay| behaviour(key, Some(relay), config, registry).map_err(|e| e.0.into()))
        .map_err(build_error)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
        .build())
}

/// A swarm on libp2p's in-memory transport (with Noise and Yamux), for tests and the
/// simulator.
pub fn build_memory_swarm(
    key: identity::Keypair,
    config: &NetConfig,
    registry: &mut Registry,
) -> Result<Swarm<Behaviour>, BuildError> {
    static CONNECTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let link_model = config.link_model.clone();
    Ok(libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(|key| {
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                MemoryTransport::default()
                    .and_then(move |connection, endpoint| {
                        let remote = endpoint.get_remote_address().clone();
                        let link = match &link_model {
                            Some(model) if endpoint.is_dialer() => model.link(&remote).map(|l| (l, model.clone())),
                            _ => None,
                        };
                        let seed = CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        async move {
                            Ok::<_, io::Error>(match link {
                                Some((link, model)) => crate::link::modelled(connection, link, model, remote, seed),
                                None => Box::new(connection) as Box<dyn crate::link::Io>,
                            })
                        }
                    })
                    .upgrade(Version::V1)
                    .authenticate(noise::Config::new(key)?)
                    .multiplex(yamux::Config::default())
                    .boxed(),
            )
        })
        .map_err(build_error)?
        .with_behaviour(|key| behaviour(key, None, config, registry).map_err(|e| e.0.into()))
        .map_err(build_error)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
        .build())
}

/// The registry gossipsub counts into (messages received before and after duplicates are
/// filtered, invalid messages, mesh sizes, scores): the daemon serves it at `/metrics` and
/// [`GossipCounts`] reads the headline numbers from it.
pub fn gossip_registry() -> Registry {
    Registry::with_prefix("me2b_gossipsub")
}

/// Gossip messages this node received, from gossipsub's own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GossipCounts {
    /// Messages that arrived, duplicates included.
    pub arrived: u64,
    /// Messages seen for the first time.
    pub first_seen: u64,
    /// Copies of messages already seen (arrived − first seen − invalid before the check).
    pub duplicates: u64,
}

/// The registry in the OpenMetrics text format.
pub fn encode_metrics(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, registry);
    text
}

impl GossipCounts {
    /// Reads the counts from the registry's text form.
    pub fn read(registry: &Registry) -> GossipCounts {
        let text = encode_metrics(registry);
        let arrived = sum_samples(&text, "me2b_gossipsub_topic_msg_recv_counts_unfiltered_total");
        let first_seen = sum_samples(&text, "me2b_gossipsub_topic_msg_recv_counts_total");
        let invalid = sum_samples(&text, "me2b_gossipsub_invalid_messages_per_topic_total");
        GossipCounts { arrived, first_seen, duplicates: arrived.saturating_sub(first_seen).saturating_sub(invalid) }
    }
}

impl std::ops::AddAssign for GossipCounts {
    fn add_assign(&mut self, other: GossipCounts) {
        self.arrived += other.arrived;
        self.first_seen += other.first_seen;
        self.duplicates += other.duplicates;
    }
}

/// The sum of a metric's samples over all its labels, in Prometheus text.
fn sum_samples(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

/// The libp2p keypair for a node's 32-byte ed25519 secret: the same key signs in libp2p and in
/// the protocol.
pub fn libp2p_keypair(secret: [u8; 32]) -> Result<identity::Keypair, BuildError> {
    identity::Keypair::ed25519_from_bytes(secret).map_err(build_error)
}

/// The peer id of a protocol key.
pub fn peer_id(key: &PublicKey) -> Option<PeerId> {
    let public = identity::ed25519::PublicKey::try_from_bytes(key.as_bytes()).ok()?;
    Some(identity::PublicKey::from(public).to_peer_id())
}

/// The protocol key of a peer id, if it is an ed25519 key (every me2b node's is).
pub fn public_key(peer: &PeerId) -> Option<PublicKey> {
    let multihash = peer.as_ref();
    if multihash.code() != 0 {
        return None; // not an identity multihash: not an inlined ed25519 key
    }
    let public = identity::PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    let ed25519 = public.try_into_ed25519().ok()?;
    PublicKey::try_from(&ed25519.to_bytes()[..]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;
    use libp2p::request_response::Codec as _;

    #[test]
    fn peer_ids_and_protocol_keys_convert_both_ways() {
        let secret = [7u8; 32];
        let key = libp2p_keypair(secret).unwrap();
        let protocol = me2b_proto::identity::Keypair::from_secret_bytes(&secret).public();
        assert_eq!(peer_id(&protocol), Some(key.public().to_peer_id()));
        assert_eq!(public_key(&key.public().to_peer_id()), Some(protocol));
    }

    #[tokio::test]
    async fn frames_round_trip_and_oversized_ones_are_refused_before_allocating() {
        let mut codec = Codec;
        let mut buffer = Cursor::new(Vec::new());
        let request = DirectRequest { kind: MessageKind::Revocation, bytes: vec![1, 2, 3] };
        codec.write_request(&REVOKE, &mut buffer, request).await.unwrap();
        let mut read = Cursor::new(buffer.into_inner());
        let back = codec.read_request(&REVOKE, &mut read).await.unwrap();
        assert_eq!((back.kind, back.bytes), (MessageKind::Revocation, vec![1, 2, 3]));

        // A revocation on the offer protocol is refused.
        let mut buffer = Cursor::new(Vec::new());
        codec
            .write_request(&REVOKE, &mut buffer, DirectRequest { kind: MessageKind::Revocation, bytes: vec![] })
            .await
            .unwrap();
        assert!(codec.read_request(&OFFER, &mut Cursor::new(buffer.into_inner())).await.is_err());

        // A length prefix claiming 1 GiB fails before any allocation of that size.
        let mut huge = Vec::new();
        let mut length = 1u64 << 30;
        while length >= 0x80 {
            huge.push((length as u8) | 0x80);
            length >>= 7;
        }
        huge.push(length as u8);
        assert!(codec.read_request(&REVOKE, &mut Cursor::new(huge)).await.is_err());
        // Garbage varints are refused.
        assert!(codec.read_request(&REVOKE, &mut Cursor::new(vec![0xff; 20])).await.is_err());
    }
}
