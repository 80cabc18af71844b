//! The node's side of gossip beyond what gossipsub does itself: publications that wait for a
//! subscribed peer (gossipsub drops a message published with nobody listening), and the
//! per-peer limit on gossip handled (checked before any work, and before any fsync).

use libp2p::PeerId;
use me2b_proto::vocab::Topic;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// Most gossip publications waiting for a subscribed peer.
pub(crate) const MAX_PENDING_PUBLISH: usize = 256;
/// How long a publication waits for a subscribed peer before it is dropped (and reported).
pub(crate) const PUBLISH_PATIENCE: Duration = Duration::from_secs(600);
/// Most peers the gossip limit tracks before it forgets finished windows.
const MAX_LIMITED_PEERS: usize = 4096;

/// Publications waiting for a subscriber, oldest first, at most [`MAX_PENDING_PUBLISH`].
#[derive(Default)]
pub(crate) struct Waiting {
    queue: VecDeque<(Topic, Vec<u8>, Instant)>,
}

impl Waiting {
    /// Queues a publication first tried at `since`; returns the oldest one if it had to make
    /// room.
    pub(crate) fn push(&mut self, topic: Topic, bytes: Vec<u8>, since: Instant) -> Option<Topic> {
        let dropped = if self.queue.len() >= MAX_PENDING_PUBLISH {
            self.queue.pop_front().map(|(topic, _, _)| topic)
        } else {
            None
        };
        self.queue.push_back((topic, bytes, since));
        dropped
    }

    /// Takes every waiting publication, to be tried again.
    pub(crate) fn take(&mut self) -> Vec<(Topic, Vec<u8>, Instant)> {
        self.queue.drain(..).collect()
    }
}

/// Counts gossip per forwarding peer in fixed windows.
pub(crate) struct Limit {
    per_peer: u32,
    window: Duration,
    counts: HashMap<PeerId, (Instant, u32)>,
}

impl Limit {
    /// At most `per_peer` messages per `window` from each peer.
    pub(crate) fn new(per_peer: u32, window: Duration) -> Self {
        Limit { per_peer, window, counts: HashMap::new() }
    }

    /// Counts one message from `peer`: `Ok` if within the limit, `Err(first)` if over it
    /// (`first` on the first message over it in this window).
    pub(crate) fn admit(&mut self, peer: PeerId) -> Result<(), bool> {
        let now = Instant::now();
        if self.counts.len() >= MAX_LIMITED_PEERS {
            let window = self.window;
            self.counts.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = self.counts.entry(peer).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        if entry.1 <= self.per_peer { Ok(()) } else { Err(entry.1 == self.per_peer + 1) }
    }
}
