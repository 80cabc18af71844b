//! [`Demand`]: what a business's intents add up to, a count per category and spec entry
//! ([`DemandKey`]), and the rule that keeps it bounded: when [`MAX_DEMAND_KEYS`] are counted, the
//! least-counted key makes room for a new one, so keys made up by one peer (each seen once)
//! cannot keep real demand out.
//!
//! A business runs that rule for every intent gossip brings, before it forwards the intent, and
//! a flood of made-up specs keeps the table full: so the rule reads an index by count kept
//! beside the map, never the whole table (`cargo bench -p me2b-node --bench speed -- --engine`).
//! The index is rebuilt, never stored.

use super::state::DemandKey;
use crate::limits::MAX_DEMAND_KEYS;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Intents counted by key, with the keys by count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Demand {
    counts: BTreeMap<DemandKey, u64>,
    by_count: BTreeSet<(u64, DemandKey)>,
}

impl Demand {
    /// The count of `key`.
    pub fn get(&self, key: &DemandKey) -> Option<&u64> {
        self.counts.get(key)
    }

    /// Every key with its count, in key order.
    pub fn iter(&self) -> std::collections::btree_map::Iter<'_, DemandKey, u64> {
        self.counts.iter()
    }

    /// Every key, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &DemandKey> {
        self.counts.keys()
    }

    /// How many keys are counted.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Puts a driver's stored count back, at start (or sets one, replacing what was counted).
    pub fn restore(&mut self, key: DemandKey, count: u64) {
        if let Some(old) = self.counts.insert(key.clone(), count) {
            self.by_count.remove(&(old, key.clone()));
        }
        self.by_count.insert((count, key));
    }

    /// Counts one more for `key`. A new key when the table is full first forgets the
    /// least-counted one (the smallest key among equals), which is returned to persist.
    pub(crate) fn count(&mut self, key: &DemandKey) -> Option<DemandKey> {
        if let Some(count) = self.counts.get_mut(key) {
            self.by_count.remove(&(*count, key.clone()));
            *count = count.saturating_add(1);
            self.by_count.insert((*count, key.clone()));
            return None;
        }
        let mut forgotten = None;
        if self.counts.len() >= MAX_DEMAND_KEYS
            && let Some((_, least)) = self.by_count.pop_first()
        {
            self.counts.remove(&least);
            forgotten = Some(least);
        }
        self.restore(key.clone(), 1);
        forgotten
    }
}

impl<'a> IntoIterator for &'a Demand {
    type Item = (&'a DemandKey, &'a u64);
    type IntoIter = std::collections::btree_map::Iter<'a, DemandKey, u64>;
    fn into_iter(self) -> Self::IntoIter {
        self.counts.iter()
    }
}

/// Reads like a map: panics on an unknown key, as `BTreeMap`'s index does.
impl std::ops::Index<&DemandKey> for Demand {
    type Output = u64;
    fn index(&self, key: &DemandKey) -> &u64 {
        &self.counts[key]
    }
}

/// Written as the map alone; the index is rebuilt when it is read back.
impl Serialize for Demand {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.counts.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Demand {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut demand = Demand::default();
        for (key, count) in BTreeMap::<DemandKey, u64>::deserialize(deserializer)? {
            demand.restore(key, count);
        }
        Ok(demand)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::table::draws;

    fn key(i: u64) -> DemandKey {
        ("apparel.shoes".parse().unwrap(), format!("size_eu={i}"))
    }

    /// The index read afresh from the map: what the kept one must always equal.
    fn fresh(demand: &Demand) -> BTreeSet<(u64, DemandKey)> {
        demand.counts.iter().map(|(key, count)| (*count, key.clone())).collect()
    }

    #[test]
    fn the_index_follows_every_change() {
        let mut draw = draws(16);
        let mut demand = Demand::default();
        for step in 0..5_000 {
            let key = key(draw(400));
            // Counts, and a tenth of the time a count set as a store restores it.
            if draw(10) == 0 {
                demand.restore(key, draw(5));
            } else {
                assert_eq!(demand.count(&key), None, "step {step}: far from full");
            }
            assert_eq!(demand.by_count, fresh(&demand), "step {step}");
        }
    }

    #[test]
    fn a_full_table_forgets_the_least_counted_key_for_a_new_one() {
        let mut demand = Demand::default();
        for i in 0..MAX_DEMAND_KEYS as u64 {
            demand.restore(key(i), 5);
        }
        demand.restore(key(77), 1);
        demand.count(&key(3));
        assert_eq!(demand.count(&key(u64::MAX)), Some(key(77)), "the least counted goes");
        assert_eq!(demand.len(), MAX_DEMAND_KEYS);
        assert_eq!(demand.get(&key(3)), Some(&6), "a known key is counted without forgetting any");
        assert_eq!(demand.count(&key(3)), None);
        // The new key now counts least (1): the next new one replaces it.
        assert_eq!(demand.count(&key(u64::MAX - 1)), Some(key(u64::MAX)));
    }

    #[test]
    fn read_back_it_has_its_index() {
        let mut demand = Demand::default();
        for i in 0..50 {
            demand.restore(key(i), i % 7);
        }
        let mut bytes = Vec::new();
        ciborium::into_writer(&demand, &mut bytes).unwrap();
        let read: Demand = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(read, demand);
        assert_eq!(read.by_count, fresh(&demand));
    }
}
