//! What a signed payload is: the kinds of message the protocol carries, which of them travel
//! on gossip and which on direct streams, and their size and validity bounds. A leaf module:
//! identities sign per kind, envelopes seal per kind.

use crate::limits::{
    MAX_DIRECT_MESSAGE_BYTES, MAX_DIRECT_VALIDITY_MS, MAX_GOSSIP_MESSAGE_BYTES, MAX_GOSSIP_VALIDITY_MS,
};
use crate::wire;

/// What a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum MessageKind {
    /// A business's data request (gossip).
    DataRequest,
    /// A person's intent (gossip).
    Intent,
    /// A negotiation message (direct).
    Negotiation,
    /// Data under an agreement (direct).
    DataPackage,
    /// A personal offer (direct).
    PersonalOffer,
    /// A revocation (direct).
    Revocation,
    /// A deletion receipt (direct).
    DeletionReceipt,
}

impl MessageKind {
    /// Every kind.
    pub const ALL: [MessageKind; 7] = [
        MessageKind::DataRequest,
        MessageKind::Intent,
        MessageKind::Negotiation,
        MessageKind::DataPackage,
        MessageKind::PersonalOffer,
        MessageKind::Revocation,
        MessageKind::DeletionReceipt,
    ];

    /// Whether messages of this kind travel on gossip (to everyone) rather than to one peer.
    pub fn is_gossip(self) -> bool {
        matches!(self, MessageKind::DataRequest | MessageKind::Intent)
    }

    /// The largest encoded envelope of this kind.
    pub fn max_bytes(self) -> usize {
        if self.is_gossip() { MAX_GOSSIP_MESSAGE_BYTES } else { MAX_DIRECT_MESSAGE_BYTES }
    }

    pub(crate) fn max_validity_ms(self) -> u64 {
        if self.is_gossip() { MAX_GOSSIP_VALIDITY_MS } else { MAX_DIRECT_VALIDITY_MS }
    }

    pub(crate) fn to_wire(self) -> wire::MessageKind {
        match self {
            MessageKind::DataRequest => wire::MessageKind::DataRequest,
            MessageKind::Intent => wire::MessageKind::Intent,
            MessageKind::Negotiation => wire::MessageKind::Negotiation,
            MessageKind::DataPackage => wire::MessageKind::DataPackage,
            MessageKind::PersonalOffer => wire::MessageKind::PersonalOffer,
            MessageKind::Revocation => wire::MessageKind::Revocation,
            MessageKind::DeletionReceipt => wire::MessageKind::DeletionReceipt,
        }
    }
}
