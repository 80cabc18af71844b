//! A DHT client's first walk, held back to a moment of its own.
//!
//! Kademlia walks as soon as a server lands in an empty routing table (its automatic
//! bootstrap: a lookup of the node's own key, then one per farther bucket). A client's walk
//! reaches every server of a small DHT, and each connection it opens costs both ends about
//! 76 KB while it lasts (Noise's buffers, the gossip streams every connection carries, the
//! connection's task). When many clients start together (a restart of many nodes, the
//! simulator's thousand), every server takes a connection from each of them in the same
//! second. So a client keeps the servers it learns out of its routing table until a moment
//! drawn within [`super::NetConfig::dht_boot_spread`], or until it needs the DHT: a lookup, or
//! no peer to gossip with a while after it started (its bootstrap peers follow none of its
//! topics, and only the DHT can find it some).

use libp2p::{Multiaddr, PeerId};
use std::time::{Duration, Instant};

/// Most servers remembered while the walk waits (a client needs a few to start from).
const MAX_WAITING: usize = 32;

/// Servers waiting for the first walk.
#[derive(Debug)]
pub struct FirstWalk {
    /// When the walk may start; `None` once it has (or for a node that does not wait).
    at: Option<Instant>,
    started: Instant,
    waiting: Vec<(PeerId, Multiaddr)>,
}

impl FirstWalk {
    /// The first walk of the node with id `peer`, within `spread` of `started` (a server's,
    /// or with no spread: at once).
    pub fn new(peer: &PeerId, spread: Duration, serves: bool, started: Instant) -> FirstWalk {
        let at = (!serves && !spread.is_zero()).then(|| started + spread.mul_f64(fraction(peer)));
        FirstWalk { at, started, waiting: Vec::new() }
    }

    /// Whether the server `peer` at `address` may go into the routing table now; if not, it
    /// waits for the walk (at most `MAX_WAITING` of them; more add nothing a first walk needs).
    pub fn admit(&mut self, peer: PeerId, address: Multiaddr) -> bool {
        if self.at.is_none() {
            return true;
        }
        let known = self.waiting.iter().any(|(p, a)| *p == peer && *a == address);
        if !known && self.waiting.len() < MAX_WAITING {
            self.waiting.push((peer, address));
        }
        false
    }

    /// The servers that waited, to put in the routing table: once the moment has come, or at
    /// once when `needed` (a lookup cannot wait). Empty from then on.
    pub fn due(&mut self, needed: bool, now: Instant) -> Vec<(PeerId, Multiaddr)> {
        match self.at {
            Some(at) if needed || now >= at => {
                self.at = None;
                std::mem::take(&mut self.waiting)
            }
            _ => Vec::new(),
        }
    }

    /// How long ago the node started.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }

    /// How many servers wait for the walk.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

/// Where in the spread a node's walk falls: from the last eight bytes of its peer id (for an
/// ed25519 key, bytes of the key itself), so nodes that start together spread evenly, and a
/// run of the simulator does the same each time.
fn fraction(peer: &PeerId) -> f64 {
    let bytes = peer.to_bytes();
    let mut last = [0u8; 8];
    let tail = &bytes[bytes.len().saturating_sub(8)..];
    last[8 - tail.len()..].copy_from_slice(tail);
    (u64::from_le_bytes(last) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(n: u8) -> (PeerId, Multiaddr) {
        let key = libp2p::identity::Keypair::ed25519_from_bytes([n; 32]).expect("a valid secret");
        (key.public().to_peer_id(), format!("/ip4/127.0.0.1/tcp/{}", 1000 + u16::from(n)).parse().expect("an address"))
    }

    #[test]
    fn a_client_waits_for_its_moment_and_a_lookup_does_not() {
        let start = Instant::now();
        let (me, _) = server(1);
        let spread = Duration::from_secs(30);
        let mut walk = FirstWalk::new(&me, spread, false, start);
        let (peer, address) = server(2);
        assert!(!walk.admit(peer, address.clone()));
        assert!(!walk.admit(peer, address.clone()), "the same server twice");
        assert_eq!(walk.waiting(), 1);
        assert!(walk.due(false, start).is_empty(), "not before its moment");
        assert_eq!(walk.due(false, start + spread), vec![(peer, address.clone())], "at its moment");
        assert!(walk.admit(peer, address), "and from then on, at once");
        // A lookup does not wait.
        let mut walk = FirstWalk::new(&me, spread, false, start);
        let (peer, address) = server(3);
        walk.admit(peer, address.clone());
        assert_eq!(walk.due(true, start), vec![(peer, address)]);
    }

    #[test]
    fn servers_and_a_zero_spread_do_not_wait() {
        let (me, _) = server(1);
        let (peer, address) = server(2);
        assert!(FirstWalk::new(&me, Duration::from_secs(30), true, Instant::now()).admit(peer, address.clone()));
        assert!(FirstWalk::new(&me, Duration::ZERO, false, Instant::now()).admit(peer, address));
    }

    #[test]
    fn moments_spread_over_the_window_and_the_waiting_list_is_bounded() {
        let fractions: Vec<f64> = (0..=255u8).map(|n| fraction(&server(n).0)).collect();
        assert!(fractions.iter().all(|f| (0.0..1.0).contains(f)));
        let early = fractions.iter().filter(|f| **f < 0.5).count();
        assert!((96..=160).contains(&early), "{early} of 256 in the first half");
        let mut walk = FirstWalk::new(&server(1).0, Duration::from_secs(30), false, Instant::now());
        for n in 0..=255u8 {
            let (peer, address) = server(n);
            walk.admit(peer, address);
        }
        assert_eq!(walk.waiting(), MAX_WAITING);
    }
}
