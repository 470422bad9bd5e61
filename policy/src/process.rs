//! What the broker learned of the client's process beyond its credentials: its systemd
//! unit and its executable, for the rules that name them ([`crate::Rule::units`],
//! [`crate::Rule::executables`]).

/// The client's process, as read through a pidfd for it and confirmed to belong to the
/// process that connected (the broker's `identity` module). A field is `None` when it could
/// not be read; a rule naming it then does not apply to the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Process {
    /// The systemd unit whose cgroup holds the process: the last `*.service` or `*.scope`
    /// component of its cgroup path in the unified hierarchy (`clamav-daemon.service`).
    pub unit: Option<String>,
    /// Its executable, as `/proc/PID/exe` names it: an absolute path.
    pub exe: Option<Vec<u8>>,
    /// Its user namespace, relative to the broker's.
    pub user_namespace: crate::UserNamespace,
}

impl Process {
    /// The unit of the cgroup path `path` (as in `/proc/PID/cgroup`'s `0::PATH` line): its
    /// last component that ends in `.service` or `.scope`, as systemd names units.
    pub fn unit_of_cgroup(path: &str) -> Option<&str> {
        path.rsplit('/').find(|c| is_unit_name(c))
    }
}

/// Whether `name` has the form of a systemd service or scope name: a non-empty stem before
/// `.service` or `.scope`, without `/`.
pub(crate) fn is_unit_name(name: &str) -> bool {
    let stem = name
        .strip_suffix(".service")
        .or_else(|| name.strip_suffix(".scope"));
    stem.is_some_and(|s| !s.is_empty() && !name.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_is_the_last_service_or_scope_component() {
        let unit = Process::unit_of_cgroup;
        assert_eq!(
            unit("/system.slice/clamav-daemon.service"),
            Some("clamav-daemon.service")
        );
        assert_eq!(
            unit("/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service"),
            Some("foo.service")
        );
        assert_eq!(
            unit("/user.slice/user-1000.slice/session-2.scope"),
            Some("session-2.scope")
        );
        assert_eq!(
            unit("/system.slice/x.service/worker"),
            Some("x.service"),
            "a sub-cgroup of a unit is still the unit's"
        );
        assert_eq!(unit("/"), None);
        assert_eq!(unit("/system.slice"), None);
        assert_eq!(unit("/a/.service"), None);
    }
}
