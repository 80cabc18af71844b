//! The read side that every table of records keyed by their own id shares
//! ([`super::Negotiations`], [`super::Agreements`]): map-like reads for drivers and views
//! ([`keyed_table`]); and the plain write side for a table without an index of its own
//! ([`plain_writes`]): `restore` for a driver loading its store, and, inside the crate,
//! `get_mut` and an `insert` that never replaces. What may be added or removed is each
//! owner's own business.

/// Implements the shared read side for `$owner`, a newtype over `BTreeMap<$key, $value>`
/// whose values carry their key in the field `$id`.
macro_rules! keyed_table {
    ($owner:ident, $key:ty, $value:ty) => {
        impl $owner {
            /// The record `id`.
            pub fn get(&self, id: &$key) -> Option<&$value> {
                self.0.get(id)
            }

            /// Whether `id` is known.
            pub fn contains_key(&self, id: &$key) -> bool {
                self.0.contains_key(id)
            }

            /// Every record, in id order.
            pub fn values(&self) -> impl DoubleEndedIterator<Item = &$value> {
                self.0.values()
            }

            /// Every record with its id, in order.
            pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&$key, &$value)> {
                self.0.iter()
            }

            /// Every id, in order.
            pub fn keys(&self) -> impl DoubleEndedIterator<Item = &$key> {
                self.0.keys()
            }

            /// How many there are.
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// Whether there are none.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl<'a> IntoIterator for &'a $owner {
            type Item = (&'a $key, &'a $value);
            type IntoIter = std::collections::btree_map::Iter<'a, $key, $value>;
            fn into_iter(self) -> Self::IntoIter {
                self.0.iter()
            }
        }

        /// Reads like a map: panics on an unknown id, as `BTreeMap`'s index does.
        impl std::ops::Index<&$key> for $owner {
            type Output = $value;
            fn index(&self, id: &$key) -> &$value {
                &self.0[id]
            }
        }
    };
}

/// The plain write side for `$owner` (see [`keyed_table`]), for a table that keeps nothing
/// besides its map.
macro_rules! plain_writes {
    ($owner:ident, $key:ty, $value:ty, $id:ident) => {
        impl $owner {
            /// Puts a driver's stored record back, at start.
            pub fn restore(&mut self, record: $value) {
                self.0.insert(record.$id, record);
            }

            pub(crate) fn get_mut(&mut self, id: &$key) -> Option<&mut $value> {
                self.0.get_mut(id)
            }

            /// Adds a new record under its own id; `false` (and nothing changes) if the id is
            /// taken.
            pub(crate) fn insert(&mut self, record: $value) -> bool {
                match self.0.entry(record.$id) {
                    std::collections::btree_map::Entry::Occupied(_) => false,
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        slot.insert(record);
                        true
                    }
                }
            }
        }
    };
}

/// Serde for `$owner`, a table that keeps an index beside its map (`.0` the map, `.1` the
/// index): written as the map alone, and read back through its `restore`, which indexes each
/// record under its own id.
macro_rules! read_back_whole {
    ($owner:ident, $key:ty, $value:ty) => {
        impl serde::Serialize for $owner {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $owner {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let map = std::collections::BTreeMap::<$key, $value>::deserialize(deserializer)?;
                let mut table = $owner::default();
                for record in map.into_values() {
                    table.restore(record);
                }
                Ok(table)
            }
        }
    };
}

pub(super) use {keyed_table, plain_writes, read_back_whole};

/// Numbers below a bound, drawn from a fixed seed: for the tests that make random changes to a
/// table and check its index after each.
#[cfg(test)]
pub(super) fn draws(seed: u64) -> impl FnMut(u64) -> u64 {
    use rand_core::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    move |below| rng.next_u64() % below
}
