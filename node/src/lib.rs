//! # me2b-node: the node that drives the protocol
//!
//! This crate will hold the `Node`: the [`me2b_proto::engine::Engine`] driven over libp2p
//! (TCP/QUIC, Noise, Yamux, gossipsub, Kademlia, request-response), a sled store with
//! encryption at rest, and the local HTTP API. The daemon, the end-to-end tests and the
//! simulator will all run that same `Node`.
//!
//! It is empty today: the protocol core it drives lives in `me2b-proto`, and the in-memory
//! driver [`me2b_proto::harness`] shows the driver contract the node will implement.
