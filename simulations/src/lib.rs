//! # me2b-sim: the researchers' simulator
//!
//! `me2b-sim run SCENARIO.toml [--out DIR] [--seed N]` starts every node of a scenario as a
//! real [`me2b_node::Node`] in one process, on libp2p's memory transport with modelled links
//! ([`links`]: per-pair latency drawn from the seed, loss as retransmission delay, bandwidth),
//! drives the workload the seed fixes ([`workload`]), and writes `metrics.csv`,
//! `summary.json` and SVG plots ([`report`]).
//!
//! Time: libp2p's timers run on the wall clock. A scenario's `time_scale` dilates link
//! latencies and the protocol's intervals together, and results are reported back in
//! scenario time. The [`monitor`] measures event-loop lag and CPU saturation, and the summary
//! says when latency figures measure the machine rather than the protocol. Each gossip
//! delivery is compared with the shortest-path latency over the connection graph the nodes
//! actually formed.
//!
//! `me2b-sim drive SCENARIO.toml --cluster cluster.json` (or `--netns`) plays the same
//! workload against real `me2b` daemons through their HTTP API ([`drive`]) and writes the
//! same files, so the two can be compared (`me2b-sim compare`).

pub mod drive;
pub mod experiment;
pub mod links;
pub mod monitor;
pub mod report;
pub mod run;
pub mod scenario;
pub mod svg;
pub mod workload;
