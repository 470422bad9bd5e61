//! Who a rule applies to: the `users` and `groups` keys, resolved to numeric ids when the
//! policy is loaded, and matched against the credentials of the connecting peer.

use toml::de::DeValue;

use crate::walk::{self, Errors, Value};

/// Resolves user and group names to ids when a policy is loaded. The broker passes one
/// backed by the system databases; tests pass a map.
///
/// Names are resolved once, at load time: renaming a user later does not change what an
/// already loaded policy grants, and a name that does not resolve makes the policy invalid.
pub trait NameResolver {
    /// The uid of the user called `user`, if there is one.
    fn uid(&self, user: &str) -> Option<u32>;
    /// The gid of the group called `group`, if there is one.
    fn gid(&self, group: &str) -> Option<u32>;
}

/// The credentials of the process asking for a file, as the kernel reports them.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    pub uid: u32,
    /// The primary gid.
    pub gid: u32,
    /// The supplementary gids (may repeat `gid`). Matching compares each with the gids
    /// of each rule that may apply, so a caller with many groups should pass only those
    /// the policy names ([`crate::Policy::named_gids`]): the decisions are the same.
    pub groups: &'a [u32],
    /// The client's process, for rules that name `units` or `executables`; `None` if it
    /// was not read (then no such rule applies).
    pub process: Option<&'a crate::Process>,
    /// The client's user namespace: one not the broker's makes it decided as the
    /// namespace's owner as well (see [`crate::Namespace`]).
    pub namespace: crate::Namespace<'a>,
}

/// The ids a rule applies to.
#[derive(Debug, Default)]
pub(crate) struct Subjects {
    /// `"*"` was listed in `users`.
    any_user: bool,
    uids: Vec<u32>,
    gids: Vec<u32>,
}

/// The largest valid uid or gid: 4294967295 is `(uid_t)-1`, which means "no id" to the kernel.
const MAX_ID: i128 = u32::MAX as i128 - 1;

impl Subjects {
    /// True if the peer's uid is listed (or `users` has `"*"`), or its primary or any
    /// supplementary gid is listed in `groups`.
    pub(crate) fn apply_to(&self, peer: &Peer<'_>) -> bool {
        self.any_user
            || self.uids.contains(&peer.uid)
            || std::iter::once(&peer.gid)
                .chain(peer.groups)
                .any(|g| self.gids.contains(g))
    }

    /// True if the peer's uid or one of its gids is listed by id: unlike [`apply_to`],
    /// `"*"` does not count. (A client sees the names of the allow rules that name it.)
    ///
    /// [`apply_to`]: Subjects::apply_to
    pub(crate) fn name(&self, peer: &Peer<'_>) -> bool {
        self.uids.contains(&peer.uid)
            || std::iter::once(&peer.gid)
                .chain(peer.groups)
                .any(|g| self.gids.contains(g))
    }

    /// True if `users` has `"*"`.
    pub(crate) fn any_user(&self) -> bool {
        self.any_user
    }

    /// The uids listed in `users`, resolved, in file order.
    pub(crate) fn uids(&self) -> &[u32] {
        &self.uids
    }

    /// The gids listed in `groups`, resolved, in file order.
    pub(crate) fn gids(&self) -> &[u32] {
        &self.gids
    }

    /// Whether some client could be named by both `self` and `other`. Group membership is
    /// not known to the policy, so groups on either side may meet anything; only two
    /// disjoint uid lists (without `"*"` or groups) are known not to meet.
    pub(crate) fn may_meet(&self, other: &Subjects) -> bool {
        self.any_user
            || other.any_user
            || !self.gids.is_empty()
            || !other.gids.is_empty()
            || self.uids.iter().any(|u| other.uids.contains(u))
    }

    /// Adds the entries of a `users` array, reporting each that is invalid.
    pub(crate) fn add_users(
        &mut self,
        errors: &mut Errors<'_>,
        value: &Value<'_>,
        names: &dyn NameResolver,
    ) {
        for item in walk::list(errors, "users", "user", value).unwrap_or_default() {
            if item.get_ref().as_str() == Some("*") {
                self.any_user = true;
            } else if let Some(uid) = id(errors, "user", "uid", item, &|n| names.uid(n)) {
                self.uids.push(uid);
            }
        }
    }

    /// Adds the entries of a `groups` array, reporting each that is invalid.
    pub(crate) fn add_groups(
        &mut self,
        errors: &mut Errors<'_>,
        value: &Value<'_>,
        names: &dyn NameResolver,
    ) {
        for item in walk::list(errors, "groups", "group", value).unwrap_or_default() {
            if item.get_ref().as_str() == Some("*") {
                let msg = "\"*\" is only allowed in `users`: list groups by name or gid";
                errors.at(item.span(), msg);
            } else if let Some(gid) = id(errors, "group", "gid", item, &|n| names.gid(n)) {
                self.gids.push(gid);
            }
        }
    }
}

/// One entry of `users` or `groups`: a name to resolve or a numeric id.
fn id(
    errors: &mut Errors<'_>,
    what: &str,
    id: &str,
    item: &Value<'_>,
    resolve: &dyn Fn(&str) -> Option<u32>,
) -> Option<u32> {
    let message = match item.get_ref() {
        DeValue::String(name) => match resolve(name) {
            Some(n) => return Some(n),
            None if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) => {
                format!("unknown {what} {name:?} (for a numeric {id}, write {name} without quotes)")
            }
            None => format!("unknown {what} {name:?}"),
        },
        DeValue::Integer(n) => match walk::integer(n).filter(|n| (0..=MAX_ID).contains(n)) {
            Some(n) => return u32::try_from(n).ok(),
            None => format!(
                "{id} {n} is out of range: {id}s are 0 to 4294967294 (4294967295 is ({id}_t)-1)"
            ),
        },
        other => format!(
            "expected a {what} name or a numeric {id}, not {}",
            walk::kind(other)
        ),
    };
    errors.at(item.span(), message);
    None
}

impl std::fmt::Display for Subjects {
    /// `users=[*]`, `users=[0,1001] groups=[100]`: the resolved ids, in file order.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |ids: &[u32]| ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let mut users: Vec<String> = Vec::new();
        if self.any_user {
            users.push("*".into());
        }
        if !self.uids.is_empty() {
            users.push(list(&self.uids));
        }
        let mut sep = "";
        if !users.is_empty() {
            write!(f, "users=[{}]", users.join(","))?;
            sep = " ";
        }
        if !self.gids.is_empty() {
            write!(f, "{sep}groups=[{}]", list(&self.gids))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{errors, one_rule, policy};

    fn subjects(any_user: bool, uids: &[u32], gids: &[u32]) -> Subjects {
        Subjects {
            any_user,
            uids: uids.to_vec(),
            gids: gids.to_vec(),
        }
    }

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> Peer<'_> {
        Peer {
            uid,
            gid,
            groups,
            process: None,
            namespace: Default::default(),
        }
    }

    #[test]
    fn users_match_the_uid_only() {
        let s = subjects(false, &[1001], &[]);
        assert!(s.apply_to(&peer(1001, 5, &[])));
        assert!(!s.apply_to(&peer(1002, 1001, &[1001])));
        assert!(!s.apply_to(&peer(0, 0, &[])), "root is not special");
    }

    #[test]
    fn groups_match_the_primary_or_any_supplementary_gid() {
        let s = subjects(false, &[], &[50, 60]);
        assert!(s.apply_to(&peer(1, 50, &[])));
        assert!(s.apply_to(&peer(1, 1, &[7, 60])));
        assert!(
            !s.apply_to(&peer(50, 1, &[7, 8])),
            "a uid equal to a listed gid is no match"
        );
        assert!(!s.apply_to(&peer(0, 0, &[])));
    }

    #[test]
    fn a_star_in_users_matches_every_peer() {
        let s = subjects(true, &[], &[]);
        assert!(s.apply_to(&peer(0, 0, &[])));
        assert!(s.apply_to(&peer(4294967294, 1, &[])));
        assert!(!subjects(false, &[], &[]).apply_to(&peer(0, 0, &[])));
    }

    #[test]
    fn names_resolve_and_ids_are_checked_at_load() {
        let ok = "users = [\"root\", 0, 4294967294, \"*\"]\ngroups = [\"ingest\", 0, 4294967294]\n";
        assert_eq!(policy(&one_rule(&[], ok)).rules().len(), 1);

        let bad = "users = [\"clamv\", \"1001\", -1, 4294967295, 1.5]\n\
                   groups = [\"scanner\", \"*\", 99999999999, \"\"]\n";
        assert_eq!(
            errors(&one_rule(&[], bad)),
            [
                "6:10: unknown user \"clamv\"",
                "6:19: unknown user \"1001\" (for a numeric uid, write 1001 without quotes)",
                "6:27: uid -1 is out of range: uids are 0 to 4294967294 (4294967295 is (uid_t)-1)",
                "6:31: uid 4294967295 is out of range: uids are 0 to 4294967294 (4294967295 is (uid_t)-1)",
                "6:43: expected a user name or a numeric uid, not a float",
                "7:11: unknown group \"scanner\"",
                "7:22: \"*\" is only allowed in `users`: list groups by name or gid",
                "7:27: gid 99999999999 is out of range: gids are 0 to 4294967294 (4294967295 is (gid_t)-1)",
                "7:40: unknown group \"\"",
            ]
        );
    }
}
