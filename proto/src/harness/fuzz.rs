//! One entry point per decoder family, for the fuzzers: `cargo fuzz` targets (`fuzz/`) and the
//! bounded property runs CI does instead (`proto/tests/decoders.rs`) call the same functions,
//! so the two cannot drift apart. Each takes arbitrary bytes, must not panic, and checks one
//! property besides: whatever decodes, re-encodes to something that decodes to the same value.

use crate::agreement::Agreement;
use crate::envelope::{self, MessageKind};
use crate::evidence::Evidence;
use crate::identity::{Keypair, hex};
use crate::messages::{
    DataPackage, DataRequest, DeletionReceipt, Intent, NegotiationMessage, PersonalOffer, Revocation,
};
use crate::time::Timestamp;
use crate::wire;

/// Real messages to start from: every envelope (and its payload) the nodes of a full run of
/// the flows sent (a request, a counter-offer, an agreement, data, an offer, a revocation,
/// a receipt). Mutating these reaches far deeper into the decoders than random bytes do.
pub fn seeds() -> Vec<Vec<u8>> {
    use super::fixtures::*;
    use crate::engine::{Command, Output};
    let mut w = world();
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.retention = 365 * DAY;
    publish(&mut w.net, w.shoes, "apparel.shoes", terms);
    w.net.settle();
    if let Some(id) = finalized(&w.net.peer(&w.shoes).events).first().copied() {
        let _ = w
            .net
            .input(w.person, crate::engine::Input::Command(Command::Revoke { agreement_id: id, reason: "no".into() }));
        w.net.settle();
    }
    let mut seeds = Vec::new();
    for key in [w.person, w.shoes] {
        for output in &w.net.peer(&key).outputs {
            let (kind, bytes) = match output {
                Output::Send { kind, bytes, .. } => (*kind, bytes),
                Output::Publish { topic, bytes } => (topic.kind(), bytes),
                _ => continue,
            };
            if let Ok(opened) = envelope::verify(bytes, kind) {
                seeds.push(opened.payload().to_vec());
            }
            seeds.push(bytes.clone());
        }
        seeds.extend(w.net.peer(&key).ledger.iter().cloned());
    }
    seeds
}

/// `seed` with `edits` applied, each `(where, byte, how)`: how 0 flips bits at `where`, 1
/// inserts `byte` there, 2 removes the byte there, 3 cuts the rest off. What the property
/// runs feed the decoders besides random bytes.
pub fn mutate(seed: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for &(at, byte, how) in edits {
        let at = if bytes.is_empty() { 0 } else { at % bytes.len() };
        match how % 4 {
            0 if !bytes.is_empty() => bytes[at] ^= byte | 1,
            1 => bytes.insert(at, byte),
            2 if !bytes.is_empty() => {
                bytes.remove(at);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

/// Every kind of signed envelope, opened as gossip, as a direct message, and as evidence.
pub fn envelopes(bytes: &[u8]) {
    let me = Keypair::from_secret_bytes(&[1; 32]).public();
    for kind in MessageKind::ALL {
        let _ = envelope::open(bytes, kind, None, Timestamp::from_millis(1_790_000_000_000));
        let _ = envelope::open(bytes, kind, Some(&me), Timestamp::from_millis(1_790_000_000_000));
        if let Ok(opened) = envelope::verify(bytes, kind) {
            assert_eq!(opened.header().kind, kind);
        }
    }
}

/// Decodes `bytes` as `W`, converts to the domain type `D`, and checks the round trip.
fn round_trip<W, D>(bytes: &[u8])
where
    W: prost::Message + Default,
    D: TryFrom<W> + PartialEq + std::fmt::Debug,
    for<'a> W: From<&'a D>,
{
    let Ok(message) = W::decode(bytes) else {
        return;
    };
    let Ok(value) = D::try_from(message) else {
        return;
    };
    let again = W::from(&value).encode_to_vec();
    let back = W::decode(again.as_slice()).ok().and_then(|m| D::try_from(m).ok());
    assert_eq!(back.as_ref(), Some(&value), "a decoded message does not survive its own encoding");
}

/// Every message payload, as each message type.
pub fn messages(bytes: &[u8]) {
    round_trip::<wire::DataRequest, DataRequest>(bytes);
    round_trip::<wire::Intent, Intent>(bytes);
    round_trip::<wire::NegotiationMessage, NegotiationMessage>(bytes);
    round_trip::<wire::DataPackage, DataPackage>(bytes);
    round_trip::<wire::PersonalOffer, PersonalOffer>(bytes);
    round_trip::<wire::Revocation, Revocation>(bytes);
    round_trip::<wire::DeletionReceipt, DeletionReceipt>(bytes);
    if let Ok(agreement) = Agreement::decode(bytes) {
        assert_eq!(Agreement::decode(&agreement.encode()).ok(), Some(agreement));
    }
}

/// A ledger of one entry, and the same bytes as an agreement's evidence.
pub fn records(bytes: &[u8]) {
    let key = Keypair::from_secret_bytes(&[1; 32]).public();
    let _ = crate::ledger::verify(&[bytes.to_vec()], &key, None);
    let text = hex(bytes);
    let evidence = Evidence {
        agreement_id: crate::agreement::Agreement::id_of(bytes).to_string(),
        agreement: text.clone(),
        person_signature: text.clone(),
        business_signature: text.clone(),
        receipt_envelope: Some(text),
    };
    let _ = evidence.check();
}

/// Every text form (`30d`, `10% discount`, field paths, keys, ...), on the bytes as text.
pub fn text_forms(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let _ = text.parse::<crate::vocab::FieldPath>();
    let _ = text.parse::<crate::vocab::Category>();
    let _ = text.parse::<crate::vocab::Purpose>();
    let _ = text.parse::<crate::terms::Compensation>();
    let _ = text.parse::<crate::terms::Money>();
    let _ = text.parse::<crate::terms::ContactPermission>();
    let _ = text.parse::<crate::terms::Use>();
    let _ = text.parse::<crate::terms::FieldRequest>();
    let _ = text.parse::<crate::predicate::Predicate>();
    let _ = text.parse::<crate::identity::PublicKey>();
    let _ = crate::time::parse_duration(text);
    let _ = crate::text::printable(text, 64);
}
