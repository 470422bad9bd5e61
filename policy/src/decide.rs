//! The decision rule: which rule, if any, decides a request, and whether it is allowed.

use std::fmt;

use crate::index::Candidate;
use crate::path::with_components;
use crate::rule::Rule;
use crate::{Access, Effect, Peer, Policy};

/// The outcome of [`Policy::decide`]: allowed by an allow rule, or denied by a deny rule or
/// by default. An allowed request always has the rule that allowed it.
#[derive(Debug, Clone, Copy)]
pub enum Decision<'p> {
    /// Allowed by this allow rule.
    Allow(&'p Rule),
    /// Denied by this deny rule, or by default (`None`: no rule decided).
    Deny(Option<&'p Rule>),
}

impl<'p> Decision<'p> {
    /// Denied by no rule: what a request gets when no rule decides it.
    pub(crate) const BY_DEFAULT: Self = Decision::Deny(None);

    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The rule that decided: the allow or deny rule, `None` for the default deny.
    pub fn rule(&self) -> Option<&'p Rule> {
        match *self {
            Decision::Allow(rule) => Some(rule),
            Decision::Deny(rule) => rule,
        }
    }
}

impl fmt::Display for Decision<'_> {
    /// `allow (rule "NAME")`, `deny (rule "NAME")` or `deny (no rule matched: default deny)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allow(rule) => write!(f, "allow (rule {:?})", rule.name()),
            Decision::Deny(Some(rule)) => write!(f, "deny (rule {:?})", rule.name()),
            Decision::Deny(None) => write!(f, "deny (no rule matched: default deny)"),
        }
    }
}

impl Policy {
    /// Decides whether `peer` may open `path` with `access`.
    ///
    /// Denied by the first deny rule (in file order) that applies to the peer, matches the
    /// path and names any of the requested words; else allowed by the first allow rule that
    /// applies, matches and grants every requested word; else denied by default. An empty
    /// `access`, or a `path` that is not absolute and normalized, is denied by default.
    ///
    /// Only the patterns the compiled index offers as candidates for `path` are examined
    /// (every pattern that can match it is among them), so the cost depends on the path and
    /// on how many patterns share its literal ends, not on the number of rules.
    pub fn decide(&self, peer: &Peer<'_>, path: &[u8], access: Access) -> Decision<'_> {
        if access.is_empty() {
            return Decision::BY_DEFAULT;
        }
        with_components(path, |path| self.decide_parts(peer, path, access))
            .unwrap_or(Decision::BY_DEFAULT)
    }

    /// [`Policy::decide`] for a path given as its components.
    pub(crate) fn decide_parts(
        &self,
        peer: &Peer<'_>,
        path: &[&[u8]],
        access: Access,
    ) -> Decision<'_> {
        let mut choice = Choice::new(self, peer, path, access);
        self.index.candidates(path, |c| choice.offer(c));
        choice.decision()
    }
}

/// The decision among the patterns offered, which must include every pattern that can
/// match the path: the earliest qualifying rule of each effect.
pub(crate) struct Choice<'p, 'r> {
    policy: &'p Policy,
    peer: &'r Peer<'r>,
    path: &'r [&'r [u8]],
    access: Access,
    deny: Option<usize>,
    allow: Option<usize>,
}

impl<'p, 'r> Choice<'p, 'r> {
    pub(crate) fn new(
        policy: &'p Policy,
        peer: &'r Peer<'r>,
        path: &'r [&'r [u8]],
        access: Access,
    ) -> Self {
        Choice {
            policy,
            peer,
            path,
            access,
            deny: None,
            allow: None,
        }
    }

    /// Considers one candidate pattern. Candidates come in no particular order (and may
    /// repeat): keep the earliest qualifying rule of each effect. An allow rule no longer
    /// matters once any deny rule qualifies.
    pub(crate) fn offer(&mut self, Candidate { rule: i, pattern }: Candidate) {
        let rule = &self.policy.rules()[i];
        let earlier = |best: Option<usize>| best.is_none_or(|b| i < b);
        let (best, relevant) = match rule.effect() {
            Effect::Deny => (&mut self.deny, rule.decides().intersects(self.access)),
            Effect::Allow => (
                &mut self.allow,
                self.deny.is_none() && rule.decides().contains(self.access),
            ),
        };
        // Cheapest tests first: the pattern match is the expensive one.
        if relevant
            && earlier(*best)
            && applies(self.peer, rule)
            && rule.identity.matches(self.peer.process)
            && rule.paths[pattern].matches(self.path)
        {
            *best = Some(i);
        }
    }

    /// The decision among the candidates offered.
    pub(crate) fn decision(self) -> Decision<'p> {
        let rules = self.policy.rules();
        match (self.deny, self.allow) {
            (Some(i), _) => Decision::Deny(Some(&rules[i])),
            (None, Some(i)) => Decision::Allow(&rules[i]),
            (None, None) => Decision::BY_DEFAULT,
        }
    }
}

/// Whether `rule` applies to `peer` by its uid and groups. A client in another user
/// namespace is also its namespace's owner to a deny rule, and only an allow rule with
/// `user_namespaces = true` grants to it.
fn applies(peer: &Peer<'_>, rule: &Rule) -> bool {
    match rule.effect() {
        Effect::Deny => {
            rule.subjects.apply_to(peer)
                || peer
                    .namespace
                    .owner()
                    .is_some_and(|owner| rule.subjects.apply_to(&owner))
        }
        Effect::Allow => {
            peer.namespace.admitted(rule.identity.user_namespaces) && rule.subjects.apply_to(peer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::policy;

    const POLICY: &str = r#"version = 1

[[rule]]
name = "scanner-reads-uploads"
users = ["clamav"]
groups = ["scanners"]
paths = ["/srv/uploads/**"]
access = ["read", "list"]

[[rule]]
name = "staff-write-spool"
groups = ["staff"]
paths = ["/srv/spool/*.eml"]
access = ["write", "create", "truncate"]

[[rule]]
name = "staff-read-spool"
groups = ["staff"]
paths = ["/srv/spool/*.eml"]
access = ["read"]

[[rule]]
name = "no-quarantine"
users = ["*"]
paths = ["/srv/uploads/quarantine/**"]
access = ["read", "write"]
effect = "deny"

[[rule]]
name = "no-quarantine-list"
users = ["*"]
paths = ["/srv/uploads/quarantine/**"]
access = ["list"]
effect = "deny"

[[rule]]
name = "root-reads-all"
users = [0]
paths = ["/**"]
access = ["read"]

[[rule]]
name = "alice-home"
users = ["alice"]
paths = ["/home/alice/**"]
access = ["read", "write", "create", "truncate", "list"]

[[rule]]
name = "alice-no-ssh-changes"
users = ["alice"]
paths = ["/home/alice/.ssh/**"]
access = ["write", "create", "truncate"]
effect = "deny"
"#;

    const fn peer(uid: u32, gid: u32, groups: &'static [u32]) -> Peer<'static> {
        Peer {
            uid,
            gid,
            groups,
            process: None,
            namespace: crate::Namespace::Broker,
        }
    }
    const CLAMAV: Peer<'static> = peer(1001, 1001, &[]);
    const SCANNER: Peer<'static> = peer(1003, 100, &[7, 50]);
    const STAFF: Peer<'static> = peer(2000, 60, &[]);
    const ROOT: Peer<'static> = peer(0, 0, &[]);
    const ALICE: Peer<'static> = peer(1002, 1002, &[]);
    const NOBODY: Peer<'static> = peer(65534, 65534, &[]);

    const DEFAULT: &str = "deny (no rule matched: default deny)";

    /// Checks each `(peer, path, access, expected)`, where `expected` is `+NAME` for allowed
    /// by rule NAME, `-NAME` for denied by rule NAME and `-` for the default deny.
    fn check(cases: &[(Peer<'_>, &[u8], &str, &str)]) {
        let p = policy(POLICY);
        for (peer, path, access, expected) in cases {
            let expected = match expected.split_at(1) {
                ("+", name) => format!("allow (rule {name:?})"),
                ("-", "") => DEFAULT.to_owned(),
                (_, name) => format!("deny (rule {name:?})"),
            };
            let access: Access = access.parse().expect("access words");
            let decision = p.decide(peer, path, access);
            let path = String::from_utf8_lossy(path);
            assert_eq!(decision.to_string(), expected, "{peer:?} {path} {access}");
            assert_eq!(decision.is_allowed(), expected.starts_with("allow"));
        }
    }

    #[test]
    fn allow_rules_grant_to_listed_users_and_groups_only() {
        check(&[
            (
                CLAMAV,
                b"/srv/uploads/a.txt",
                "read",
                "+scanner-reads-uploads",
            ),
            (
                CLAMAV,
                b"/srv/uploads/\xff\xfe",
                "read",
                "+scanner-reads-uploads",
            ),
            (
                SCANNER,
                b"/srv/uploads/a/b/c",
                "read",
                "+scanner-reads-uploads",
            ),
            (
                peer(9, 50, &[]),
                b"/srv/uploads/x",
                "read",
                "+scanner-reads-uploads",
            ),
            (NOBODY, b"/srv/uploads/a.txt", "read", "-"),
            (peer(50, 9, &[]), b"/srv/uploads/a.txt", "read", "-"),
            (CLAMAV, b"/srv/uploads/a.txt", "write", "-"),
            (CLAMAV, b"/srv/uploadsX/a.txt", "read", "-"),
            (CLAMAV, b"/srv", "list", "-"),
        ]);
    }

    #[test]
    fn a_double_star_grant_or_deny_covers_the_directory_itself() {
        check(&[
            (CLAMAV, b"/srv/uploads", "list", "+scanner-reads-uploads"),
            (CLAMAV, b"/srv/uploads/quarantine", "read", "-no-quarantine"),
            (ALICE, b"/home/alice", "list", "+alice-home"),
            (
                ALICE,
                b"/home/alice/.ssh",
                "create,write",
                "-alice-no-ssh-changes",
            ),
        ]);
    }

    #[test]
    fn deny_rules_win_wherever_they_are_and_the_first_matching_one_decides() {
        check(&[
            (
                CLAMAV,
                b"/srv/uploads/quarantine/x/y",
                "read",
                "-no-quarantine",
            ),
            (
                CLAMAV,
                b"/srv/uploads/quarantine/x",
                "list",
                "-no-quarantine-list",
            ),
            (ROOT, b"/srv/uploads/quarantine/x", "read", "-no-quarantine"),
            (
                NOBODY,
                b"/srv/uploads/quarantine/x",
                "write",
                "-no-quarantine",
            ),
            (ALICE, b"/home/alice/.ssh/id", "read", "+alice-home"),
            (
                ALICE,
                b"/home/alice/.ssh/id",
                "write",
                "-alice-no-ssh-changes",
            ),
            (
                ALICE,
                b"/home/alice/.ssh/id",
                "read,write,create_new",
                "-alice-no-ssh-changes",
            ),
            (ALICE, b"/home/alice/.sshx", "write", "+alice-home"),
        ]);
    }

    #[test]
    fn one_allow_rule_must_grant_every_requested_word() {
        check(&[
            (
                STAFF,
                b"/srv/spool/m.eml",
                "write,create,truncate",
                "+staff-write-spool",
            ),
            (STAFF, b"/srv/spool/m.eml", "write", "+staff-write-spool"),
            (STAFF, b"/srv/spool/m.eml", "read", "+staff-read-spool"),
            (STAFF, b"/srv/spool/m.eml", "read,write", "-"),
            (
                STAFF,
                b"/srv/spool/m.eml",
                "write,create_new",
                "+staff-write-spool",
            ),
            (STAFF, b"/srv/spool/sub/m.eml", "write", "-"),
            (STAFF, b"/srv/spool/m.eml2", "write", "-"),
            (
                CLAMAV,
                b"/srv/uploads/a",
                "read,list",
                "+scanner-reads-uploads",
            ),
        ]);
    }

    /// A `create` grant covers `create_new`, not the reverse; a deny rule naming either
    /// creating word denies both.
    #[test]
    fn create_covers_create_new_and_deny_rules_bind_both_creating_words() {
        let p = policy(
            r#"version = 1
[[rule]]
name = "new-only"
users = [1]
paths = ["/new/*"]
access = ["write", "create_new"]
[[rule]]
name = "any"
users = [1]
paths = ["/any/**"]
access = ["write", "create"]
[[rule]]
name = "no-new"
users = [1]
paths = ["/any/a/*"]
access = ["create_new"]
effect = "deny"
[[rule]]
name = "no-create"
users = [1]
paths = ["/any/b/*"]
access = ["create"]
effect = "deny"
"#,
        );
        let one = peer(1, 1, &[]);
        let decide = |path: &str, access: &str| {
            let access: Access = access.parse().expect("access words");
            p.decide(&one, path.as_bytes(), access).to_string()
        };
        assert_eq!(
            decide("/new/x", "write,create_new"),
            "allow (rule \"new-only\")"
        );
        assert_eq!(decide("/new/x", "write,create"), DEFAULT);
        assert_eq!(decide("/any/x", "write,create_new"), "allow (rule \"any\")");
        for path in ["/any/a/x", "/any/b/x"] {
            let rule = if path.contains("/a/") {
                "no-new"
            } else {
                "no-create"
            };
            let denied = format!("deny (rule {rule:?})");
            assert_eq!(decide(path, "write,create"), denied);
            assert_eq!(decide(path, "write,create_new"), denied);
            assert_eq!(decide(path, "write"), "allow (rule \"any\")");
        }
    }

    #[test]
    fn root_is_not_special() {
        check(&[
            (ROOT, b"/", "read", "+root-reads-all"),
            (ROOT, b"/etc/shadow", "read", "+root-reads-all"),
            (ROOT, b"/etc/shadow", "write", "-"),
            (ROOT, b"/etc", "list", "-"),
        ]);
    }

    #[test]
    fn paths_that_are_not_normalized_and_empty_requests_are_denied_by_default() {
        let p = policy(POLICY);
        for path in [
            &b"/etc/../srv"[..],
            b"etc/passwd",
            b"/etc/",
            b"",
            b"//etc",
            b"/./etc",
            b"/a\0b",
        ] {
            assert_eq!(
                p.decide(&ROOT, path, Access::READ).to_string(),
                DEFAULT,
                "{path:?}"
            );
        }
        let d = p.decide(&ROOT, b"/etc", Access::empty());
        assert!(matches!(d, Decision::Deny(None)));
    }

    #[test]
    fn the_deciding_rule_is_returned() {
        let p = policy(POLICY);
        let d = p.decide(&STAFF, b"/srv/spool/m.eml", Access::WRITE | Access::CREATE);
        let Decision::Allow(rule) = d else {
            panic!("allowed by a rule: {d}")
        };
        assert_eq!(
            (rule.name(), rule.line(), rule.create_mode()),
            ("staff-write-spool", 10, 0o600)
        );
        assert!(std::ptr::eq(rule, &p.rules()[1]));
        assert!(
            policy("version = 1\n")
                .decide(&ROOT, b"/", Access::READ)
                .rule()
                .is_none()
        );
    }
}
