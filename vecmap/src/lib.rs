//! A small ordered map and set: a vector of entries sorted by key, for a call's handful of
//! peers, connections, requests and keys (at most a few hundred). They iterate in key order
//! like `BTreeMap` and `BTreeSet` (so code that uses them behaves the same), and cost a
//! fraction of their code in the browser's wasm modules: `BTreeMap`'s node code, and the
//! stable sort its `collect` uses, are copied for every key and value type. Lookups are a
//! binary search; inserts and removes move the entries after them (fine at these sizes).
use std::borrow::Borrow;

#[derive(Debug, Clone)]
pub struct VecMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<K: Ord, V> VecMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.0.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.0[i].1)
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Inserts or replaces; returns the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// The value for `key`, inserting `value` first if there is none.
    pub fn get_or_insert(&mut self, key: K, value: V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (key, value));
                i
            }
        };
        &mut self.0[i].1
    }

    /// Keeps the entries for which `keep(key, value)` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v));
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + Clone {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> + Clone {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + Clone {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }

    pub fn into_values(self) -> impl Iterator<Item = V> {
        self.0.into_iter().map(|(_, v)| v)
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    /// As `BTreeMap`'s: for a key given twice, the last value wins.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut map = Self::new();
        for (k, v) in entries {
            map.insert(k, v);
        }
        map
    }
}

impl<K, Q, V> std::ops::Index<&Q> for VecMap<K, V>
where
    K: Ord + Borrow<Q>,
    Q: Ord + ?Sized,
{
    type Output = V;

    /// Panics when `key` is absent, as `BTreeMap`'s does (for tests and known keys only).
    fn index(&self, key: &Q) -> &V {
        #[allow(clippy::expect_used)]
        self.get(key).expect("no entry for this key")
    }
}

impl<K: PartialEq, V: PartialEq> PartialEq for VecMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<K: Eq, V: Eq> Eq for VecMap<K, V> {}

#[cfg(feature = "serde")]
impl<K: serde::Serialize, V: serde::Serialize> serde::Serialize for VecMap<K, V> {
    /// As a map in key order, as serde writes a `BTreeMap`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// A small ordered set: a [`VecMap`] without values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecSet<T>(VecMap<T, ()>);

impl<T> Default for VecSet<T> {
    fn default() -> Self {
        Self(VecMap::default())
    }
}

impl<T: Ord> VecSet<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value`; false if it was there already (the one there is kept, as `BTreeSet` does).
    pub fn insert(&mut self, value: T) -> bool {
        match self.0.find(&value) {
            Ok(_) => false,
            Err(i) => {
                self.0 .0.insert(i, (value, ()));
                true
            }
        }
    }

    pub fn contains<Q: Ord + ?Sized>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        self.0.contains_key(value)
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, value: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        self.0.remove(value).is_some()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + Clone {
        self.0.keys()
    }
}

impl<T: Ord> FromIterator<T> for VecSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(values: I) -> Self {
        let mut set = Self::new();
        for v in values {
            set.insert(v);
        }
        set
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn behaves_as_a_btree_map_step_by_step() {
        // the same operations on both, from a fixed pseudo-random sequence
        let mut ours: VecMap<u32, u32> = VecMap::new();
        let mut theirs: BTreeMap<u32, u32> = BTreeMap::new();
        let mut x: u32 = 12345;
        for step in 0..5_000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let key = (x >> 16) % 64;
            match x % 5 {
                0 | 1 => assert_eq!(ours.insert(key, step), theirs.insert(key, step)),
                2 => assert_eq!(ours.remove(&key), theirs.remove(&key)),
                3 => {
                    *ours.get_or_insert(key, 0) += 1;
                    *theirs.entry(key).or_insert(0) += 1;
                }
                _ => {
                    if let (Some(a), Some(b)) = (ours.get_mut(&key), theirs.get_mut(&key)) {
                        *a += 7;
                        *b += 7;
                    }
                }
            }
            assert_eq!(ours.contains_key(&key), theirs.contains_key(&key));
            assert_eq!(ours.get(&key), theirs.get(&key));
            assert_eq!(ours.len(), theirs.len());
        }
        let a: Vec<(u32, u32)> = ours.iter().map(|(k, v)| (*k, *v)).collect();
        let b: Vec<(u32, u32)> = theirs.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(a, b, "same entries in the same order");
        ours.retain(|k, _| k % 2 == 0);
        theirs.retain(|k, _| k % 2 == 0);
        assert!(ours.keys().eq(theirs.keys()));
        assert!(!ours.is_empty());
        ours.clear();
        assert!(ours.is_empty() && ours.keys().next().is_none());
    }

    #[test]
    fn collect_keeps_the_last_value_for_a_repeated_key_as_a_btree_map_does() {
        let pairs = [(3, "a"), (1, "b"), (3, "c"), (2, "d"), (1, "e")];
        let ours: VecMap<u32, &str> = pairs.into_iter().collect();
        let theirs: BTreeMap<u32, &str> = pairs.into_iter().collect();
        assert!(ours.iter().eq(theirs.iter()));
        assert_eq!(ours[&3], "c");
        assert_eq!(ours, pairs.into_iter().rev().rev().collect());
        assert_ne!(ours, pairs[..2].iter().copied().collect());
    }

    #[test]
    fn behaves_as_a_btree_set_step_by_step() {
        use std::collections::BTreeSet;
        let mut ours: VecSet<u32> = VecSet::new();
        let mut theirs: BTreeSet<u32> = BTreeSet::new();
        let mut x: u32 = 777;
        for _ in 0..3_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let v = (x >> 16) % 48;
            if x % 3 == 0 {
                assert_eq!(ours.remove(&v), theirs.remove(&v));
            } else {
                assert_eq!(ours.insert(v), theirs.insert(v));
            }
            assert_eq!(ours.contains(&v), theirs.contains(&v));
            assert_eq!(ours.len(), theirs.len());
        }
        assert!(ours.iter().eq(theirs.iter()));
        let collected: VecSet<u32> = [5, 1, 5, 3].into_iter().collect();
        assert!(collected.iter().eq([1, 3, 5].iter()));
        assert!(!collected.is_empty());
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serializes_as_serde_serializes_a_btree_map() {
        let pairs = [
            ("b".to_owned(), 2u64),
            ("a".to_owned(), 1),
            ("c".to_owned(), 3),
        ];
        let ours: VecMap<String, u64> = pairs.iter().cloned().collect();
        let theirs: BTreeMap<String, u64> = pairs.iter().cloned().collect();
        assert_eq!(
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(&theirs).unwrap()
        );
        assert_eq!(
            serde_json::to_string(&ours).unwrap(),
            r#"{"a":1,"b":2,"c":3}"#
        );
    }
}
