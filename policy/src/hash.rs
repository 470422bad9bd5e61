//! The hash function of the index's tables, which map path components to trie nodes.
//!
//! std's default (SipHash with a random key) resists a party who chooses the keys that are
//! inserted. Here the inserted keys come from the policy, which the administrator writes; a
//! client only looks components up, and a lookup cannot make the table's probe sequences
//! longer than the policy's own keys make them. So an unkeyed hash is safe, and it costs a
//! fraction of SipHash on short components, which matters because a decision hashes one
//! component per level of the path. The final mix spreads keys that differ only in a few
//! bytes (`tenant1`, `tenant2`, ...) over the whole table.

use std::hash::{BuildHasherDefault, Hasher};

/// Builds [`ComponentHasher`]s.
pub(crate) type BuildComponentHasher = BuildHasherDefault<ComponentHasher>;

/// Hashes bytes eight at a time with a multiply-rotate step, then mixes the result with the
/// MurmurHash3 finalizer so that every input bit affects every output bit.
#[derive(Default)]
pub(crate) struct ComponentHasher(u64);

impl ComponentHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0 ^ word)
            .wrapping_mul(0xf135_7aea_2e62_a9c5)
            .rotate_left(26);
    }
}

impl Hasher for ComponentHasher {
    /// Zero-pads the last word: `[u8]` hashes its length first, so `a` and `a\0` differ.
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.add(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            self.add(tail_word(tail));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The 1 to 7 bytes of `tail` as a little-endian word, zero-padded, read with overlapping
/// loads rather than copied into a padded buffer: a word read back from bytes just stored
/// one by one waits for the stores, which was a quarter of a decision's time.
fn tail_word(tail: &[u8]) -> u64 {
    let n = tail.len();
    debug_assert!((1..8).contains(&n));
    if n >= 4 {
        let low = u32::from_le_bytes(tail[..4].try_into().expect("4 bytes"));
        let high = u32::from_le_bytes(tail[n - 4..].try_into().expect("4 bytes"));
        u64::from(low) | u64::from(high) << (8 * (n - 4))
    } else {
        let byte = |i: usize| u64::from(tail[i]) << (8 * i);
        byte(0) | byte(n / 2) | byte(n - 1)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn similar_components_spread_over_the_low_bits() {
        // hashbrown picks buckets from the low bits: similar names must not cluster there.
        let hash = |s: &str| BuildComponentHasher::default().hash_one(s.as_bytes());
        let buckets: HashSet<u64> = (0..4096)
            .map(|i| hash(&format!("tenant{i}")) & 4095)
            .collect();
        assert!(buckets.len() > 2400, "{} buckets of 4096", buckets.len());
        assert_ne!(hash("a"), hash("a\0"));
        assert_ne!(hash(""), hash("\0"));
    }

    #[test]
    fn a_tail_word_is_the_zero_padded_little_endian_word() {
        let bytes = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77];
        for n in 1..8 {
            let mut padded = [0; 8];
            padded[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(
                tail_word(&bytes[..n]),
                u64::from_le_bytes(padded),
                "{n} bytes"
            );
        }
    }
}
