//! Landlock: the broker confines its own file access to what its policy can grant, so a
//! compromised broker still cannot open anything outside the policy ([`landlock(7)`]).
//!
//! The ruleset allows, beneath each allow rule's root (the literal part of each pattern,
//! see `Policy::reach`), exactly the Landlock rights its access words need; plus what the
//! broker itself needs after start-up: reading files in the policy file's directory (for
//! reloads; a directory rather than the file, since editors and `mv` replace the file),
//! writing and creating files in the audit file's directory (the audit file, reopened
//! after log rotation), and removing files in the socket's directory (its own socket, at
//! exit); under `--user` those three are the file keeper's instead ([`crate::keeper`]),
//! which holds the same rights and nothing else. Everything else is denied, even to root:
//! the user and group databases too, which the broker's name resolver reads instead
//! ([`crate::resolver`]). The resolver and the keeper confine themselves with [`restrict`]
//! as well, to their own rules. Like capabilities, Landlock is per thread: it is applied before the workers
//! start, and it can only ever narrow. So a reload whose policy reaches beyond the
//! ruleset is refused, with a log line saying to restart; restarting is the only way to
//! widen it, as for capabilities.
//!
//! Each rule's Landlock rule is given the very fd that was opened and judged for it
//! ([`super::grant_root`]), so nothing can be swapped in between. A root that cannot be
//! confined to is never replaced by an ancestor: its allow rule is inactive
//! ([`crate::policy::inactive`]). The broker's own directories must exist, or it does not start.
//!
//! [`landlock(7)`]: https://man7.org/linux/man-pages/man7/landlock.7.html

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use fdbroker_policy::{Effect, Policy, Root};
use fdbroker_wire::Access;
use landlock::{
    ABI, Access as _, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus,
};

use super::grant_root::{self, Unusable};
use crate::policy::inactive::InactiveRule;

/// The Landlock ABI whose rights the broker handles (kernel 6.15+ has it; older kernels
/// enforce what they support, best effort).
const ABI_HANDLED: ABI = ABI::V7;

/// One Landlock rule: `rights` beneath the file or directory open as `fd`, and why.
#[derive(Debug)]
pub struct Rule {
    /// The path `fd` was opened at, for people to read.
    pub path: PathBuf,
    /// The file or directory (an `O_PATH` fd) the rights apply beneath.
    pub fd: OwnedFd,
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

/// What the broker itself needs after start-up, besides its policy's roots.
#[derive(Debug)]
pub struct Own<'a> {
    /// The policy files (the live one and any shadow), to reload them (none when the file
    /// keeper reads them, under `--user`).
    pub policy_files: &'a [&'a Path],
    /// The socket to remove at exit (`None` when inherited from the service manager,
    /// which removes it itself, or when the file keeper does, under `--user`).
    pub socket: Option<&'a Path>,
    /// The audit file, to reopen after log rotation (`None` when the file keeper does,
    /// under `--user`).
    pub audit_file: Option<&'a Path>,
}

/// The ruleset for a policy, and where it placed the policy's roots.
#[derive(Debug)]
pub struct Plan {
    /// The Landlock rules.
    pub rules: Vec<Rule>,
    /// The roots placed (and those found unusable), for judging the policy's rules and
    /// later reloads.
    pub placed: Placed,
}

/// The ruleset for a policy whose allow rules reach `reach` (root, access words), with
/// the broker's `own` needs. A root that cannot be confined to gets no Landlock rule (see
/// [`Placed::inactive`]); an own directory that cannot is an error.
pub fn plan(reach: &[(Root, Access)], own: &Own<'_>) -> io::Result<Plan> {
    let (mut rules, placed) = place_roots(reach);
    for file in own.policy_files {
        rules.push(policy_dir_rule(file)?);
    }
    if let Some(file) = own.audit_file {
        rules.push(audit_dir_rule(file)?);
    }
    if let Some(socket) = own.socket {
        rules.push(socket_dir_rule(socket)?);
    }
    Ok(Plan { rules, placed })
}

/// The rule for the directory of the policy file `file`: reading it for a reload (the
/// broker's, or the file keeper's under `--user`). A directory rather than the file, since
/// editors and `mv` replace the file.
pub fn policy_dir_rule(file: &Path) -> io::Result<Rule> {
    own_dir(
        file,
        "the policy file's directory",
        AccessFs::ReadFile.into(),
        "reload the policy",
    )
}

/// The rule for the directory of the audit file `file`: writing it, and creating it anew
/// after log rotation (the broker's, or the file keeper's under `--user`).
pub fn audit_dir_rule(file: &Path) -> io::Result<Rule> {
    own_dir(
        file,
        "the audit file's directory",
        AccessFs::WriteFile | AccessFs::MakeReg,
        "write the audit file, and create it anew after log rotation",
    )
}

/// The rule for the directory of the socket `socket`: removing it at exit (the broker's,
/// or the file keeper's under `--user`).
pub fn socket_dir_rule(socket: &Path) -> io::Result<Rule> {
    own_dir(
        socket,
        "the socket's directory",
        AccessFs::RemoveFile.into(),
        "remove the socket at exit",
    )
}

/// Opens each root of `reach`: a usable one gets a Landlock rule, an unusable one is
/// recorded in the placement.
pub fn place_roots(reach: &[(Root, Access)]) -> (Vec<Rule>, Placed) {
    let mut rules = Vec::with_capacity(reach.len());
    let mut placed = Placed::default();
    for (root, access) in reach {
        match grant_root::open(root) {
            Ok(fd) => {
                *placed.roots.entry(root.path.clone()).or_default() |= *access;
                rules.push(Rule {
                    path: root.path.clone(),
                    fd,
                    rights: rights_for(*access),
                    why: format!("policy: {access} beneath {}", root.path.display()),
                });
            }
            Err(why) => {
                placed.unusable.insert(root.clone(), why);
            }
        }
    }
    (rules, placed)
}

/// The Landlock rule for the directory of `file`, which the broker needs for itself.
fn own_dir(file: &Path, what: &str, rights: BitFlags<AccessFs>, why: &str) -> io::Result<Rule> {
    let dir = file.parent().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no directory", file.display()),
        )
    })?;
    Ok(Rule {
        path: dir.to_path_buf(),
        fd: grant_root::open_own_dir(dir, what)?,
        rights,
        why: why.into(),
    })
}

/// Where a ruleset placed a policy's roots (each exactly at itself, never at an
/// ancestor) and which roots it found unusable: the allow rules with an unusable root
/// are inactive, and a reload is checked against exactly the placed roots.
#[derive(Debug, Default)]
pub struct Placed {
    roots: HashMap<PathBuf, Access>,
    unusable: HashMap<Root, Unusable>,
}

impl Placed {
    /// The allow rules of `policy` with a root found unusable at start, in policy order.
    /// When `confined`, every other root must lie beneath placed roots whose access
    /// covers its rule's: else the error names the first that does not (a reload
    /// reaching beyond the Landlock ruleset). Each root looks up only its own ancestors,
    /// so the reload of a large policy stays fast.
    pub fn inactive(&self, policy: &Policy, confined: bool) -> Result<Vec<InactiveRule>, String> {
        let mut inactive = Vec::new();
        for rule in policy
            .rules()
            .iter()
            .filter(|r| r.effect() == Effect::Allow)
        {
            let access = rule.access();
            for root in rule.grant_roots() {
                if let Some(why) = self.unusable.get(&root) {
                    inactive.push(InactiveRule {
                        index: rule.index(),
                        name: rule.name().to_owned(),
                        line: rule.line(),
                        root: root.path,
                        why: why.clone(),
                    });
                    break;
                }
                if confined && !self.covers(&root.path).contains(access) {
                    return Err(format!("{access} beneath {}", root.path.display()));
                }
            }
        }
        Ok(inactive)
    }

    /// The access words placed at `path` or an ancestor.
    fn covers(&self, path: &Path) -> Access {
        path.ancestors()
            .filter_map(|a| self.roots.get(a))
            .fold(Access::empty(), |acc, a| acc | *a)
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

/// Checks that every grant of `policy` can be held: a rule granting `write` without
/// `truncate` needs Landlock's truncate right (`truncate_right`), since `O_TRUNC`
/// is the broker's to refuse but `ftruncate` on the fd is not. The error names the
/// first rule that cannot be held.
pub fn holdable(policy: &Policy, truncate_right: bool) -> Result<(), String> {
    if truncate_right {
        return Ok(());
    }
    let unheld = policy.rules().iter().find(|r| {
        r.effect() == Effect::Allow
            && r.access().contains(Access::WRITE)
            && !r.access().contains(Access::TRUNCATE)
    });
    match unheld {
        None => Ok(()),
        Some(rule) => Err(format!(
            "rule {:?} (line {}) grants write without truncate, but this kernel cannot stop a \
             client from truncating a file through that fd: that needs Landlock's truncate \
             right (Linux 6.2 or later, with Landlock enabled). Grant truncate too, or \
             run a kernel that has it",
            rule.name(),
            rule.line(),
        )),
    }
}

/// Applies `rules` to the calling thread (and so to every thread it starts later).
pub fn restrict<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> io::Result<RulesetStatus> {
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_HANDLED))
        .and_then(Ruleset::create)
        .map_err(io::Error::other)?;
    for rule in rules {
        ruleset = ruleset
            .add_rule(PathBeneath::new(&rule.fd, rule.rights))
            .map_err(|e| io::Error::other(format!("{}: {e}", rule.path.display())))?;
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
    if access.contains(Access::WRITE) {
        rights |= AccessFs::WriteFile;
    }
    if access.contains(Access::TRUNCATE) {
        rights |= AccessFs::Truncate;
    }
    if access.creates() {
        rights |= AccessFs::MakeReg;
    }
    rights
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

    #[test]
    fn rights_follow_the_access_words() {
        assert_eq!(rights_for(Access::READ), AccessFs::ReadFile);
        assert_eq!(rights_for(Access::LIST), AccessFs::ReadDir);
        assert_eq!(
            rights_for(Access::WRITE | Access::CREATE | Access::TRUNCATE),
            AccessFs::WriteFile | AccessFs::MakeReg | AccessFs::Truncate
        );
    }

    #[test]
    fn a_reload_may_narrow_but_not_widen() {
        let start = policy(&[
            ("sys", "/proc/sys/**", "\"read\", \"list\""),
            ("dev", "/dev/**", "\"write\""),
        ]);
        let (_, placed) = place_roots(&start.reach());
        let reload = |rules| placed.inactive(&policy(rules), true);
        assert_eq!(
            reload(&[("k", "/proc/sys/kernel/**", "\"read\"")]),
            Ok(vec![])
        );
        assert_eq!(reload(&[("n", "/dev/null", "\"write\"")]), Ok(vec![]));
        assert!(reload(&[("t", "/proc/sysrq-trigger", "\"read\"")]).is_err());
        assert!(reload(&[("w", "/proc/sys/**", "\"write\"")]).is_err());
        assert!(reload(&[("all", "/**", "\"read\"")]).is_err());
    }

    #[test]
    fn an_unusable_root_makes_its_rule_inactive_and_is_never_placed_at_an_ancestor() {
        let p = policy(&[
            ("ok", "/etc/**", "\"read\""),
            ("missing", "/etc/no/such/dir/**", "\"read\""),
            ("link", "/proc/self/**", "\"read\""),
        ]);
        let (rules, placed) = place_roots(&p.reach());
        let paths: Vec<&Path> = rules.iter().map(|r| r.path.as_path()).collect();
        assert_eq!(paths, [Path::new("/etc")]);
        let inactive = placed.inactive(&p, false).unwrap();
        let names: Vec<(&str, &Unusable)> =
            inactive.iter().map(|r| (r.name.as_str(), &r.why)).collect();
        assert_eq!(
            names,
            [
                ("missing", &Unusable::Missing),
                ("link", &Unusable::Symlink)
            ]
        );
        assert_eq!(
            placed.inactive(&p, true).unwrap().len(),
            2,
            "the same policy reloads, with the same rules inactive"
        );
    }

    #[test]
    fn the_broker_own_directories_are_never_widened() {
        let own = Own {
            policy_files: &[Path::new("/etc/no-such-fdbroker-dir/p.toml")],
            socket: None,
            audit_file: None,
        };
        let err = plan(&[], &own).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let own = Own {
            policy_files: &[Path::new("/etc/p.toml")],
            socket: Some(Path::new("/run/x.sock")),
            audit_file: None,
        };
        let rules = plan(&[], &own).unwrap().rules;
        assert_eq!(rules[0].path, Path::new("/etc"));
        assert_eq!(
            rules.last().map(|r| (r.path.as_path(), r.rights)),
            Some((Path::new("/run"), AccessFs::RemoveFile.into()))
        );
    }

    #[test]
    fn write_without_truncate_needs_the_truncate_right() {
        let p = policy(&[
            ("r", "/a/**", "\"read\""),
            ("wt", "/b/**", "\"write\", \"truncate\""),
            ("w", "/c/**", "\"write\", \"create\""),
        ]);
        assert_eq!(holdable(&p, true), Ok(()));
        let err = holdable(&p, false).unwrap_err();
        assert!(
            err.starts_with("rule \"w\" (line 12) grants write without truncate"),
            "{err}"
        );
    }
}
