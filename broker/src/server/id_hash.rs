//! The hash of the connection table's maps, keyed by connection tokens and uids.
//!
//! std's default (SipHash with a random key) resists a party who chooses the keys. Here
//! nobody does: tokens come from a counter and uids from the kernel, and a local user has
//! only the uids they have. One multiply per key is then enough, and it is paid twice on
//! every request (its uid's count of requests in flight goes up and down).

use std::hash::{BuildHasherDefault, Hasher};

/// Builds [`IdHasher`]s.
pub type BuildIdHasher = BuildHasherDefault<IdHasher>;

/// Multiplies by an odd constant (a bijection, so distinct ids never collide before the
/// table's own reduction) and folds the high half in, since tables use both ends.
#[derive(Debug, Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn sequential_ids_spread_over_both_ends() {
        let hash = |n: u64| BuildIdHasher::default().hash_one(n);
        let low: HashSet<u64> = (0..4096).map(|n| hash(n) & 4095).collect();
        let high: HashSet<u64> = (0..4096).map(|n| hash(n) >> 57).collect();
        assert!(low.len() > 2400, "{} low buckets of 4096", low.len());
        assert_eq!(high.len(), 128, "every top-7-bit tag is used");
    }
}
