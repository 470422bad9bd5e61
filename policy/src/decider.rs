//! Deciding many paths of one request in a row: a batch's paths mostly share their
//! directory, and the index's walk of that directory is the same for each of them.
//!
//! [`Policy::decide`] walks the index from a path's first component; for
//! `/srv/uploads/a/f`, three of its four lookups are the directory's. A [`Decider`] keeps
//! the candidates of the last directory's walk and, for the next path in the same
//! directory, looks up only the last component. The answers are those of
//! [`Policy::decide`] for each path (a property test holds it to that): only the walk is
//! shared, every candidate is still matched against the whole path.

use crate::decide::Choice;
use crate::index::{Candidate, DirWalk};
use crate::path::with_components;
use crate::{Access, Decision, Peer, Policy};

/// Decides paths for one peer and one access set, sharing the index walk of consecutive
/// paths' common directory.
#[derive(Debug)]
pub struct Decider<'p, 'a> {
    policy: &'p Policy,
    peer: Peer<'a>,
    access: Access,
    /// The directory last walked: its bytes (without the trailing `/`), the candidates on
    /// its walk and where the walk ended (`None` before the first path).
    dir: Vec<u8>,
    found: Vec<Candidate>,
    walk: Option<DirWalk>,
}

impl Policy {
    /// A [`Decider`] for requests of `peer` for `access`.
    pub fn decider<'p, 'a>(&'p self, peer: Peer<'a>, access: Access) -> Decider<'p, 'a> {
        Decider {
            policy: self,
            peer,
            access,
            dir: Vec::new(),
            found: Vec::new(),
            walk: None,
        }
    }
}

impl<'p> Decider<'p, '_> {
    /// What [`Policy::decide`] answers for `path`.
    pub fn decide(&mut self, path: &[u8]) -> Decision<'p> {
        if self.access.is_empty() {
            return Decision::BY_DEFAULT;
        }
        let Self {
            policy,
            peer,
            access,
            dir,
            found,
            walk,
        } = self;
        let policy: &'p Policy = policy;
        with_components(path, |parts| {
            let Some((name, dir_parts)) = parts.split_last() else {
                // `/` is in no directory.
                return policy.decide_parts(peer, parts, *access);
            };
            // A normalized path's directory is all but its last `/` and name.
            let dir_bytes = &path[..path.len() - name.len() - 1];
            let walk = match walk {
                Some(known) if dir.as_slice() == dir_bytes => *known,
                _ => {
                    dir.clear();
                    dir.extend_from_slice(dir_bytes);
                    found.clear();
                    *walk.insert(policy.index.dir_candidates(dir_parts, |c| found.push(c)))
                }
            };
            let mut choice = Choice::new(policy, peer, parts, *access);
            found.iter().for_each(|&c| choice.offer(c));
            policy.index.candidates_in(walk, parts, |c| choice.offer(c));
            choice.decision()
        })
        .unwrap_or(Decision::BY_DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::policy;

    /// A batch in one directory, then in others, then `/` and a path that is not
    /// normalized: each answer is the one `decide` gives.
    #[test]
    fn answers_are_those_of_decide() {
        let p = policy(
            r#"version = 1

[[rule]]
name = "reads-srv"
users = [1]
paths = ["/srv/**"]
access = ["read"]

[[rule]]
name = "no-secrets"
users = [1]
paths = ["/srv/a/secret*", "/**/core"]
access = ["read"]
effect = "deny"

[[rule]]
name = "txt-anywhere"
users = [1]
paths = ["/**/*.txt"]
access = ["read"]
"#,
        );
        let peer = Peer {
            uid: 1,
            gid: 1,
            groups: &[],
            process: None,
            namespace: Default::default(),
        };
        // Directories with few candidates before ones with more, so that a directory's
        // walk reused for another would lose candidates, not only add some.
        let paths: [&[u8]; 13] = [
            b"/etc/b",
            b"/srv/a/f1",
            b"/srv/a/secret.txt",
            b"/srv/a/core",
            b"/srv/a/f2",
            b"/srv/b/f1",
            b"/etc/a.txt",
            b"/etc/b",
            b"/srv",
            b"/x.txt",
            b"/",
            b"/srv//a",
            b"/srv/a/f1",
        ];
        let mut decider = p.decider(peer, Access::READ);
        for path in paths {
            let (got, want) = (decider.decide(path), p.decide(&peer, path, Access::READ));
            assert_eq!(
                (got.is_allowed(), got.rule().map(|r| r.name())),
                (want.is_allowed(), want.rule().map(|r| r.name())),
                "{}",
                String::from_utf8_lossy(path)
            );
        }
    }
}
