//! # me2b-sim: the researchers' simulator
//!
//! This crate will run many real me2b nodes in one process over libp2p's memory transport,
//! with a network model between them, drive workloads from scenario files in `scenarios/`,
//! and write metrics, a summary and plots. It is empty until the node exists, because it
//! must run the real node rather than a model of it.
