//! What could link a person across businesses: every identifier a node holds or observed.
//!
//! An identifier is any 16-, 32- or 64-byte value (ids, nonces, keys, hashes, signatures) and
//! any timestamp, taken at second resolution. They are gathered generically, so that a new
//! field cannot slip past: from a node's whole state (serialised as CBOR and walked), from
//! every message it received (protobuf walked field by field, nested messages included), and
//! from every connection (the peer's key inside its peer id, and its address). Data values
//! (numbers, short text) are not identifiers here: the person agreed to share those.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use me2b_node::Tapped;
use std::collections::BTreeSet;

/// One identifier.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Id {
    /// 16, 32 or 64 bytes.
    Bytes(Vec<u8>),
    /// A time, in whole seconds since the epoch.
    Second(u64),
    /// A peer's address on a connection.
    Address(String),
}

/// Milliseconds since the epoch that look like a time between 2020 and 2100.
fn as_second(value: u64) -> Option<u64> {
    (1_577_836_800_000..4_102_444_800_000).contains(&value).then_some(value / 1000)
}

fn bytes(value: &[u8], into: &mut BTreeSet<Id>) {
    if matches!(value.len(), 16 | 32 | 64) {
        into.insert(Id::Bytes(value.to_vec()));
    }
}

/// Every identifier in `value` (anything serde can serialise: a node's state).
pub fn in_state<T: serde::Serialize>(value: &T) -> BTreeSet<Id> {
    let mut encoded = Vec::new();
    ciborium::into_writer(value, &mut encoded).unwrap();
    let value: ciborium::Value = ciborium::from_reader(encoded.as_slice()).unwrap();
    let mut ids = BTreeSet::new();
    walk_cbor(&value, &mut ids);
    ids
}

fn walk_cbor(value: &ciborium::Value, into: &mut BTreeSet<Id>) {
    use ciborium::Value;
    match value {
        Value::Bytes(b) => {
            bytes(b, into);
            // Kept envelopes and agreements are protobuf inside.
            walk_protobuf(b, into, 0);
        }
        Value::Integer(i) => {
            if let Some(second) = u64::try_from(*i).ok().and_then(as_second) {
                into.insert(Id::Second(second));
            }
        }
        Value::Array(items) => {
            // serde writes `[u8; N]` and `Vec<u8>` as arrays of small integers.
            let small: Option<Vec<u8>> =
                items.iter().map(|v| v.as_integer().and_then(|i| u8::try_from(i).ok())).collect();
            match small {
                Some(b) if !b.is_empty() => {
                    bytes(&b, into);
                    walk_protobuf(&b, into, 0);
                }
                _ => items.iter().for_each(|item| walk_cbor(item, into)),
            }
        }
        Value::Map(entries) => {
            for (key, value) in entries {
                walk_cbor(key, into);
                walk_cbor(value, into);
            }
        }
        Value::Tag(_, inner) => walk_cbor(inner, into),
        _ => {}
    }
}

/// Every identifier in a protobuf message: each length-delimited field as bytes, and as a
/// nested message if it reads as one; each varint that looks like a time.
pub fn walk_protobuf(mut buffer: &[u8], into: &mut BTreeSet<Id>, depth: u32) -> bool {
    use prost::encoding::{WireType, decode_key, decode_varint};
    if depth > 16 {
        return false;
    }
    let mut found = BTreeSet::new();
    while !buffer.is_empty() {
        let Ok((_, wire_type)) = decode_key(&mut buffer) else { return false };
        match wire_type {
            WireType::Varint => {
                let Ok(value) = decode_varint(&mut buffer) else { return false };
                if let Some(second) = as_second(value) {
                    found.insert(Id::Second(second));
                }
            }
            WireType::LengthDelimited => {
                let Ok(length) = decode_varint(&mut buffer) else { return false };
                let Ok(length) = usize::try_from(length) else { return false };
                if length > buffer.len() {
                    return false;
                }
                let (field, rest) = buffer.split_at(length);
                bytes(field, &mut found);
                walk_protobuf(field, &mut found, depth + 1);
                buffer = rest;
            }
            WireType::SixtyFourBit if buffer.len() >= 8 => buffer = &buffer[8..],
            WireType::ThirtyTwoBit if buffer.len() >= 4 => buffer = &buffer[4..],
            _ => return false,
        }
    }
    into.extend(found);
    true
}

/// Every identifier in what a node observed: connections and messages.
pub fn in_observed(tapped: &[Tapped]) -> BTreeSet<Id> {
    let mut ids = BTreeSet::new();
    for item in tapped {
        match item {
            Tapped::Connected { peer, address } => {
                ids.extend(peer_key(peer));
                ids.insert(Id::Address(address.to_string()));
            }
            Tapped::Direct { peer, bytes } => {
                ids.extend(peer_key(peer));
                walk_protobuf(bytes, &mut ids, 0);
            }
            Tapped::Gossip { peer, source, sequence_number, data } => {
                ids.extend(peer_key(peer));
                ids.extend(source.as_ref().and_then(peer_key));
                if let Some(number) = sequence_number {
                    ids.insert(Id::Bytes(number.to_be_bytes().to_vec()));
                }
                walk_protobuf(data, &mut ids, 0);
            }
        }
    }
    ids
}

/// The key inside a peer id, as an identifier.
pub fn peer_key(peer: &libp2p::PeerId) -> Option<Id> {
    me2b_node::net::public_key(peer).map(|key| Id::Bytes(key.to_bytes().to_vec()))
}

/// Drains what a tap holds now.
pub fn drain(tap: &mut tokio::sync::mpsc::Receiver<Tapped>) -> Vec<Tapped> {
    let mut items = Vec::new();
    while let Ok(item) = tap.try_recv() {
        items.push(item);
    }
    items
}
