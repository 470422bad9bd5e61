//! A list of at most [`MAX_BATCH`] items (or another limit `MAX`) whose decoder checks the count the peer claims
//! before allocating anything, so a hostile count costs nothing.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::MAX_BATCH;

/// Up to `MAX` items, [`MAX_BATCH`] unless said otherwise: the paths of an `OpenMany`
/// request, or the records of its reply; the groups of an `Explain`. Encoded as a
/// postcard sequence (a varint count, then the items).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch<T, const MAX: usize = MAX_BATCH>(pub Vec<T>);

impl<T: Serialize, const MAX: usize> Serialize for Batch<T, MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for Batch<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Batch<T, MAX>, D::Error> {
        d.deserialize_seq(BatchVisitor(PhantomData))
    }
}

struct BatchVisitor<T, const MAX: usize>(PhantomData<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for BatchVisitor<T, MAX> {
    type Value = Batch<T, MAX>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a sequence of at most {MAX} items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Batch<T, MAX>, A::Error> {
        let claimed = seq.size_hint().unwrap_or(0);
        if claimed > MAX {
            return Err(de::Error::invalid_length(claimed, &self));
        }
        let mut items = Vec::with_capacity(claimed);
        while let Some(item) = seq.next_element()? {
            if items.len() == MAX {
                return Err(de::Error::invalid_length(MAX + 1, &self));
            }
            items.push(item);
        }
        Ok(Batch(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_batch_round_trips() {
        let paths: Vec<&[u8]> = vec![b"/a"; MAX_BATCH];
        let bytes = postcard::to_allocvec(&Batch::<_>(paths.clone())).unwrap();
        let back: Batch<&[u8]> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.0, paths);
    }

    #[test]
    fn a_count_over_the_limit_is_refused_before_reading_items() {
        let paths: Vec<&[u8]> = vec![b"/a"; MAX_BATCH + 1];
        let bytes = postcard::to_allocvec(&paths).unwrap();
        assert!(postcard::from_bytes::<Batch<&[u8]>>(&bytes).is_err());
        // A count of 2^32 with no items behind it.
        let lying = [0x80, 0x80, 0x80, 0x80, 0x10];
        assert!(postcard::from_bytes::<Batch<&[u8]>>(&lying).is_err());
    }
}
