//! [`Requests`]: the data requests a node published (business) or heard (person), by id, and
//! the rule that keeps them bounded: a request is forgotten once it expired, and the earliest
//! heard first when [`MAX_SEEN_ANNOUNCEMENTS`] are held.
//!
//! A person runs that rule for every request gossip brings, before it forwards the request,
//! so it reads an index kept beside the map (expiry and arrival, in order), never the whole
//! table: what hearing one more request costs does not grow with how many were heard
//! (`cargo bench -p me2b-node --bench speed -- --engine`). A request does not change once
//! kept; the index is rebuilt, never stored.

use super::state::KnownRequest;
use crate::identity::RequestId;
use crate::limits::MAX_SEEN_ANNOUNCEMENTS;
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Every request known, by id, with the index its rule reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requests(BTreeMap<RequestId, KnownRequest>, Index);

super::table::keyed_table!(Requests, RequestId, KnownRequest);
super::table::read_back_whole!(Requests, RequestId, KnownRequest);

/// The requests by expiry and by when they were published or heard.
#[derive(Debug, Clone, Default, PartialEq)]
struct Index {
    by_expiry: BTreeSet<(Timestamp, RequestId)>,
    by_arrival: BTreeSet<(Timestamp, RequestId)>,
}

impl Index {
    fn add(&mut self, known: &KnownRequest) {
        self.by_expiry.insert((known.request.terms.expires_at, known.request.id));
        self.by_arrival.insert((known.at, known.request.id));
    }

    fn remove(&mut self, known: &KnownRequest) {
        self.by_expiry.remove(&(known.request.terms.expires_at, known.request.id));
        self.by_arrival.remove(&(known.at, known.request.id));
    }
}

impl Requests {
    /// Puts a driver's stored request back, at start (under its own id, replacing any stored
    /// under it).
    pub fn restore(&mut self, known: KnownRequest) {
        if let Some(old) = self.0.remove(&known.request.id) {
            self.1.remove(&old);
        }
        self.1.add(&known);
        self.0.insert(known.request.id, known);
    }

    /// Keeps a request published or heard, under its own id.
    pub(crate) fn insert(&mut self, known: KnownRequest) {
        self.restore(known);
    }

    /// Forgets the requests expired at `now`, then the earliest published or heard until
    /// there is room for one more; returns their ids. Reads only what it forgets (and one
    /// more).
    pub(crate) fn forget_old(&mut self, now: Timestamp) -> Vec<RequestId> {
        let mut old = Vec::new();
        while let Some(&(expires_at, id)) = self.1.by_expiry.first() {
            if expires_at > now {
                break;
            }
            self.1.by_expiry.pop_first();
            if let Some(known) = self.0.remove(&id) {
                self.1.by_arrival.remove(&(known.at, id));
            }
            old.push(id);
        }
        while self.0.len() >= MAX_SEEN_ANNOUNCEMENTS {
            let Some((_, id)) = self.1.by_arrival.pop_first() else { break };
            if let Some(known) = self.0.remove(&id) {
                self.1.by_expiry.remove(&(known.request.terms.expires_at, id));
            }
            old.push(id);
        }
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::fixtures::{START, shoe_terms};
    use crate::identity::Keypair;
    use crate::messages::DataRequest;

    fn known(id: u16, at: u64, expires: u64) -> KnownRequest {
        let mut bytes = [0; 16];
        bytes[..2].copy_from_slice(&id.to_le_bytes());
        bytes[15] = 1;
        KnownRequest {
            request: DataRequest {
                id: RequestId::from_bytes(bytes),
                category: "apparel.shoes".parse().unwrap(),
                business_name: "Stride".into(),
                description: String::new(),
                terms: shoe_terms(Timestamp::from_millis(START.as_millis() + expires)),
            },
            business: Keypair::from_secret_bytes(&[2; 32]).public(),
            at: Timestamp::from_millis(START.as_millis() + at),
            envelope: Vec::new(),
        }
    }

    /// The index read afresh from the map: what the kept one must always equal.
    fn reindexed(table: &Requests) -> Index {
        let mut index = Index::default();
        for known in table.values() {
            index.add(known);
        }
        index
    }

    #[test]
    fn the_index_follows_every_change_made_through_the_table() {
        let mut table = Requests::default();
        let mut draw = crate::engine::table::draws(1);
        let mut forgotten = 0;
        for step in 0..5_000 {
            match draw(5) {
                0..=2 => table.insert(known(draw(400) as u16, draw(1_000), draw(5_000))),
                3 => table.restore(known(draw(400) as u16, draw(1_000), draw(5_000))),
                _ => {
                    let old = table.forget_old(Timestamp::from_millis(START.as_millis() + draw(3_000)));
                    assert!(old.iter().all(|id| !table.contains_key(id)));
                    forgotten += old.len();
                }
            }
            assert_eq!(table.1, reindexed(&table), "after step {step}");
        }
        assert!(forgotten > 0 && !table.is_empty(), "both kinds of change were exercised");
    }

    #[test]
    fn expired_requests_go_first_then_the_earliest_heard() {
        let mut table = Requests::default();
        // One expired, then a full table of live ones heard in turn.
        table.insert(known(0, 5, 10));
        for id in 1..=MAX_SEEN_ANNOUNCEMENTS as u16 {
            table.insert(known(id, 100 + u64::from(id), 1_000_000));
        }
        assert_eq!(table.len(), MAX_SEEN_ANNOUNCEMENTS + 1);
        let old = table.forget_old(Timestamp::from_millis(START.as_millis() + 50));
        assert_eq!(old, vec![known(0, 5, 10).request.id, known(1, 0, 0).request.id], "the expired, then the earliest");
        assert_eq!(table.len(), MAX_SEEN_ANNOUNCEMENTS - 1);
        assert!(table.forget_old(Timestamp::from_millis(START.as_millis() + 50)).is_empty(), "room for one more");
    }

    #[test]
    fn a_table_read_back_has_its_index() {
        let mut table = Requests::default();
        table.insert(known(1, 10, 100));
        table.insert(known(2, 5, 200));
        let mut bytes = Vec::new();
        ciborium::into_writer(&table, &mut bytes).unwrap();
        let read: Requests = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(read, table);
        assert_eq!(read.1, reindexed(&table));
    }
}
