//! The network model between simulated nodes: each node's dials go through a modelled link
//! whose latency is drawn per pair of nodes from the seed, dilated by the time scale.

use crate::scenario::Scenario;
use crate::workload::link_latency;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use me2b_node::link::{Link, LinkModel};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Which node listens on which memory port, and the bytes each node put on the wire.
#[derive(Debug, Default)]
pub struct Registry {
    ports: RwLock<HashMap<u64, usize>>,
    /// Wire bytes sent, by node (Noise, Yamux and protocol framing included).
    pub wire_bytes: Vec<AtomicU64>,
    /// Whether the partition is in force now.
    pub partitioned: AtomicBool,
    /// Nodes below this index are on the cut-off side of the partition.
    cut_off: usize,
}

impl Registry {
    /// A registry for `nodes` nodes, of which the first `cut_off` are cut off from the others
    /// while [`Registry::partitioned`] is set.
    pub fn new(nodes: usize, cut_off: usize) -> Arc<Registry> {
        Arc::new(Registry {
            ports: RwLock::default(),
            wire_bytes: (0..nodes).map(|_| AtomicU64::new(0)).collect(),
            partitioned: AtomicBool::new(false),
            cut_off,
        })
    }

    /// Records that `node` listens on `address`.
    pub fn listening(&self, node: usize, address: &Multiaddr) {
        if let Some(port) = memory_port(address)
            && let Ok(mut ports) = self.ports.write()
        {
            ports.insert(port, node);
        }
    }

    /// The node listening on `address`.
    pub fn node_at(&self, address: &Multiaddr) -> Option<usize> {
        let port = memory_port(address)?;
        self.ports.read().ok()?.get(&port).copied()
    }
}

fn memory_port(address: &Multiaddr) -> Option<u64> {
    address.iter().find_map(|p| match p {
        Protocol::Memory(port) => Some(port),
        _ => None,
    })
}

/// The links of one node.
#[derive(Debug)]
pub struct Links {
    /// This node.
    pub me: usize,
    /// The scenario (latency distribution, loss, bandwidth).
    pub scenario: Arc<Scenario>,
    /// The seed.
    pub seed: u64,
    /// Where everyone listens.
    pub registry: Arc<Registry>,
}

impl LinkModel for Links {
    fn link(&self, remote: &Multiaddr) -> Option<Link> {
        let other = self.registry.node_at(remote)?;
        let scale = self.scenario.time_scale;
        let bandwidth = self.scenario.network.bandwidth_kbps;
        Some(Link {
            latency: link_latency(&self.scenario, self.seed, self.me, other).mul_f64(scale),
            loss: self.scenario.network.loss,
            bandwidth: (bandwidth > 0).then(|| ((bandwidth * 1024) as f64 / scale) as u64),
        })
    }

    fn cut(&self, remote: &Multiaddr) -> bool {
        if !self.registry.partitioned.load(Ordering::Relaxed) {
            return false;
        }
        let cut_off = |node: usize| node < self.registry.cut_off;
        self.registry.node_at(remote).is_some_and(|other| cut_off(other) != cut_off(self.me))
    }

    fn carried(&self, remote: &Multiaddr, outgoing: bool, bytes: u64) {
        let sender = if outgoing { Some(self.me) } else { self.registry.node_at(remote) };
        if let Some(counter) = sender.and_then(|n| self.registry.wire_bytes.get(n)) {
            counter.fetch_add(bytes, Ordering::Relaxed);
        }
    }
}
