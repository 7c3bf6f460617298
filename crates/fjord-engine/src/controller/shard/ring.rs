//! Consistent hashing of Application keys (`namespace/name`) over the live replicas.
//!
//! Each replica is placed on a 64-bit ring at [`VIRTUAL_NODES`] points (the FNV-1a hash of
//! `<replica>#<n>`); a key belongs to the replica of the first point at or after the key's own
//! hash, wrapping around. Adding or removing one replica of N therefore moves only the keys of
//! the arcs it takes or gives up, about 1/N of them, and the virtual nodes keep the shares
//! within a few per cent of 1/N. The hash is written out here (FNV-1a 64 with a final
//! avalanche) rather than taken from `std`'s `DefaultHasher`, whose output may differ between
//! builds: every replica must compute the same owner for the same key.

/// Points per replica on the ring.
pub const VIRTUAL_NODES: usize = 160;

/// FNV-1a, 64 bit, followed by a 64-bit finaliser (MurmurHash3's `fmix64`) so that keys that
/// differ only in their last bytes spread over the whole ring.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The ring of one membership view.
#[derive(Clone, Debug, Default)]
pub struct Ring {
    /// Sorted points and the index of their replica in `members`.
    points: Vec<(u64, usize)>,
    /// The replicas, sorted.
    members: Vec<String>,
}

impl Ring {
    /// The ring of `members` (order and duplicates do not matter).
    pub fn new<I, S>(members: I) -> Ring
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut members: Vec<String> = members.into_iter().map(Into::into).collect();
        members.sort();
        members.dedup();
        let mut points = Vec::with_capacity(members.len() * VIRTUAL_NODES);
        for (i, m) in members.iter().enumerate() {
            for n in 0..VIRTUAL_NODES {
                points.push((stable_hash(format!("{m}#{n}").as_bytes()), i));
            }
        }
        points.sort_unstable();
        Ring { points, members }
    }

    /// The replicas of this view, sorted.
    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// The replica that owns `key`; `None` on an empty ring.
    pub fn owner(&self, key: &str) -> Option<&str> {
        if self.points.is_empty() {
            return None;
        }
        let h = stable_hash(key.as_bytes());
        let at = self.points.partition_point(|(p, _)| *p < h);
        let (_, i) = self.points[at % self.points.len()];
        Some(&self.members[i])
    }

    /// Whether `replica` owns `key`.
    pub fn owns(&self, replica: &str, key: &str) -> bool {
        self.owner(key) == Some(replica)
    }

    /// A short identifier of the view (the sorted members), published by a replica once it acts
    /// on this view.
    pub fn view_hash(&self) -> String {
        format!("{:016x}", stable_hash(self.members.join("\n").as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn keys() -> Vec<String> {
        (0..10_000)
            .map(|i| format!("team-{}/app-{i:05}", i % 7))
            .collect()
    }

    fn owners(ring: &Ring, keys: &[String]) -> Vec<String> {
        keys.iter()
            .map(|k| ring.owner(k).expect("a non-empty ring").to_string())
            .collect()
    }

    #[test]
    fn stable_hash_is_fnv1a_with_a_fixed_finaliser() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c; the finaliser is a fixed bijection.
        let mut h: u64 = 0xaf63_dc4c_8601_ec8c;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        assert_eq!(stable_hash(b"a"), h ^ (h >> 33));
        assert_ne!(stable_hash(b"argocd/a"), stable_hash(b"argocd/b"));
    }

    #[test]
    fn every_replica_gets_about_its_share() {
        let keys = keys();
        for n in [2usize, 3, 4, 5] {
            let ring = Ring::new((0..n).map(|i| format!("fjord-controller-{i}")));
            let mut count: HashMap<String, usize> = HashMap::new();
            for o in owners(&ring, &keys) {
                *count.entry(o).or_default() += 1;
            }
            assert_eq!(count.len(), n, "every replica owns some keys");
            let fair = keys.len() as f64 / n as f64;
            for (replica, c) in count {
                let off = (c as f64 - fair).abs() / fair;
                assert!(
                    off <= 0.25,
                    "{n} replicas: {replica} owns {c} of {} (fair {fair:.0})",
                    keys.len()
                );
            }
        }
    }

    #[test]
    fn a_fourth_replica_takes_about_a_quarter_from_the_others_only() {
        let keys = keys();
        let three = Ring::new(["r-a", "r-b", "r-c"]);
        let four = Ring::new(["r-a", "r-b", "r-c", "r-d"]);
        let (before, after) = (owners(&three, &keys), owners(&four, &keys));
        let moved: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
        let share = moved.len() as f64 / keys.len() as f64;
        assert!((0.20..=0.30).contains(&share), "moved {share:.3}");
        // Every moved key went to the newcomer; none changed hands among the old three.
        assert!(moved.iter().all(|(_, a)| a.as_str() == "r-d"));
    }

    #[test]
    fn removing_a_replica_moves_only_its_keys() {
        let keys = keys();
        let three = Ring::new(["r-a", "r-b", "r-c"]);
        let two = Ring::new(["r-a", "r-c"]);
        for (b, a) in owners(&three, &keys).iter().zip(owners(&two, &keys)) {
            if b != "r-b" {
                assert_eq!(*b, a, "a key of a survivor moved");
            } else {
                assert_ne!(a, "r-b");
            }
        }
    }

    #[test]
    fn the_view_ignores_order_and_the_empty_ring_owns_nothing() {
        assert_eq!(
            Ring::new(["b", "a"]).view_hash(),
            Ring::new(["a", "b", "a"]).view_hash()
        );
        assert_ne!(
            Ring::new(["a"]).view_hash(),
            Ring::new(["a", "b"]).view_hash()
        );
        assert_eq!(Ring::new(Vec::<String>::new()).owner("argocd/x"), None);
        assert!(Ring::new(["only"]).owns("only", "argocd/x"));
    }
}
