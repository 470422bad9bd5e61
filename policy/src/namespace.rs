//! Clients in user namespaces. A user with subordinate ids (which `useradd` assigns) can
//! connect from a user namespace of its own as a subordinate uid, or with its supplementary
//! groups dropped, and so escape deny rules that name it or its groups. So a client whose
//! user namespace is not the broker's is decided as the namespace's owner as well: deny
//! rules naming the owner or the owner's groups bind it, and only an allow rule with
//! `user_namespaces = true` can grant it anything.

use crate::Peer;

/// The user that owns a client's user namespace: the owner of the outermost namespace
/// below the broker's, with its primary and supplementary groups from the user and group
/// databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    /// Its primary gid; `u32::MAX` (which no rule can name) if the user database has no
    /// entry for `uid`.
    pub gid: u32,
    /// Its supplementary gids.
    pub groups: Vec<u32>,
}

/// A client's user namespace, as the broker's process reader found it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UserNamespace {
    /// The broker's own.
    #[default]
    Broker,
    /// Another one, owned by `Owner` (`None`: the owner could not be established).
    Other(Option<Owner>),
}

/// What a decision knows of the client's user namespace.
#[derive(Debug, Clone, Copy, Default)]
pub enum Namespace<'a> {
    /// The broker's own, or the system cannot tell (no pidfd for peers): decided by its
    /// credentials alone.
    #[default]
    Broker,
    /// Another one, owned by this user (`None`: unknown, or the client's process could not
    /// be read at all; then no allow rule applies).
    Other(Option<&'a Owner>),
}

impl<'a> Namespace<'a> {
    /// The namespace `user_namespace` describes.
    pub fn of(user_namespace: &'a UserNamespace) -> Namespace<'a> {
        match user_namespace {
            UserNamespace::Broker => Namespace::Broker,
            UserNamespace::Other(owner) => Namespace::Other(owner.as_ref()),
        }
    }

    /// The owner, as a peer of its own for matching rules' `users` and `groups`.
    pub(crate) fn owner(&self) -> Option<Peer<'a>> {
        match *self {
            Namespace::Other(Some(owner)) => Some(Peer {
                uid: owner.uid,
                gid: owner.gid,
                groups: &owner.groups,
                process: None,
                namespace: Namespace::Broker,
            }),
            _ => None,
        }
    }

    /// Whether an allow rule with `user_namespaces = admits` may grant to the client.
    pub(crate) fn admitted(&self, admits: bool) -> bool {
        match self {
            Namespace::Broker => true,
            Namespace::Other(Some(_)) => admits,
            Namespace::Other(None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{errors, one_rule, policy};
    use crate::{Access, Peer};

    const POLICY: &str = r#"version = 1
[[rule]]
name = "alice-reads"
users = ["alice", 100000]
paths = ["/srv/**"]
access = ["read"]
[[rule]]
name = "containers-read"
users = [100000]
paths = ["/srv/c/**"]
access = ["read"]
user_namespaces = true
[[rule]]
name = "no-staff"
groups = ["staff"]
paths = ["/srv/c/secret"]
access = ["read"]
effect = "deny"
"#;

    /// The decision for uid 100000 (a subordinate uid of alice's, say) in `namespace`.
    fn decide(namespace: Namespace<'_>, path: &str) -> String {
        let peer = Peer {
            uid: 100000,
            gid: 100000,
            groups: &[],
            process: None,
            namespace,
        };
        policy(POLICY)
            .decide(&peer, path.as_bytes(), Access::READ)
            .to_string()
    }

    #[test]
    fn a_namespaced_client_is_granted_only_by_rules_that_admit_it() {
        let alice = Owner {
            uid: 1002,
            gid: 1002,
            groups: vec![],
        };
        assert_eq!(
            decide(Namespace::Broker, "/srv/a"),
            "allow (rule \"alice-reads\")"
        );
        let owned = Namespace::Other(Some(&alice));
        assert_eq!(
            decide(owned, "/srv/a"),
            "deny (no rule matched: default deny)"
        );
        assert_eq!(
            decide(owned, "/srv/c/x"),
            "allow (rule \"containers-read\")"
        );
        assert_eq!(
            decide(Namespace::Other(None), "/srv/c/x"),
            "deny (no rule matched: default deny)",
            "an owner that is not known admits nothing"
        );
    }

    #[test]
    fn deny_rules_bind_a_namespaced_client_as_its_owner_and_the_owners_groups() {
        let staff = Owner {
            uid: 1002,
            gid: 1002,
            groups: vec![60],
        };
        assert_eq!(
            decide(Namespace::Other(Some(&staff)), "/srv/c/secret"),
            "deny (rule \"no-staff\")",
            "its own groups are dropped, its owner's still count"
        );
        assert_eq!(
            decide(Namespace::Broker, "/srv/c/secret"),
            "allow (rule \"alice-reads\")"
        );
    }

    #[test]
    fn user_namespaces_is_a_boolean_of_allow_rules() {
        let p = policy(&one_rule(&[], "user_namespaces = true\n"));
        assert!(p.rules()[0].user_namespaces());
        assert_eq!(p.rules()[0].identity().to_string(), " user_namespaces=true");
        let p = policy(&one_rule(&[], "user_namespaces = false\n"));
        assert!(!p.rules()[0].user_namespaces());
        assert_eq!(
            errors(&one_rule(&[], "user_namespaces = \"yes\"\n")),
            ["7:19: `user_namespaces` must be true or false, not a string"]
        );
        assert_eq!(
            errors(&one_rule(
                &[],
                "effect = \"deny\"\nuser_namespaces = true\n"
            )),
            [
                "8:19: `user_namespaces` has no meaning in a deny rule (deny rules bind clients in user namespaces as their namespace's owner too): remove it"
            ]
        );
        assert_eq!(
            errors(&one_rule(&[], "user_namespace = true\n")),
            [
                "7:1: unknown key \"user_namespace\" in a [[rule]] (did you mean \"user_namespaces\"?)"
            ]
        );
    }
}
