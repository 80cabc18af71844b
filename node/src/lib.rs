//! # me2b-node: the node that drives the protocol
//!
//! A [`Node`] runs the protocol engine of `me2b-proto` over libp2p ([`net`]) and a sled store
//! with encryption at rest ([`store`], [`at_rest`]), as an actor behind a cloneable
//! [`NodeHandle`]. The daemon, the tests and the simulator all run this same `Node`.
//!
//! ```no_run
//! # async fn example() -> Result<(), me2b_node::NodeError> {
//! use me2b_node::{Node, NodeConfig, Transport};
//! use me2b_proto::engine::{Command, Role};
//!
//! let mut config = NodeConfig::new(Role::Person, "/tmp/ada/store".into());
//! config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("address")];
//! config.transport = Transport::Network;
//! let node = Node::start([7; 32], config).await?;
//! node.command(Command::Subscribe("apparel.shoes".parse().expect("category"))).await?;
//! let mut events = node.events();
//! while let Ok(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```

pub mod api;
pub mod at_rest;
pub mod clock;
pub mod config;
pub mod domains;
pub mod fuzz;
mod gossip;
pub mod handle;
pub mod import;
pub mod key_file;
pub mod link;
pub mod net;
mod node;
pub mod personas;
pub mod recovery;
pub mod store;

pub use handle::{NodeConfig, NodeError, NodeEvent, NodeHandle, NodeInfo, Tapped, Transport};
pub use node::Node;
