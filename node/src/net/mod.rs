//! The libp2p side of a node, in four parts: [`codec`] (the direct protocols' frames and
//! acknowledgements), [`behaviour`] (what a node speaks and how gossip is scored), [`swarm`]
//! (building the swarm for real networks or in memory) and [`metrics`] (gossipsub's
//! counters). This module holds the protocol names, the network settings ([`NetConfig`]) and
//! the mapping between protocol keys and libp2p peer ids. The actor that drives a swarm is
//! [`crate::Node`].

pub mod bans;
pub mod behaviour;
pub mod codec;
pub mod first_walk;
pub mod metrics;
pub mod swarm;

pub use behaviour::{Behaviour, BehaviourEvent, Direct, DirectEvent, message_id, topic_score_params};
pub use codec::{Codec, DirectRequest, protocol_for};
pub use first_walk::FirstWalk;
pub use me2b_proto::engine::Answer;
pub use metrics::{GossipCounts, encode_metrics, gossip_registry};
pub use swarm::{build_memory_swarm, build_persona_swarm, build_swarm, listen};

use libp2p::{PeerId, StreamProtocol, identity};
use me2b_proto::engine::Role;
use me2b_proto::identity::PublicKey;
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
/// Live requests and intents handed to a peer when it subscribes to their topic (gossip does not replay them
/// to late joiners).
pub const ANNOUNCE: StreamProtocol = StreamProtocol::new("/me2b/announce/1.0.0");

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
    /// Of [`NetConfig::max_connections`], how many only the node's own dials may use: at most
    /// `max_connections - outbound_reserve` connections may be incoming. Peers that dial in,
    /// however many (Sybils trying to eclipse the node), cannot take the places of the peers
    /// the node chose itself, and gossipsub's outbound mesh quota keeps those in its meshes.
    pub outbound_reserve: u32,
    /// Above this many connected peers, the node closes connections it does not need, down
    /// to [`NetConfig::trim_to`]. Every connection between two me2b nodes also carries
    /// gossipsub, whose streams keep it open for good: without trimming, each peer a DHT walk
    /// or a lookup ever touched would stay connected (at 300 nodes in the simulator, nearly
    /// all of them). Closed: gossip peers that dialled in, outside every mesh, newest first,
    /// connected longer than [`NetConfig::trim_grace`] (a walk or an exchange on them has
    /// ended). Peers the node dialled itself, mesh peers, a business's audience (peers that
    /// follow a request topic) and connections without gossip (a persona's, an exchange's,
    /// which close once idle) are never closed by it.
    pub trim_above: usize,
    /// Where trimming stops.
    pub trim_to: usize,
    /// Connections younger than this are not trimmed: a DHT walk or an exchange on them may
    /// still be under way (DHT queries take about a second).
    pub trim_grace: Duration,
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
    /// Most direct messages handled from one peer per [`NetConfig::gossip_window`]; more are
    /// answered "busy" before they cost any work or write (the sender's outbox retries).
    pub direct_per_peer: u32,
    /// Whether to run the Kademlia DHT (peer discovery beyond the bootstrap peers). Always on
    /// for a real node; a simulation may turn it off to keep the topology it drew.
    pub dht: bool,
    /// Whether the node serves the DHT (answers queries, stores records) or only asks it
    /// (Kademlia's client mode). A business serves: its profile lives there and people look
    /// it up. A person only asks, by default: its node is not dialled for others' lookups and
    /// keeps no one's records, and the DHT's walks stay among the nodes that serve it, so a
    /// person's node keeps a handful of connections, not one to most of the network (see the
    /// simulator's `scale-1000-dht`). A person's node that is publicly reachable and wants to
    /// help (a hub, a bootstrap node) may serve.
    pub dht_server: bool,
    /// How often Kademlia walks the network to refresh its routing table (its own default,
    /// 5 minutes; the simulator dilates it with the time scale). A DHT query gives up after
    /// twice [`NetConfig::request_timeout`] (Kademlia's own 60 s by default).
    pub dht_refresh: Duration,
    /// A DHT client holds its first walk back to a moment of its own within this (drawn from
    /// its peer id): nodes that start together (many restarted at once, the simulator's
    /// thousand) would otherwise all walk at the same second, each to every server, and every
    /// walk's connection costs both ends about 76 KB while it lasts (measured in the README's
    /// DHT section). A lookup before that moment walks at once, and so does a node that,
    /// [`NetConfig::trim_grace`] after it started, has no peer following one of its topics
    /// (only the DHT can find it some). Zero walks as soon as a server is known; a server
    /// (`dht_server`) never waits.
    pub dht_boot_spread: Duration,
    /// The modelled links to the peers it dials (memory transport only; the simulator).
    pub link_model: Option<std::sync::Arc<dyn crate::link::LinkModel>>,
    /// How many peers the node tries to stay connected to: peers found through the DHT (which
    /// Kademlia walks by itself when its first peers arrive and every 5 minutes) are dialled
    /// while it has fewer.
    pub target_peers: usize,
    /// How often a person's personas connect to the businesses whose agreements allow
    /// contact, so that what waits for them (offers) can come (see [`crate::personas`]).
    pub check_in: Duration,
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
            Role::Business => NetConfig {
                max_connections: 4096,
                outbound_reserve: 512,
                max_pending_incoming: 1024,
                // A business is the hub of its customers' gossip (a campaign reaches the
                // people connected to it at once): it trims only far above a person's mark.
                trim_above: 1024,
                trim_to: 768,
                ..default
            },
            // mDNS would announce a person's node to everyone on its LAN.
            Role::Person => {
                NetConfig { mdns: false, dht_server: false, dht_boot_spread: Duration::from_secs(30), ..default }
            }
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
            outbound_reserve: 128,
            trim_above: 48,
            trim_to: 32,
            trim_grace: Duration::from_secs(5),
            max_connections_per_peer: 4,
            max_pending_incoming: 128,
            heartbeat: Duration::from_secs(1),
            gossip_per_peer: 1000,
            gossip_window: Duration::from_secs(10),
            direct_per_peer: 1000,
            target_peers: 12,
            check_in: Duration::from_secs(600),
            link_model: None,
            dht: true,
            dht_server: true,
            dht_refresh: Duration::from_secs(300),
            dht_boot_spread: Duration::ZERO,
        }
    }
}

/// Why the swarm could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the network: {0}")]
pub struct BuildError(pub(crate) String);

pub(crate) fn build_error(error: impl std::fmt::Display) -> BuildError {
    BuildError(error.to_string())
}

/// The libp2p keypair for a node's 32-byte ed25519 secret: the same key signs in libp2p and in
/// the protocol.
pub fn libp2p_keypair(secret: [u8; 32]) -> Result<identity::Keypair, BuildError> {
    identity::Keypair::ed25519_from_bytes(secret).map_err(build_error)
}

/// Where a business's signed profile lives in the DHT: `me2b/v1/profile/` and its 32-byte key.
pub fn profile_key(business: &PublicKey) -> libp2p::kad::RecordKey {
    libp2p::kad::RecordKey::new(&[PROFILE_RECORD.as_bytes(), business.as_bytes()].concat())
}

const PROFILE_RECORD: &str = "me2b/v1/profile/";

/// The business and its profile, if `record` is a business's profile under its own key, signed
/// by that key (an encoded `SignedProfile`); `None` for anything else, which no node stores.
pub fn profile_record(record: &libp2p::kad::Record) -> Option<(PublicKey, me2b_proto::profile::SignedProfile)> {
    use prost::Message as _;
    let key = record.key.as_ref().strip_prefix(PROFILE_RECORD.as_bytes())?;
    let business = PublicKey::try_from(key).ok()?;
    let wire = me2b_proto::wire::SignedProfile::decode(record.value.as_slice()).ok()?;
    let signed = me2b_proto::profile::SignedProfile::try_from(wire).ok()?;
    signed.open(&business).ok()?;
    Some((business, signed))
}

/// The DHT record of a business's signed profile.
pub fn profile_as_record(business: &PublicKey, signed: &me2b_proto::profile::SignedProfile) -> libp2p::kad::Record {
    use prost::Message as _;
    libp2p::kad::Record::new(profile_key(business), me2b_proto::wire::SignedProfile::from(signed).encode_to_vec())
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

    #[test]
    fn only_a_business_own_signed_profile_is_a_profile_record() {
        let stride = me2b_proto::identity::Keypair::from_secret_bytes(&[2; 32]);
        let rogue = me2b_proto::identity::Keypair::from_secret_bytes(&[6; 32]);
        let profile = || me2b_proto::profile::BusinessProfile { name: "Stride".into(), ..Default::default() };
        let signed = profile().sign(&stride);
        let record = profile_as_record(&stride.public(), &signed);
        assert_eq!(profile_record(&record).map(|(key, _)| key), Some(stride.public()));
        // The rogue's own profile, put under Stride's key: refused.
        let forged = profile_as_record(&stride.public(), &profile().sign(&rogue));
        assert!(profile_record(&forged).is_none());
        // Anything else under any key: refused.
        let other = libp2p::kad::Record::new(libp2p::kad::RecordKey::new(b"something"), signed.bytes.clone());
        assert!(profile_record(&other).is_none());
    }

    #[test]
    fn peer_ids_and_protocol_keys_convert_both_ways() {
        let secret = [7u8; 32];
        let key = libp2p_keypair(secret).unwrap();
        let protocol = me2b_proto::identity::Keypair::from_secret_bytes(&secret).public();
        assert_eq!(peer_id(&protocol), Some(key.public().to_peer_id()));
        assert_eq!(public_key(&key.public().to_peer_id()), Some(protocol));
    }
}
