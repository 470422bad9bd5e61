//! What a policy says about itself beyond single decisions: where its allow rules can
//! reach (for the broker's Landlock confinement), and which rules grant a client (for what
//! it may see of the broker's status).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::{Access, Effect, Peer, Policy, Rule};

impl Policy {
    /// The allow rules that name `peer` by uid or gid (`users = ["*"]` does not count), in
    /// file order: what a client may learn of the broker's status. Deny rules are left
    /// out: a client the administrator only refuses learns nothing of the policy.
    pub fn granting<'p>(&'p self, peer: &Peer<'_>) -> impl Iterator<Item = &'p Rule> {
        self.rules()
            .iter()
            .filter(|r| r.effect() == Effect::Allow && r.subjects.name(peer))
    }

    /// For each pattern of each allow rule, its grant root (see [`Rule::grant_roots`])
    /// with the rule's access words. Everything this policy can allow lies beneath one of
    /// these roots, with those words. Each (root, access) pair appears once, in the order
    /// of first appearance.
    pub fn reach(&self) -> Vec<(Root, Access)> {
        let mut seen = HashSet::new();
        let mut reach = Vec::new();
        for rule in self.rules().iter().filter(|r| r.effect() == Effect::Allow) {
            for root in rule.grant_roots() {
                if seen.insert((root.clone(), rule.access())) {
                    reach.push((root, rule.access()));
                }
            }
        }
        reach
    }
}

/// Where everything one pattern of an allow rule can grant lies: the tree the broker
/// confines itself to for that pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Root {
    /// The file or directory it all lies beneath.
    pub path: PathBuf,
    /// True when the pattern names this one existing file (no wildcard, no `create`), so
    /// the root may be a file of any type; otherwise it must be a directory.
    pub may_be_file: bool,
}

impl Rule {
    /// The grant root of each of the rule's patterns: its root (see [`Rule::roots`]),
    /// except that a pattern without wildcards in a rule that creates files has its
    /// parent directory as its root, since a file is created in its directory (and
    /// need not exist before).
    pub fn grant_roots(&self) -> impl Iterator<Item = Root> + '_ {
        let creates = self.access().contains(Access::CREATE);
        self.paths.iter().map(move |pattern| {
            let mut path = PathBuf::from("/");
            for component in pattern.leading_literals() {
                path.push(OsStr::from_bytes(component));
            }
            let exact = pattern.is_literal();
            if exact && creates {
                path.pop();
            }
            Root {
                path,
                may_be_file: exact && !creates,
            }
        })
    }

    /// The root of each of the rule's patterns: its leading literal components, up to the
    /// first one with a wildcard (`/srv/up/*.txt` → `/srv/up`; a pattern without
    /// wildcards is its own root). Everything the rule matches lies beneath these.
    pub fn roots(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.paths.iter().map(|pattern| {
            let mut root = PathBuf::from("/");
            for component in pattern.leading_literals() {
                root.push(OsStr::from_bytes(component));
            }
            root
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::Root;
    use crate::testing::policy;
    use crate::{Access, Rule};

    #[test]
    fn roots_stop_at_the_first_wildcard_and_skip_deny_rules() {
        let p = policy(
            r#"version = 1
[[rule]]
name = "a"
users = [1]
paths = ["/srv/up/**", "/srv/up/*.txt", "/srv/exact/file", "/*/x", "/srv/a*b/c"]
access = ["read"]
[[rule]]
name = "c"
users = [1]
paths = ["/srv/spool/new.eml", "/srv/in/**"]
access = ["write", "create"]
[[rule]]
name = "d"
users = [1]
paths = ["/etc/**"]
access = ["read"]
effect = "deny"
"#,
        );
        let root = |path: &str, may_be_file, access| {
            let path = PathBuf::from(path);
            (Root { path, may_be_file }, access)
        };
        let creates = Access::WRITE | Access::CREATE;
        assert_eq!(
            p.reach(),
            [
                root("/srv/up", false, Access::READ),
                root("/srv/exact/file", true, Access::READ),
                root("/", false, Access::READ),
                root("/srv", false, Access::READ),
                root("/srv/spool", false, creates),
                root("/srv/in", false, creates),
            ]
        );
    }

    #[test]
    fn names_are_ids_not_wildcards_and_subjects_print_resolved() {
        let p = policy(
            r#"version = 1
[[rule]]
name = "any"
users = ["*"]
paths = ["/a"]
access = ["read"]
[[rule]]
name = "some"
users = [5, "alice"]
groups = [100]
paths = ["/b/**", "/c/*.txt"]
access = ["read"]
"#,
        );
        let peer = |uid, gid, groups: &'static [u32]| crate::Peer {
            uid,
            gid,
            groups,
            process: None,
            namespace: Default::default(),
        };
        let granting = |peer| p.granting(&peer).map(Rule::name).collect::<Vec<_>>();
        assert!(
            granting(peer(7, 7, &[])).is_empty(),
            "users = [\"*\"] names nobody"
        );
        assert_eq!(granting(peer(5, 7, &[])), ["some"]);
        assert_eq!(granting(peer(7, 7, &[100])), ["some"]);
        assert_eq!(granting(peer(7, 100, &[])), ["some"]);
        let some = &p.rules()[1];
        assert_eq!(some.patterns().collect::<Vec<_>>(), ["/b/**", "/c/*.txt"]);
        assert_eq!(some.index(), 1);
        assert_eq!(p.rules()[0].subjects().to_string(), "users=[*]");
        assert!(
            some.subjects().to_string().starts_with("users=[5,"),
            "{}",
            some.subjects()
        );
        assert!(some.subjects().to_string().ends_with(" groups=[100]"));
    }

    #[test]
    fn deny_rules_grant_nothing() {
        let p = policy(
            r#"version = 1
[[rule]]
name = "held"
users = [5]
paths = ["/a/**"]
access = ["read"]
effect = "deny"
[[rule]]
name = "reads"
users = [6]
paths = ["/a/**"]
access = ["read"]
"#,
        );
        let peer = |uid| crate::Peer {
            uid,
            gid: uid,
            groups: &[],
            process: None,
            namespace: Default::default(),
        };
        assert_eq!(p.granting(&peer(5)).count(), 0);
        assert_eq!(
            p.granting(&peer(6)).map(Rule::name).collect::<Vec<_>>(),
            ["reads"]
        );
    }
}
