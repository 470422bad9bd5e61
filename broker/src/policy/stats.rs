//! The broker's counters, for `Status` replies and the service manager's status line:
//! per rule allowed and denied, default denials and errors, which count since the policy
//! in force was loaded (a reload starts new counters, since rules may have changed).
//! Relaxed atomics: a count is a statistic, never a decision.

use std::sync::atomic::{AtomicU64, Ordering};

/// The counters of one loaded policy.
#[derive(Debug)]
pub struct Counts {
    rules: Box<[RuleCounts]>,
    default_denied: AtomicU64,
    errors: AtomicU64,
}

#[derive(Debug, Default)]
struct RuleCounts {
    allowed: AtomicU64,
    denied: AtomicU64,
}

impl Counts {
    /// Zeroed counters for a policy of `rules` rules.
    pub fn new(rules: usize) -> Counts {
        Counts {
            rules: (0..rules).map(|_| RuleCounts::default()).collect(),
            default_denied: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// Rule `rule` allowed a request.
    pub fn allowed(&self, rule: usize) {
        if let Some(c) = self.rules.get(rule) {
            c.allowed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Rule `rule` denied a request, or no rule allowed it (`None`).
    pub fn denied(&self, rule: Option<usize>) {
        match rule.and_then(|r| self.rules.get(r)) {
            Some(c) => c.denied.fetch_add(1, Ordering::Relaxed),
            None => self.default_denied.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// An allowed open failed, or a request was malformed.
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// (allowed, denied) of rule `rule`.
    pub fn rule(&self, rule: usize) -> (u64, u64) {
        self.rules.get(rule).map_or((0, 0), |c| {
            (
                c.allowed.load(Ordering::Relaxed),
                c.denied.load(Ordering::Relaxed),
            )
        })
    }

    /// Requests no rule allowed.
    pub fn default_denied(&self) -> u64 {
        self.default_denied.load(Ordering::Relaxed)
    }

    /// Failed opens and malformed requests.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Allowed and denied requests over all rules, default denials included.
    pub fn totals(&self) -> (u64, u64) {
        let allowed = (0..self.rules.len()).map(|r| self.rule(r).0).sum();
        let denied =
            (0..self.rules.len()).map(|r| self.rule(r).1).sum::<u64>() + self.default_denied();
        (allowed, denied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_where_they_belong() {
        let c = Counts::new(2);
        c.allowed(1);
        c.allowed(1);
        c.denied(Some(0));
        c.denied(None);
        c.denied(Some(7)); // a rule index from another policy: counted as default
        c.error();
        assert_eq!(
            (c.rule(0), c.rule(1), c.default_denied(), c.errors()),
            ((0, 1), (2, 0), 2, 1)
        );
        assert_eq!(c.totals(), (2, 3));
    }
}
