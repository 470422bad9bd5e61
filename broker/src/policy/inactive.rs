//! Allow rules that serve nothing: a root of theirs could not be confined to at start
//! (missing, not a directory, or reached through a symbolic link; see
//! [`crate::startup::grant_root`]).
//!
//! Such a rule keeps its place in the policy (its name, its counters, its order among
//! the rules), but a request it allows is not served: it fails with an audit record
//! saying why. The broker's Landlock rules do not cover the root, and serving what a
//! rule grants beyond the broker's confinement could only fail later, or, without
//! Landlock, grant more than was confined to. The administrator fixes the root and
//! restarts the broker.

use std::fmt;
use std::path::PathBuf;

use crate::startup::grant_root::Unusable;

/// One inactive rule and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InactiveRule {
    /// The rule's index in its policy.
    pub index: usize,
    /// The rule's name.
    pub name: String,
    /// The line of its `[[rule]]` header.
    pub line: u32,
    /// The root that could not be confined to.
    pub root: PathBuf,
    /// Why.
    pub why: Unusable,
}

impl InactiveRule {
    /// Why it serves nothing: `its root PATH does not exist` (for `Status`).
    pub fn reason(&self) -> String {
        format!("its root {} {}", self.root.display(), self.why)
    }
}

impl fmt::Display for InactiveRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {:?} is inactive: {}", self.name, self.reason())
    }
}

/// The inactive rules of one loaded policy.
#[derive(Debug, Default)]
pub struct Inactive {
    /// Per rule index, whether it is inactive; empty when no rule is.
    flags: Box<[bool]>,
    rules: Vec<InactiveRule>,
}

impl Inactive {
    /// The inactive `rules` of a policy of `rule_count` rules.
    pub fn new(rules: Vec<InactiveRule>, rule_count: usize) -> Inactive {
        let mut flags = Vec::new();
        if !rules.is_empty() {
            flags = vec![false; rule_count];
            for rule in &rules {
                flags[rule.index] = true;
            }
        }
        Inactive {
            flags: flags.into(),
            rules,
        }
    }

    /// Whether the rule at `index` is inactive.
    #[inline]
    pub fn contains(&self, index: usize) -> bool {
        self.flags.get(index).copied().unwrap_or(false)
    }

    /// The inactive rules, in policy order, with why (for the log and `Status`).
    pub fn rules(&self) -> &[InactiveRule] {
        &self.rules
    }

    /// Logs a warning for each.
    pub fn warn(&self) {
        for rule in &self.rules {
            log::warn!(
                "{rule}: it serves nothing; fix the root and restart the broker to serve it"
            );
        }
    }
}
