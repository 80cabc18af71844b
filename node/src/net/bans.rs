//! Misbehaviour with memory and an exit: a bounded table of decaying penalty points per peer,
//! bans with exponential expiry, and the [`Gate`] behaviour that refuses a banned peer's
//! connections while its ban lasts.
//!
//! The policy, in numbers:
//! - a peer earns one point per offence (an invalid message, a gossip score below the graylist
//!   threshold); points halve every [`POINTS_HALF_LIFE`], so an honest peer's rare mistake fades;
//! - at [`BAN_AT`] points the peer is banned: its connections are closed and refused, for
//!   [`FIRST_BAN`] the first time and twice as long at every ban after that, up to [`MAX_BAN`].
//!   The ban count is remembered for [`MAX_BAN`] after a ban ends, so a peer that comes back and
//!   offends again is banned longer;
//! - a ban also counts against the peer's address range (an IPv4 address or an IPv6 /64: what
//!   one host holds; not an IPv4 /24, which a carrier's NAT shares among strangers). A range
//!   from which [`RANGE_BAN_AT`] identities were banned is banned itself, by the same rule, and
//!   its new connections are refused before their handshake: fresh identities cost an attacker
//!   nothing, addresses cost something. The price: honest nodes behind the same address (a
//!   household or carrier NAT) are refused with it while the range ban lasts, which is why it
//!   takes three banned identities and starts at a minute;
//! - the tables hold at most [`MAX_PEER_RECORDS`] peers and [`MAX_RANGE_RECORDS`] ranges. When
//!   full, what is forgettable goes first (no ban, points faded, no recent ban), then the record
//!   whose ban ends soonest: ten thousand identities cannot grow the table, and each of them is
//!   still banned on its own offences.
//!
//! A banned peer's redial is refused once its identity is known, after the Noise handshake
//! (`handle_established_*`): libp2p gives a behaviour no earlier point at which the peer id is
//! known. A banned range is refused before the handshake.

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr, multiaddr::Protocol};
use libp2p::swarm::behaviour::ConnectionEstablished;
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::Hash;
use std::net::IpAddr;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Points at which a peer is banned.
pub const BAN_AT: f64 = 5.0;
/// Banned identities at which their address range is banned.
pub const RANGE_BAN_AT: f64 = 3.0;
/// How long it takes a peer's points to halve.
pub const POINTS_HALF_LIFE: Duration = Duration::from_secs(10 * 60);
/// The first ban's length; each later one doubles it.
pub const FIRST_BAN: Duration = Duration::from_secs(60);
/// The longest ban, and how long the ban count is remembered after a ban ends.
pub const MAX_BAN: Duration = Duration::from_secs(24 * 3600);
/// Most peers whose misbehaviour is remembered at once.
pub const MAX_PEER_RECORDS: usize = 4096;
/// Most address ranges remembered at once.
pub const MAX_RANGE_RECORDS: usize = 1024;

/// An address range: what one host holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Range {
    /// One IPv4 address.
    V4([u8; 4]),
    /// One IPv6 /64.
    V6([u8; 8]),
}

impl Range {
    /// The range of an IP address.
    pub fn of(ip: IpAddr) -> Range {
        match ip {
            IpAddr::V4(v4) => Range::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let mut prefix = [0u8; 8];
                prefix.copy_from_slice(&v6.octets()[..8]);
                Range::V6(prefix)
            }
        }
    }

    /// The range of the IP address a multiaddress starts with, if it does.
    pub fn of_address(address: &Multiaddr) -> Option<Range> {
        match address.iter().next()? {
            Protocol::Ip4(ip) => Some(Range::of(IpAddr::V4(ip))),
            Protocol::Ip6(ip) => Some(Range::of(IpAddr::V6(ip))),
            _ => None,
        }
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Range::V4(octets) => write!(f, "{}", std::net::Ipv4Addr::from(*octets)),
            Range::V6(prefix) => {
                let mut octets = [0u8; 16];
                octets[..8].copy_from_slice(prefix);
                write!(f, "{}/64", std::net::Ipv6Addr::from(octets))
            }
        }
    }
}

/// One peer's or range's record.
#[derive(Debug, Clone, Copy)]
struct Record {
    points: f64,
    at: Instant,
    bans: u32,
    until: Option<Instant>,
}

impl Record {
    fn new(now: Instant) -> Self {
        Record { points: 0.0, at: now, bans: 0, until: None }
    }

    fn points(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.points * 0.5f64.powf(elapsed / POINTS_HALF_LIFE.as_secs_f64())
    }

    fn banned(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| until > now)
    }

    fn forgettable(&self, now: Instant) -> bool {
        let remembered = self.until.is_some_and(|until| now.saturating_duration_since(until) < MAX_BAN);
        !remembered && self.points(now) < 0.05
    }

    /// Adds `points`; bans when they reach `ban_at` and returns the ban's length.
    fn add(&mut self, points: f64, ban_at: f64, now: Instant) -> Option<Duration> {
        self.points = self.points(now) + points;
        self.at = now;
        // Within 1 %: points fade continuously, so five offences in a row add up to a hair
        // under five.
        if self.points < ban_at * 0.99 || self.banned(now) {
            return None;
        }
        let length = FIRST_BAN.saturating_mul(1u32 << self.bans.min(16)).min(MAX_BAN);
        self.bans = self.bans.saturating_add(1);
        self.until = Some(now + length);
        // A ban serves the points it was for; what comes after counts afresh.
        self.points = 0.0;
        Some(length)
    }
}

/// A bounded table of records.
#[derive(Debug)]
struct Table<K> {
    records: HashMap<K, Record>,
    capacity: usize,
}

impl<K: Hash + Eq + Copy> Table<K> {
    fn new(capacity: usize) -> Self {
        Table { records: HashMap::new(), capacity }
    }

    fn record(&mut self, key: K, now: Instant) -> &mut Record {
        if !self.records.contains_key(&key) && self.records.len() >= self.capacity {
            self.records.retain(|_, record| !record.forgettable(now));
            if self.records.len() >= self.capacity {
                // The one whose ban ends soonest (no ban at all first), then the fewest points.
                let first = self
                    .records
                    .iter()
                    .min_by(|(_, a), (_, b)| {
                        let ends = |r: &Record| r.until.filter(|until| *until > now);
                        ends(a).cmp(&ends(b)).then(a.points(now).total_cmp(&b.points(now)))
                    })
                    .map(|(key, _)| *key);
                if let Some(first) = first {
                    self.records.remove(&first);
                }
            }
        }
        self.records.entry(key).or_insert_with(|| Record::new(now))
    }

    fn banned(&self, key: &K, now: Instant) -> bool {
        self.records.get(key).is_some_and(|record| record.banned(now))
    }
}

/// What an offence led to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Penalty {
    /// The peer's points after it (0 right after a ban).
    pub points: f64,
    /// The ban it led to, if any.
    pub banned_for: Option<Duration>,
    /// The ban of the peer's range it led to, if any.
    pub range_banned_for: Option<Duration>,
}

/// Misbehaviour per peer and per address range. See the module docs for the policy.
#[derive(Debug)]
pub struct Bans {
    peers: Table<PeerId>,
    ranges: Table<Range>,
}

impl Default for Bans {
    fn default() -> Self {
        Bans { peers: Table::new(MAX_PEER_RECORDS), ranges: Table::new(MAX_RANGE_RECORDS) }
    }
}

impl Bans {
    /// One offence by `peer`, connected from `range` if known.
    pub fn offence(&mut self, peer: PeerId, range: Option<Range>, now: Instant) -> Penalty {
        let record = self.peers.record(peer, now);
        let banned_for = record.add(1.0, BAN_AT, now);
        let points = record.points;
        let range_banned_for = match (banned_for, range) {
            (Some(_), Some(range)) => self.ranges.record(range, now).add(1.0, RANGE_BAN_AT, now),
            _ => None,
        };
        Penalty { points, banned_for, range_banned_for }
    }

    /// `peer`'s points now.
    pub fn points(&self, peer: &PeerId, now: Instant) -> f64 {
        self.peers.records.get(peer).map_or(0.0, |record| record.points(now))
    }

    /// Whether `peer` is banned now.
    pub fn is_banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.peers.banned(peer, now)
    }

    /// Whether `range` is banned now.
    pub fn is_range_banned(&self, range: &Range, now: Instant) -> bool {
        self.ranges.banned(range, now)
    }

    /// The peers with points or a ban, and their points now (for their gossip score).
    pub fn scored(&self, now: Instant) -> impl Iterator<Item = (PeerId, f64)> + '_ {
        self.peers.records.iter().map(move |(peer, record)| (*peer, record.points(now)))
    }

    /// How many peers and ranges are remembered.
    pub fn len(&self) -> (usize, usize) {
        (self.peers.records.len(), self.ranges.records.len())
    }
}

/// The behaviour that refuses banned peers and ranges, and knows each connected peer's range.
#[derive(Debug, Default)]
pub struct Gate {
    /// The bans.
    pub bans: Bans,
    ranges: HashMap<ConnectionId, (PeerId, Range)>,
}

impl Gate {
    /// The range `peer` is connected from, if it is.
    pub fn range_of(&self, peer: &PeerId) -> Option<Range> {
        self.ranges.values().find(|(connected, _)| connected == peer).map(|(_, range)| *range)
    }

    fn check(&self, peer: &PeerId, address: &Multiaddr) -> Result<(), ConnectionDenied> {
        let now = Instant::now();
        if self.bans.is_banned(peer, now) {
            return Err(ConnectionDenied::new(Refused("peer is banned")));
        }
        if Range::of_address(address).is_some_and(|range| self.bans.is_range_banned(&range, now)) {
            return Err(ConnectionDenied::new(Refused("address range is banned")));
        }
        Ok(())
    }
}

/// Why the gate refused a connection.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(&'static str);

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        match Range::of_address(remote) {
            Some(range) if self.bans.is_range_banned(&range, Instant::now()) => {
                Err(ConnectionDenied::new(Refused("address range is banned")))
            }
            _ => Ok(()),
        }
    }

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(&peer, remote)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        address: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(&peer, address)?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished { peer_id, connection_id, endpoint, .. }) => {
                if let Some(range) = Range::of_address(endpoint.get_remote_address()) {
                    self.ranges.insert(connection_id, (peer_id, range));
                }
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                self.ranges.remove(&connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offend(bans: &mut Bans, peer: PeerId, range: Option<Range>, times: u32, now: Instant) -> Penalty {
        let mut last = None;
        for _ in 0..times {
            last = Some(bans.offence(peer, range, now));
        }
        last.unwrap_or(Penalty { points: 0.0, banned_for: None, range_banned_for: None })
    }

    #[test]
    fn a_ban_comes_at_the_limit_and_each_later_one_lasts_twice_as_long() {
        let mut bans = Bans::default();
        let peer = PeerId::random();
        let start = Instant::now();
        assert_eq!(offend(&mut bans, peer, None, 4, start).banned_for, None);
        assert_eq!(offend(&mut bans, peer, None, 1, start).banned_for, Some(FIRST_BAN));
        assert!(bans.is_banned(&peer, start + FIRST_BAN - Duration::from_secs(1)));
        assert!(!bans.is_banned(&peer, start + FIRST_BAN), "the ban expires");
        let later = start + FIRST_BAN + Duration::from_secs(1);
        assert_eq!(offend(&mut bans, peer, None, 5, later).banned_for, Some(FIRST_BAN * 2));
        let much_later = later + Duration::from_secs(3 * 60);
        assert_eq!(offend(&mut bans, peer, None, 5, much_later).banned_for, Some(FIRST_BAN * 4));
        // However often: at most a day.
        let mut now = much_later;
        for _ in 0..30 {
            now += MAX_BAN + Duration::from_secs(1) - MAX_BAN / 2;
            if let Some(length) = offend(&mut bans, peer, None, 5, now).banned_for {
                assert!(length <= MAX_BAN);
            }
        }
    }

    #[test]
    fn offences_in_quick_succession_ban_though_points_fade_meanwhile() {
        let mut bans = Bans::default();
        let peer = PeerId::random();
        let start = Instant::now();
        for i in 0..4u64 {
            assert_eq!(bans.offence(peer, None, start + Duration::from_millis(300 * i)).banned_for, None);
        }
        assert_eq!(bans.offence(peer, None, start + Duration::from_millis(1_200)).banned_for, Some(FIRST_BAN));
    }

    #[test]
    fn points_fade_so_a_rare_mistake_never_bans() {
        let mut bans = Bans::default();
        let peer = PeerId::random();
        let mut now = Instant::now();
        for _ in 0..100 {
            assert_eq!(bans.offence(peer, None, now).banned_for, None);
            now += POINTS_HALF_LIFE;
        }
        assert!(bans.points(&peer, now) < 2.0);
    }

    #[test]
    fn a_range_is_banned_after_several_of_its_identities_are() {
        let mut bans = Bans::default();
        let range = Range::of("203.0.113.7".parse().unwrap());
        let now = Instant::now();
        for i in 0..3 {
            let penalty = offend(&mut bans, PeerId::random(), Some(range), 5, now);
            assert!(penalty.banned_for.is_some());
            assert_eq!(penalty.range_banned_for.is_some(), i == 2);
        }
        assert!(bans.is_range_banned(&range, now));
        assert!(!bans.is_range_banned(&Range::of("203.0.113.8".parse().unwrap()), now));
        // An IPv6 host's /64 is one range.
        let a = Range::of("2001:db8:1:2::1".parse().unwrap());
        assert_eq!(a, Range::of("2001:db8:1:2:ffff::9".parse().unwrap()));
        assert_ne!(a, Range::of("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(range.to_string(), "203.0.113.7");
    }

    #[test]
    fn ten_thousand_identities_cannot_grow_the_table_and_each_is_still_banned() {
        let mut bans = Bans::default();
        let now = Instant::now();
        let mut last = PeerId::random();
        for i in 0..10_000u32 {
            last = PeerId::random();
            let range = Range::V4((i % 2000).to_be_bytes());
            let penalty = offend(&mut bans, last, Some(range), 5, now + Duration::from_millis(u64::from(i)));
            assert!(penalty.banned_for.is_some(), "each identity is banned on its own offences");
            let (peers, ranges) = bans.len();
            assert!(peers <= MAX_PEER_RECORDS && ranges <= MAX_RANGE_RECORDS);
        }
        assert!(bans.is_banned(&last, now + Duration::from_secs(20)));
        // A peer with a single point is forgotten before any ban is.
        let honest = PeerId::random();
        bans.offence(honest, None, now);
        let sybil = PeerId::random();
        offend(&mut bans, sybil, None, 5, now + Duration::from_secs(11));
        assert!(bans.is_banned(&sybil, now + Duration::from_secs(12)));
    }

    #[test]
    fn only_forgettable_records_are_forgotten_first() {
        let mut table: Table<u32> = Table::new(2);
        let now = Instant::now();
        table.record(1, now).add(5.0, BAN_AT, now);
        table.record(2, now).add(1.0, BAN_AT, now);
        table.record(3, now).add(1.0, BAN_AT, now);
        assert!(table.banned(&1, now), "the ban is kept; the unbanned record made room");
        assert_eq!(table.records.len(), 2);
    }
}
