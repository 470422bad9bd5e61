//! The compiled matcher: an index from path components to the patterns that can match a path,
//! built once when a policy is loaded, so that a decision looks at a few candidate patterns
//! instead of every rule.
//!
//! Each pattern is filed under the longer of its two literal ends (see
//! [`crate::pattern::Pattern::leading_literals`] and
//! [`crate::pattern::Pattern::trailing_literals`]):
//!
//! - its leading literal components, in a trie walked from a path's first component
//!   (`/srv/tenant7/uploads/**` sits at `srv` → `tenant7` → `uploads`);
//! - or, when they are more, its trailing literal components, in a trie walked from a path's
//!   last component (`/**/core` sits at `core`).
//!
//! A pattern with no literal at either end (`/**`, `/*/x*`, `/`) sits at the root of the
//! first trie and is a candidate for every path. A pattern can match a path only if the path
//! has the pattern's literal end as its own first (or last) components, that is, only if the
//! walk of the path passes the pattern's node. So the candidates of a path include every
//! pattern that matches it; the caller still matches each candidate in full.

use std::collections::HashMap;
use std::fmt;

use crate::hash::BuildComponentHasher;
use crate::rule::Rule;

/// One path pattern of one rule: `rules[rule].paths[pattern]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub(crate) rule: usize,
    pub(crate) pattern: usize,
}

/// The patterns of a policy's rules, filed by their literal ends.
pub(crate) struct Index {
    /// Keyed by leading literal components, first component first.
    leading: Trie,
    /// Keyed by trailing literal components, last component first.
    trailing: Trie,
}

impl Index {
    /// Files every pattern of every rule. Linear in the total size of the patterns.
    pub(crate) fn new(rules: &[Rule]) -> Index {
        let (mut leading, mut trailing) = (Trie::new(), Trie::new());
        for (rule, r) in rules.iter().enumerate() {
            for (pattern, p) in r.paths.iter().enumerate() {
                let candidate = Candidate { rule, pattern };
                if p.trailing_literals().count() > p.leading_literals().count() {
                    trailing.insert(p.trailing_literals(), candidate);
                } else {
                    leading.insert(p.leading_literals(), candidate);
                }
            }
        }
        Index { leading, trailing }
    }

    /// Calls `found` once for each pattern filed on the walks of `path` (given as its
    /// components): every pattern that matches `path` is among them, with others that share
    /// its literal end; in no particular order. Allocates nothing; costs at most one hash
    /// lookup per path component in each trie, plus one call per candidate.
    pub(crate) fn candidates(&self, path: &[&[u8]], mut found: impl FnMut(Candidate)) {
        self.leading.walk(path.iter().copied(), &mut found);
        self.trailing.walk(path.iter().rev().copied(), &mut found);
    }

    /// The first part of [`Index::candidates`] for every path in the directory `dir`
    /// (given as its components): the patterns filed on the leading walk of `dir`, passed
    /// to `found`. Returns where that walk ended, for [`Index::candidates_in`].
    pub(crate) fn dir_candidates(
        &self,
        dir: &[&[u8]],
        mut found: impl FnMut(Candidate),
    ) -> DirWalk {
        DirWalk(self.leading.walk(dir.iter().copied(), &mut found))
    }

    /// The rest of [`Index::candidates`] for `path` (given as its components), a path in
    /// the directory whose walk is `dir`: the candidates of `dir`'s leading walk were
    /// reported by [`Index::dir_candidates`].
    pub(crate) fn candidates_in(
        &self,
        dir: DirWalk,
        path: &[&[u8]],
        mut found: impl FnMut(Candidate),
    ) {
        // One step further than the directory's walk: its node's own candidates are
        // reported already.
        if let (Some(node), Some(name)) = (dir.0, path.last())
            && let Some(&child) = self.leading.nodes[node].children.get(*name)
        {
            self.leading.nodes[child]
                .candidates
                .iter()
                .copied()
                .for_each(&mut found);
        }
        self.trailing.walk(path.iter().rev().copied(), &mut found);
    }
}

/// Where the leading walk of a directory ended: at its node, or `None` if the walk
/// stopped before the directory's last component (then no path in it goes further).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DirWalk(Option<usize>);

impl fmt::Debug for Index {
    /// The size only: the index is derived from the rules and would only repeat them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index")
            .field("leading_nodes", &self.leading.nodes.len())
            .field("trailing_nodes", &self.trailing.nodes.len())
            .finish()
    }
}

/// A trie over path components whose nodes hold the candidates filed at them.
struct Trie {
    /// `nodes[0]` is the root.
    nodes: Vec<Node>,
}

#[derive(Default)]
struct Node {
    children: HashMap<Box<[u8]>, usize, BuildComponentHasher>,
    candidates: Vec<Candidate>,
}

impl Trie {
    fn new() -> Trie {
        Trie {
            nodes: vec![Node::default()],
        }
    }

    /// Files `candidate` at the node reached by `key` from the root, creating nodes as needed.
    fn insert<'k>(&mut self, key: impl Iterator<Item = &'k [u8]>, candidate: Candidate) {
        let mut at = 0;
        for component in key {
            at = match self.nodes[at].children.get(component) {
                Some(&child) => child,
                None => {
                    let child = self.nodes.len();
                    self.nodes[at].children.insert(component.into(), child);
                    self.nodes.push(Node::default());
                    child
                }
            };
        }
        self.nodes[at].candidates.push(candidate);
    }

    /// Reports the candidates of every node on the walk of `path` from the root, which stops
    /// at the first component without a child. Returns the node where `path` ran out, or
    /// `None` if the walk stopped before.
    fn walk<'p>(
        &self,
        mut path: impl Iterator<Item = &'p [u8]>,
        found: &mut impl FnMut(Candidate),
    ) -> Option<usize> {
        let mut at = 0;
        loop {
            let node = &self.nodes[at];
            node.candidates.iter().copied().for_each(&mut *found);
            match path.next() {
                None => return Some(at),
                Some(c) => at = *node.children.get(c)?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::policy;

    /// The candidates of `path` in `text`'s policy, as `RULE.PATTERN`, sorted.
    fn candidates(text: &str, path: &str) -> Vec<String> {
        let p = policy(text);
        let mut found = Vec::new();
        crate::path::with_components(path.as_bytes(), |parts| {
            p.index
                .candidates(parts, |c| found.push(format!("{}.{}", c.rule, c.pattern)));
        })
        .expect("normalized");
        found.sort();
        found
    }

    #[test]
    fn patterns_are_candidates_only_for_paths_through_their_literal_end() {
        let mut text = String::from("version = 1\n");
        for (i, paths) in [
            "'/srv/a/**', '/srv/*/x'",
            "'/**/core', '/srv/**/b/c'",
            "'/**', '/', '/*/x*'",
            "'/srv/a/b', '/srv/a/b/**'",
        ]
        .iter()
        .enumerate()
        {
            text += &format!(
                "[[rule]]\nname = 'r{i}'\nusers = ['*']\npaths = [{paths}]\naccess = ['read']\n"
            );
        }
        let root = ["2.0", "2.1", "2.2"];
        let with = |more: &[&str]| {
            let mut all: Vec<String> = root.iter().chain(more).map(|s| s.to_string()).collect();
            all.sort();
            all
        };
        assert_eq!(candidates(&text, "/"), with(&[]));
        assert_eq!(candidates(&text, "/etc/passwd"), with(&[]));
        assert_eq!(candidates(&text, "/srv"), with(&["0.1"]));
        assert_eq!(candidates(&text, "/srv/a"), with(&["0.0", "0.1"]));
        assert_eq!(
            candidates(&text, "/srv/a/b"),
            with(&["0.0", "0.1", "3.0", "3.1"])
        );
        assert_eq!(
            candidates(&text, "/x/b/c"),
            with(&["1.1"]),
            "filed by its longer, trailing end"
        );
        assert_eq!(candidates(&text, "/srv/core"), with(&["0.1", "1.0"]));
    }
}
