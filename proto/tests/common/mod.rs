//! The protocol scenarios' fixtures: the crate's shared ones ([`me2b_proto::harness::fixtures`]).
#![allow(unused_imports)]

pub use me2b_proto::harness::fixtures::*;
