//! [`Expiring`]: keys remembered until a time, with the index their bound reads. What [`Seen`]
//! remembers is kept this way (intents a business counted, what was handed to which peer):
//! expired keys go first, then the soonest to expire when the set is full.
//!
//! A business runs that rule for every intent gossip brings, before it forwards the intent, and
//! for every live item a peer's subscription brings, so it reads an index by expiry kept beside
//! the map, never the whole set: what one more costs does not grow with how many are held
//! (`cargo bench -p me2b-node --bench speed -- --engine`). The index is rebuilt, never stored.
//!
//! [`Seen`]: super::seen::Seen

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Keys with the time each is remembered until, and the same pairs ordered by that time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiring<K: Ord> {
    until: BTreeMap<K, Timestamp>,
    by_expiry: BTreeSet<(Timestamp, K)>,
}

impl<K: Ord> Default for Expiring<K> {
    fn default() -> Self {
        Expiring { until: BTreeMap::new(), by_expiry: BTreeSet::new() }
    }
}

impl<K: Ord + Copy> Expiring<K> {
    /// When `key` expires, if it is remembered.
    pub fn get(&self, key: &K) -> Option<&Timestamp> {
        self.until.get(key)
    }

    /// Whether `key` is remembered.
    pub fn contains(&self, key: &K) -> bool {
        self.until.contains_key(key)
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.until.len()
    }

    /// Remembers `key` until `expires_at` (replacing its time if it was remembered).
    pub fn insert(&mut self, key: K, expires_at: Timestamp) {
        if let Some(old) = self.until.insert(key, expires_at) {
            self.by_expiry.remove(&(old, key));
        }
        self.by_expiry.insert((expires_at, key));
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &K) -> Option<Timestamp> {
        let expires_at = self.until.remove(key)?;
        self.by_expiry.remove(&(expires_at, *key));
        Some(expires_at)
    }

    /// Forgets the keys expired at `now` (their time is `now` or before); returns them. Reads
    /// only what it forgets, and one more.
    pub fn forget_expired(&mut self, now: Timestamp) -> Vec<K> {
        let mut expired = Vec::new();
        while let Some(&(expires_at, key)) = self.by_expiry.first() {
            if expires_at > now {
                break;
            }
            self.by_expiry.pop_first();
            self.until.remove(&key);
            expired.push(key);
        }
        expired
    }

    /// Forgets the key that expires soonest (the smallest key among those expiring together);
    /// returns it.
    pub fn forget_soonest(&mut self) -> Option<K> {
        let (_, key) = self.by_expiry.pop_first()?;
        self.until.remove(&key);
        Some(key)
    }

    /// The keys in `range`, in key order.
    pub fn keys_in(&self, range: impl std::ops::RangeBounds<K>) -> impl Iterator<Item = &K> {
        self.until.range(range).map(|(key, _)| key)
    }
}

/// Written as the map alone; the index is rebuilt when it is read back.
impl<K: Ord + Serialize> Serialize for Expiring<K> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.until.serialize(serializer)
    }
}

impl<'de, K: Ord + Copy + Deserialize<'de>> Deserialize<'de> for Expiring<K> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let until = BTreeMap::<K, Timestamp>::deserialize(deserializer)?;
        let by_expiry = until.iter().map(|(key, expires_at)| (*expires_at, *key)).collect();
        Ok(Expiring { until, by_expiry })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::table::draws;

    /// The index read afresh from the map: what the kept one must always equal.
    fn fresh(set: &Expiring<u16>) -> BTreeSet<(Timestamp, u16)> {
        set.until.iter().map(|(key, at)| (*at, *key)).collect()
    }

    #[test]
    fn the_index_follows_every_change() {
        let mut draw = draws(15);
        let mut set = Expiring::<u16>::default();
        let at = |ms: u64| Timestamp::from_millis(ms);
        for step in 0..5_000 {
            let key = draw(300) as u16;
            match draw(5) {
                // Inserts; once most of the 300 keys are held, most of them replace a time.
                0 | 1 => set.insert(key, at(draw(1_000))),
                2 => {
                    set.remove(&key);
                }
                3 => {
                    let now = at(draw(1_000));
                    for forgotten in set.forget_expired(now) {
                        assert!(!set.contains(&forgotten));
                    }
                    assert!(set.until.values().all(|expires_at| *expires_at > now), "step {step}");
                }
                _ => {
                    let soonest = set.until.iter().map(|(key, at)| (*at, *key)).min();
                    assert_eq!(set.forget_soonest(), soonest.map(|(_, key)| key), "step {step}");
                }
            }
            assert_eq!(set.by_expiry, fresh(&set), "step {step}");
        }
    }

    #[test]
    fn read_back_it_has_its_index() {
        let mut set = Expiring::<u16>::default();
        for key in 0..50u16 {
            set.insert(key, Timestamp::from_millis(u64::from(key % 7)));
        }
        let mut bytes = Vec::new();
        ciborium::into_writer(&set, &mut bytes).unwrap();
        let read: Expiring<u16> = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(read, set);
        assert_eq!(read.by_expiry, fresh(&set));
    }
}
