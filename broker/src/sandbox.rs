//! Landlock: the broker confines its own file access to what its policy can grant, so a
//! compromised broker still cannot open anything outside the policy ([`landlock(7)`]).
//!
//! The ruleset allows, beneath each allow rule's root (the literal part of each pattern,
//! see `Policy::reach`), exactly the Landlock rights its access words need; plus what the
//! broker itself needs after start-up: reading files in the policy file's directory (for
//! reloads; a directory rather than the file, since editors and `mv` replace the file),
//! reading the user and group databases (to resolve names at reload), writing and creating
//! files in the audit file's directory (the audit file, reopened after log rotation), and
//! removing files in the socket's directory (its own socket, at exit). Everything else is denied, even
//! to root. Like capabilities, Landlock is per thread: it is applied before the workers
//! start, and it can only ever narrow. So a reload whose policy reaches beyond the
//! ruleset is refused, with a log line saying to restart; restarting is the only way to
//! widen it, as for capabilities.
//!
//! [`landlock(7)`]: https://man7.org/linux/man-pages/man7/landlock.7.html

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use fdbroker_policy::{Effect, Policy};
use fdbroker_wire::Access;
use landlock::{
    ABI, Access as _, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus,
};
use rustix::fs::{CWD, Mode, OFlags, openat};

/// The Landlock ABI whose rights the broker handles (kernel 6.15+ has it; older kernels
/// enforce what they support, best effort).
const ABI_HANDLED: ABI = ABI::V7;

/// The name databases a reload may need to resolve user and group names.
const NAME_DATABASES: [&str; 3] = ["/etc/passwd", "/etc/group", "/etc/nsswitch.conf"];

/// One Landlock rule: `rights` beneath `path`, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The file or directory the rights apply beneath.
    pub path: PathBuf,
    /// The Landlock rights.
    pub rights: BitFlags<AccessFs>,
    /// Why the broker needs them (a policy root, or its own need).
    pub why: String,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rights: Vec<String> = self.rights.iter().map(|r| format!("{r:?}")).collect();
        write!(
            f,
            "{} [{}] ({})",
            self.path.display(),
            rights.join(","),
            self.why
        )
    }
}

/// The ruleset for a policy whose allow rules reach `reach` (root path, access words),
/// loaded from `policy_files` (the live one and any shadow), serving on `socket` (`None` when the socket was inherited
/// from the service manager, which removes it itself). Roots that do not exist yet are
/// replaced by their nearest existing ancestor (Landlock rules need an existing file).
pub fn plan(
    reach: &[(PathBuf, Access)],
    policy_files: &[&Path],
    socket: Option<&Path>,
    audit_file: Option<&Path>,
) -> Vec<Rule> {
    let mut rules: Vec<Rule> = reach
        .iter()
        .map(|(root, access)| Rule {
            path: existing_ancestor(root),
            rights: rights_for(*access),
            why: format!("policy: {access} beneath {}", root.display()),
        })
        .collect();
    rules.extend(policy_files.iter().map(|file| Rule {
        path: existing_ancestor(file.parent().unwrap_or(Path::new("/"))),
        rights: AccessFs::ReadFile.into(),
        why: "reload the policy".into(),
    }));
    rules.extend(
        NAME_DATABASES
            .iter()
            .filter(|p| Path::new(p).exists())
            .map(|p| Rule {
                path: PathBuf::from(p),
                rights: AccessFs::ReadFile.into(),
                why: "resolve user and group names".into(),
            }),
    );
    rules.extend(audit_file.map(|file| Rule {
        path: existing_ancestor(file.parent().unwrap_or(Path::new("/"))),
        rights: AccessFs::WriteFile | AccessFs::MakeReg,
        why: "write the audit file, and create it anew after log rotation".into(),
    }));
    rules.extend(socket.map(|socket| Rule {
        path: existing_ancestor(socket.parent().unwrap_or(Path::new("/"))),
        rights: AccessFs::RemoveFile.into(),
        why: "remove the socket at exit".into(),
    }));
    rules
}

/// The reach a ruleset was built from, as it placed each root (at its nearest existing
/// ancestor), for checking reloads against.
#[derive(Debug, Default)]
pub struct Placed(HashMap<PathBuf, Access>);

impl Placed {
    /// Places `reach` as [`plan`] does.
    pub fn new(reach: &[(PathBuf, Access)]) -> Placed {
        let mut placed = HashMap::with_capacity(reach.len());
        for (root, access) in reach {
            *placed.entry(existing_ancestor(root)).or_default() |= *access;
        }
        Placed(placed)
    }

    /// Whether `new` (the reach of a reloaded policy) lies within this one: every root
    /// beneath placed roots whose access covers it. Each new root looks up only its own
    /// ancestors, so a 10,000-rule reload stays fast.
    pub fn covers(&self, new: &[(PathBuf, Access)]) -> Result<(), String> {
        for (root, access) in new {
            let allowed = root
                .ancestors()
                .filter_map(|a| self.0.get(a))
                .fold(Access::empty(), |acc, a| acc | *a);
            if !allowed.contains(*access) {
                return Err(format!("{access} beneath {}", root.display()));
            }
        }
        Ok(())
    }
}

/// Whether this kernel has Landlock's truncate right (ABI 3, Linux 6.2): without it,
/// nothing stops a client from truncating a file through a `write` or `append` fd.
pub fn kernel_has_truncate_right() -> bool {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::Truncate)
        .is_ok()
}

/// Checks that every grant of `policy` can be held: a rule granting `write` or `append`
/// without `truncate` needs Landlock's truncate right (`truncate_right`), since `O_TRUNC`
/// is the broker's to refuse but `ftruncate` on the fd is not. The error names the
/// first rule that cannot be held.
pub fn holdable(policy: &Policy, truncate_right: bool) -> Result<(), String> {
    if truncate_right {
        return Ok(());
    }
    let writes = Access::WRITE | Access::APPEND;
    let unheld = policy.rules().iter().find(|r| {
        r.effect() == Effect::Allow
            && r.access().intersects(writes)
            && !r.access().contains(Access::TRUNCATE)
    });
    match unheld {
        None => Ok(()),
        Some(rule) => Err(format!(
            "rule {:?} (line {}) grants {} without truncate, but this kernel cannot stop a \
             client from truncating a file through that fd: that needs Landlock's truncate \
             right (Linux 6.2 or later, with Landlock enabled). Grant truncate too, or \
             run a kernel that has it",
            rule.name(),
            rule.line(),
            rule.access() & writes
        )),
    }
}

/// Applies `rules` to the calling thread (and so to every thread it starts later).
pub fn restrict(rules: &[Rule]) -> io::Result<RulesetStatus> {
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_HANDLED))
        .and_then(Ruleset::create)
        .map_err(io::Error::other)?;
    for rule in rules {
        let fd = openat(
            CWD,
            &rule.path,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", rule.path.display())))?;
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, rule.rights))
            .map_err(io::Error::other)?;
    }
    let status = ruleset.restrict_self().map_err(io::Error::other)?;
    Ok(status.ruleset)
}

/// The Landlock rights the access words need, and nothing more: opening for reading or
/// writing, listing, truncating, creating regular files.
fn rights_for(access: Access) -> BitFlags<AccessFs> {
    let mut rights = BitFlags::empty();
    if access.contains(Access::READ) {
        rights |= AccessFs::ReadFile;
    }
    if access.contains(Access::LIST) {
        rights |= AccessFs::ReadDir;
    }
    if access.intersects(Access::WRITE | Access::APPEND) {
        rights |= AccessFs::WriteFile;
    }
    if access.contains(Access::TRUNCATE) {
        rights |= AccessFs::Truncate;
    }
    if access.contains(Access::CREATE) {
        rights |= AccessFs::MakeReg;
    }
    rights
}

/// `path` if it exists, else its nearest existing ancestor (`/` at worst).
fn existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.symlink_metadata().is_ok())
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdbroker_policy::NameResolver;

    struct NoNames;

    impl NameResolver for NoNames {
        fn uid(&self, _: &str) -> Option<u32> {
            None
        }
        fn gid(&self, _: &str) -> Option<u32> {
            None
        }
    }

    fn policy(rules: &[(&str, &str, &str)]) -> Policy {
        let mut text = String::from("version = 1\n");
        for (name, path, access) in rules {
            text.push_str(&format!(
                "[[rule]]\nname = \"{name}\"\nusers = [1]\npaths = [\"{path}\"]\naccess = [{access}]\n"
            ));
        }
        Policy::parse(&text, &NoNames).unwrap()
    }

    fn reach(list: &[(&str, Access)]) -> Vec<(PathBuf, Access)> {
        list.iter().map(|(p, a)| (PathBuf::from(p), *a)).collect()
    }

    #[test]
    fn rights_follow_the_access_words() {
        assert_eq!(rights_for(Access::READ), AccessFs::ReadFile);
        assert_eq!(rights_for(Access::LIST), AccessFs::ReadDir);
        assert_eq!(
            rights_for(Access::APPEND | Access::CREATE | Access::TRUNCATE),
            AccessFs::WriteFile | AccessFs::MakeReg | AccessFs::Truncate
        );
    }

    #[test]
    fn a_reload_may_narrow_but_not_widen() {
        let old = Placed::new(&reach(&[
            ("/proc/sys", Access::READ | Access::LIST),
            ("/dev", Access::WRITE),
        ]));
        assert_eq!(
            old.covers(&reach(&[("/proc/sys/kernel", Access::READ)])),
            Ok(())
        );
        assert_eq!(old.covers(&reach(&[("/dev/null", Access::WRITE)])), Ok(()));
        assert!(
            old.covers(&reach(&[("/proc/sysrq-trigger", Access::READ)]))
                .is_err()
        );
        assert!(old.covers(&reach(&[("/proc/sys", Access::WRITE)])).is_err());
        assert!(old.covers(&reach(&[("/", Access::READ)])).is_err());
    }

    #[test]
    fn missing_roots_fall_back_to_their_nearest_existing_ancestor() {
        assert_eq!(
            existing_ancestor(Path::new("/proc/no/such/dir")),
            Path::new("/proc")
        );
        let rules = plan(
            &reach(&[("/dev/null", Access::READ)]),
            &[Path::new("/etc/fdbroker/p.toml")],
            Some(Path::new("/run/x.sock")),
            None,
        );
        assert_eq!(rules[0].path, Path::new("/dev/null"));
        assert_eq!(
            rules[1].path,
            Path::new("/etc"),
            "the policy directory's nearest ancestor"
        );
        assert_eq!(
            rules.last().map(|r| r.rights),
            Some(AccessFs::RemoveFile.into())
        );
    }

    #[test]
    fn write_without_truncate_needs_the_truncate_right() {
        let p = policy(&[
            ("r", "/a/**", "\"read\""),
            ("wt", "/b/**", "\"write\", \"truncate\""),
            ("a", "/c/**", "\"append\""),
        ]);
        assert_eq!(holdable(&p, true), Ok(()));
        let err = holdable(&p, false).unwrap_err();
        assert!(
            err.starts_with("rule \"a\" (line 12) grants append without truncate"),
            "{err}"
        );
    }
}
