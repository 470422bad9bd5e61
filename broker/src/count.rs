//! Counts in what people read: "1 rule", "2 rules", never "1 rules".

use std::fmt;

/// `n` and `noun` (given in the singular), plural unless `n` is one. Every noun counted
/// in the broker's messages takes an `s`.
pub fn count<N>(n: N, noun: &str) -> Count<'_, N> {
    Count { n, noun }
}

/// See [`count`].
#[derive(Debug, Clone, Copy)]
pub struct Count<'a, N> {
    n: N,
    noun: &'a str,
}

impl<N: fmt::Display + PartialEq + From<u8>> fmt::Display for Count<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.n == N::from(1) { "" } else { "s" };
        write!(f, "{} {}{s}", self.n, self.noun)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(0, "rule").to_string(), "0 rules");
        assert_eq!(count(1, "rule").to_string(), "1 rule");
        assert_eq!(count(2_i64, "fd").to_string(), "2 fds");
    }
}
