//! Resolves the user and group names in a policy through the system's databases
//! (`getpwnam_r`/`getgrnam_r`, so NSS sources such as LDAP work too), in this process: for
//! the admin commands (`check`, `explain`) and the command line, which run unconfined.
//! `serve` asks its name resolver process instead ([`crate::resolver`]).

use fdbroker_policy::NameResolver;
use nix::unistd::{Group, User};

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
