//! Subordinate ids ([`subuid(5)`], [`subgid(5)`]) and the deny rules they let a user escape,
//! for `fdbroker check --verbose`.
//!
//! A user listed in `/etc/subuid` may run processes under its subordinate uids in a user
//! namespace (`newuidmap`); the broker sees such a process as that other uid, which a deny
//! rule naming the user does not name. A user listed in `/etc/subgid` may likewise map its
//! subordinate gids (`newgidmap`) and then drop its supplementary groups (`setgroups`), so
//! a deny rule naming one of its groups no longer applies to it. Which users are in a group
//! is not known here (supplementary groups come from PAM, NSS or whoever started the
//! process), so every deny rule by group is escapable by every user with subordinate gids.
//!
//! [`subuid(5)`]: https://man7.org/linux/man-pages/man5/subuid.5.html
//! [`subgid(5)`]: https://man7.org/linux/man-pages/man5/subgid.5.html

use std::io;
use std::path::{Path, PathBuf};

use fdbroker_policy::{Effect, Policy, Warning};
use nix::unistd::{Uid, User};

/// The default files.
pub const SUBUID: &str = "/etc/subuid";
pub const SUBGID: &str = "/etc/subgid";

/// Owners listed in a subordinate id file.
#[derive(Debug)]
pub struct SubIds {
    /// The file, for messages.
    path: PathBuf,
    /// The first field of each entry: a user name or a numeric uid, as written.
    owners: Vec<String>,
}

impl SubIds {
    /// Reads `path` (`owner:first:count` lines); a missing file lists no one.
    pub fn read(path: &Path) -> io::Result<SubIds> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        Ok(SubIds::parse(path, &text))
    }

    fn parse(path: &Path, text: &str) -> SubIds {
        let owners = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| {
                let mut fields = line.split(':');
                let owner = fields.next()?;
                let count: u64 = fields.nth(1)?.trim().parse().ok()?;
                (!owner.is_empty() && count > 0).then(|| owner.to_owned())
            })
            .collect();
        SubIds {
            path: path.to_path_buf(),
            owners,
        }
    }

    /// The entry of the user `uid` (called `name`, if it has one), by name or number.
    fn entry_of(&self, uid: u32, name: Option<&str>) -> Option<&str> {
        self.owners
            .iter()
            .find(|owner| Some(owner.as_str()) == name || owner.parse() == Ok(uid))
            .map(String::as_str)
    }
}

/// A warning for each deny rule that a user with subordinate ids escapes: one naming a uid
/// that has subordinate uids in `subuid`, and one naming a group while `subgid` lists
/// anyone.
pub fn warnings(policy: &Policy, subuid: &SubIds, subgid: &SubIds) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for rule in policy.rules().iter().filter(|r| r.effect() == Effect::Deny) {
        let name = rule.name();
        for &uid in rule.uids() {
            let user = User::from_uid(Uid::from_raw(uid)).ok().flatten();
            let user = user.as_ref().map(|u| u.name.as_str());
            if let Some(entry) = subuid.entry_of(uid, user) {
                warnings.push(Warning {
                    line: rule.line(),
                    message: format!(
                        "deny rule {name:?} does not bind uid {uid}: {entry:?} has subordinate \
                         uids in {} and can connect as one of them, another uid to the broker",
                        subuid.path.display()
                    ),
                });
            }
        }
        if !rule.gids().is_empty() && !subgid.owners.is_empty() {
            warnings.push(Warning {
                line: rule.line(),
                message: format!(
                    "deny rule {name:?} names groups, which every user with subordinate gids \
                     in {} can drop (newgidmap, then setgroups): it does not bind {}",
                    subgid.path.display(),
                    listed(&subgid.owners)
                ),
            });
        }
    }
    warnings
}

/// `"a", "b" and 3 others`: the first few owners, quoted.
fn listed(owners: &[String]) -> String {
    const SHOWN: usize = 3;
    let shown: Vec<String> = owners
        .iter()
        .take(SHOWN)
        .map(|o| format!("{o:?}"))
        .collect();
    match owners.len().saturating_sub(SHOWN) {
        0 => shown.join(", "),
        1 => format!("{} and 1 other", shown.join(", ")),
        more => format!("{} and {more} others", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_matched_by_name_or_number() {
        let ids = SubIds::parse(
            Path::new("/etc/subuid"),
            "alice:100000:65536\n# comment\n\n2002:165536:65536\nbob:1:0\nbroken\n",
        );
        assert_eq!(ids.owners, ["alice", "2002"]);
        assert_eq!(ids.entry_of(1001, Some("alice")), Some("alice"));
        assert_eq!(ids.entry_of(2002, None), Some("2002"));
        assert_eq!(ids.entry_of(2003, Some("bob")), None, "a range of 0 ids");
        assert_eq!(ids.entry_of(1001, None), None);
    }

    #[test]
    fn a_missing_file_lists_no_one() {
        let ids = SubIds::read(Path::new("/nonexistent/subuid")).unwrap();
        assert!(ids.owners.is_empty());
    }

    #[test]
    fn long_lists_are_cut() {
        let owners: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        assert_eq!(listed(&owners[..2]), r#""a", "b""#);
        assert_eq!(listed(&owners), r#""a", "b", "c" and 2 others"#);
    }
}
