//! placeholder
#[allow(missing_docs, clippy::all)]
pub mod wire {
    include!(concat!(env!("OUT_DIR"), "/me2b.v1.rs"));
}
pub mod agreement;
pub mod decode;
pub mod engine;
pub mod envelope;
pub mod harness;
pub mod identity;
pub mod ledger;
pub mod limits;
pub mod messages;
pub mod negotiation;
pub mod policy;
pub mod predicate;
pub mod terms;
pub mod time;
pub mod value;
pub mod vocab;
