//! Resolves the user and group names in a policy through the system's databases
//! (`getpwnam_r`/`getgrnam_r`, so NSS sources such as LDAP work too), in this process: for
//! the admin commands (`check`, `explain`) and the command line, which run unconfined.
//! `serve` asks its name resolver process instead ([`crate::resolver`]).

use std::ffi::CString;

use fdbroker_policy::NameResolver;
use nix::unistd::{Gid, Group, Uid, User, getgrouplist};

/// The [`NameResolver`] of the admin commands: the system's passwd and group databases.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemNames;

impl NameResolver for SystemNames {
    fn uid(&self, user: &str) -> Option<u32> {
        User::from_name(user).ok().flatten().map(|u| u.uid.as_raw())
    }

    fn gid(&self, group: &str) -> Option<u32> {
        Group::from_name(group)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    }
}

/// A user's passwd entry and the groups a login of theirs would have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub name: String,
    pub uid: u32,
    /// The primary gid, from the passwd entry.
    pub gid: u32,
    /// The primary gid and every group listing the user, sorted: what `initgroups(3)`
    /// makes the supplementary groups, and so what the broker sees of such a client.
    pub groups: Vec<u32>,
}

/// The login of `user`, a name or a numeric uid (looked up by uid, so a number gets the
/// same groups as the name it belongs to); `None` when the passwd database has no entry.
pub fn login(user: &str) -> Result<Option<Login>, String> {
    let entry = match user.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(user),
    }
    .map_err(|e| format!("cannot look up user {user:?}: {e}"))?;
    let Some(entry) = entry else {
        return Ok(None);
    };
    let name = CString::new(entry.name.as_str())
        .map_err(|e| format!("user {user:?}: bad name in passwd entry: {e}"))?;
    let mut groups: Vec<u32> = getgrouplist(&name, entry.gid)
        .map_err(|e| format!("cannot look up the groups of user {:?}: {e}", entry.name))?
        .into_iter()
        .map(Gid::as_raw)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    Ok(Some(Login {
        name: entry.name,
        uid: entry.uid.as_raw(),
        gid: entry.gid.as_raw(),
        groups,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_logs_in_with_its_primary_group() {
        let by_name = login("root").unwrap().unwrap();
        assert_eq!((by_name.uid, by_name.gid), (0, 0));
        assert!(by_name.groups.contains(&0));
        assert_eq!(login("0").unwrap(), Some(by_name));
        assert_eq!(login("no-such-user-here").unwrap(), None);
    }
}
