//! libp2p's own counters (gossipsub's): the registry they count into, its text form for
//! `/metrics`, and the headline [`GossipCounts`] read from it.

use prometheus_client::registry::Registry;

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
