//! The administrator's commands, which run and exit without serving: `check` and `explain`
//! (here), `reload` ([`reload`]), and `man` ([`man`]).
//!
//! `check` and `explain` read the policy file exactly as `serve` does, so what they say is
//! what the broker would do; `check --verbose` also warns about the deny rules that users
//! with subordinate ids escape ([`subids`]).

pub mod live_explain;
pub mod man;
pub mod reload;
pub mod subids;

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use fdbroker_agent::ExplainFor;
use fdbroker_policy::{
    Effect, NameResolver, Namespace, Peer, Policy, Process, UserNamespace, Warning,
};
use fdbroker_wire::{Access, check_path};

use crate::count::count;
use crate::identity;
use crate::policy;
use crate::resolver::system::{self, SystemNames};
use crate::startup::privileges::Caps;
use crate::startup::{grant_root, sandbox};
use subids::SubIds;

/// The subordinate id files `check --verbose` warns from (see [`self::subids`]).
#[derive(Debug)]
pub struct SubIdFiles<'a> {
    pub subuid: &'a Path,
    pub subgid: &'a Path,
}

/// `fdbroker check [--verbose] FILE`: true when the policy is valid. Verbose, it also
/// prints the rules as loaded (ids resolved), the capabilities they imply and warnings:
/// the policy's own (see `Policy::warnings`), those about its roots on this machine now,
/// and those about the deny rules that users with subordinate ids escape.
pub fn check(file: &Path, verbose: bool, subids: &SubIdFiles<'_>) -> bool {
    let policy = match policy::file::load(file, &SystemNames) {
        Ok(policy) => policy,
        Err(e) => {
            eprintln!("{e}");
            return false;
        }
    };
    println!(
        "{}: ok ({})",
        file.display(),
        count(policy.rules().len(), "rule")
    );
    if verbose {
        print_rules(&policy);
        println!("capabilities: {}", Caps::needed_for(policy.granted()));
        let mut warnings = policy.warnings();
        warnings.extend(root_warnings(&policy));
        match (SubIds::read(subids.subuid), SubIds::read(subids.subgid)) {
            (Ok(subuid), Ok(subgid)) => {
                warnings.extend(subids::warnings(&policy, &subuid, &subgid));
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("fdbroker: cannot read the subordinate id files: {e}");
            }
        }
        warnings.sort_by_key(|w| w.line);
        for warning in warnings {
            println!("{}:{warning}", file.display());
        }
    }
    true
}

/// Warnings about the roots of the allow rules as they are now, in file order: a rule
/// `serve` would leave inactive (its root missing, not a directory, or reached through a
/// symbolic link, judged as `serve` judges it), and a root whose ancestor someone other
/// than root could use to swap it before the broker starts.
fn root_warnings(policy: &Policy) -> Vec<Warning> {
    let (_, placed) = sandbox::place_roots(&policy.reach());
    let mut warnings: Vec<Warning> = placed
        .inactive(policy, false)
        .unwrap_or_default()
        .iter()
        .map(|rule| Warning {
            line: rule.line,
            message: rule.to_string(),
        })
        .collect();
    for rule in policy
        .rules()
        .iter()
        .filter(|r| r.effect() == Effect::Allow)
    {
        let mut seen = HashSet::new();
        for root in rule.grant_roots() {
            for why in grant_root::swappable(&root.path) {
                if seen.insert(why.clone()) {
                    warnings.push(Warning {
                        line: rule.line(),
                        message: format!("rule {:?}: {why}", rule.name()),
                    });
                }
            }
        }
    }
    warnings.sort_by_key(|w| w.line);
    warnings
}

fn print_rules(policy: &Policy) {
    for rule in policy.rules() {
        let paths: Vec<String> = rule.patterns().map(|p| format!("{p:?}")).collect();
        let mut line = format!(
            "rule {:?} (line {}): {} {}{} paths=[{}] access={}",
            rule.name(),
            rule.line(),
            rule.effect(),
            rule.subjects(),
            rule.identity(),
            paths.join(","),
            rule.access()
        );
        if rule.effect() == Effect::Allow && rule.access().creates() {
            line.push_str(&format!(" create_mode={:#o}", rule.create_mode()));
        }
        println!("{line}");
    }
}

/// Who `explain` asks for, as given on the command line.
#[derive(Debug)]
pub enum Who<'a> {
    /// `--uid USER [--gid GROUP] [--groups GROUP,...]`: names or numeric ids.
    Ids {
        user: &'a str,
        group: Option<&'a str>,
        groups: &'a [String],
    },
    /// `--peer-of PID`: the credentials of a running process.
    PeerOf(u32),
}

/// A request to explain, as given on the command line.
#[derive(Debug)]
pub struct Query<'a> {
    /// The client.
    pub who: Who<'a>,
    /// Its systemd unit (`--unit`).
    pub unit: Option<&'a str>,
    /// Its executable (`--exe`).
    pub exe: Option<&'a Path>,
    /// The access words asked for.
    pub access: Access,
    /// The path asked for.
    pub path: &'a Path,
}

/// Which policy `explain` asks.
#[derive(Debug, Clone, Copy)]
pub enum PolicySource<'a> {
    /// `--policy FILE`: the file, as it is on disk now.
    File(&'a Path),
    /// `--socket PATH`: the policy in force at the running broker there.
    Broker(&'a Path),
}

/// `fdbroker explain`: prints the decision; `Ok(true)` when allowed. `Err` carries a
/// message for a policy or request that cannot be evaluated, or a broker that cannot be
/// asked.
pub fn explain(source: PolicySource<'_>, query: &Query<'_>) -> Result<bool, String> {
    let path = query.path.as_os_str().as_bytes();
    check_path(path).map_err(|e| format!("{}: {e}", query.path.display()))?;
    query
        .access
        .check_request()
        .map_err(|e| format!("--access {}: {e}", query.access))?;
    let client = resolve(&query.who)?;
    let policy_file = match source {
        PolicySource::File(file) => file,
        PolicySource::Broker(socket) => {
            let who = ExplainFor {
                uid: client.uid,
                gid: client.gid,
                groups: &client.groups,
            };
            let extra = client.looked_up.as_deref();
            return live_explain::ask(socket, who, query.path, query.access, extra);
        }
    };
    let policy = policy::file::load(policy_file, &SystemNames)?;
    let process = match query.who {
        Who::PeerOf(pid) => identity::read_pid(pid as i32),
        Who::Ids { .. } => Process {
            unit: query.unit.map(str::to_owned),
            exe: query.exe.map(|e| e.as_os_str().as_bytes().to_vec()),
            user_namespace: UserNamespace::Broker,
        },
    };
    let decision = policy.decide(
        &Peer {
            uid: client.uid,
            gid: client.gid,
            groups: &client.groups,
            process: Some(&process),
            namespace: Namespace::of(&process.user_namespace),
        },
        path,
        query.access,
    );
    println!("{decision}");
    if let Some(looked_up) = client.looked_up {
        println!("{looked_up}");
    }
    // What was read of the process, where it could matter: a rule names a unit or an
    // executable, or the process is in another user namespace.
    let names_process = policy
        .rules()
        .iter()
        .any(|r| !r.units().is_empty() || !r.executables().is_empty());
    if let Who::PeerOf(pid) = query.who
        && (names_process || process.user_namespace != UserNamespace::Broker)
    {
        println!("{}", described(pid, &process));
    }
    Ok(decision.is_allowed())
}

/// `--peer-of`'s second line: what was read of the process besides its ids.
fn described(pid: u32, process: &Process) -> String {
    let unit = process.unit.as_deref().unwrap_or("(none)");
    let exe = process
        .exe
        .as_deref()
        .map_or_else(|| "(unreadable)".into(), String::from_utf8_lossy);
    let namespace = match &process.user_namespace {
        UserNamespace::Broker => String::new(),
        UserNamespace::Other(Some(owner)) => {
            format!(", in a user namespace owned by uid {}", owner.uid)
        }
        UserNamespace::Other(None) => ", in a user namespace of unknown owner".into(),
    };
    format!("process {pid}: unit {unit}, executable {exe}{namespace}")
}

/// The client to explain for.
struct Client {
    uid: u32,
    /// The primary gid; `(gid_t)-1`, which is never valid and so matches no rule, for none.
    gid: u32,
    /// The supplementary gids.
    groups: Vec<u32>,
    /// When explain chose the groups itself (`--uid` alone), the line that says which, so
    /// the administrator sees whom the answer is for.
    looked_up: Option<String>,
}

/// The client of `who`. `--uid` alone is a login of that user: its groups come from the
/// databases. With `--gid` or `--groups`, only the groups given count.
fn resolve(who: &Who<'_>) -> Result<Client, String> {
    match who {
        Who::Ids {
            user,
            group: None,
            groups: [],
        } => login(user),
        Who::Ids {
            user,
            group,
            groups,
        } => {
            let uid = id(user, |n| SystemNames.uid(n))
                .ok_or_else(|| format!("--uid: unknown user {user:?}"))?;
            let gid = match group {
                Some(g) => id(g, |n| SystemNames.gid(n))
                    .ok_or_else(|| format!("--gid: unknown group {g:?}"))?,
                None => u32::MAX,
            };
            let groups = groups
                .iter()
                .map(|g| {
                    id(g, |n| SystemNames.gid(n))
                        .ok_or_else(|| format!("--groups: unknown group {g:?}"))
                })
                .collect::<Result<_, _>>()?;
            Ok(Client {
                uid,
                gid,
                groups,
                looked_up: None,
            })
        }
        Who::PeerOf(pid) => {
            let (uid, gid, groups) = peer_of(*pid)?;
            Ok(Client {
                uid,
                gid,
                groups,
                looked_up: None,
            })
        }
    }
}

/// The client `--uid USER` names alone: a login of the user, with the primary and
/// supplementary groups `initgroups(3)` would give it. A numeric uid with no passwd entry
/// has no groups to find, and the line says so.
fn login(user: &str) -> Result<Client, String> {
    let Some(login) = system::login(user).map_err(|e| format!("--uid: {e}"))? else {
        let uid = user
            .parse()
            .map_err(|_| format!("--uid: unknown user {user:?}"))?;
        return Ok(Client {
            uid,
            gid: u32::MAX,
            groups: Vec::new(),
            looked_up: Some(format!(
                "as uid {uid} (no passwd entry, so no groups; give them with --gid and --groups)"
            )),
        });
    };
    let groups: Vec<String> = login.groups.iter().map(u32::to_string).collect();
    Ok(Client {
        uid: login.uid,
        gid: login.gid,
        looked_up: Some(format!(
            "as uid {} ({}), gid {}, groups {} (from the group database)",
            login.uid,
            login.name,
            login.gid,
            groups.join(",")
        )),
        groups: login.groups,
    })
}

/// A numeric id, or the id of the name `text`.
fn id(text: &str, by_name: impl Fn(&str) -> Option<u32>) -> Option<u32> {
    text.parse().ok().or_else(|| by_name(text))
}

/// The effective uid, effective gid and supplementary groups of process `pid`, from
/// `/proc/PID/status` ([`proc_pid_status(5)`]).
///
/// [`proc_pid_status(5)`]: https://man7.org/linux/man-pages/man5/proc_pid_status.5.html
fn peer_of(pid: u32) -> Result<(u32, u32, Vec<u32>), String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("--peer-of {pid}: cannot read /proc/{pid}/status: {e}"))?;
    let field = |name: &str| -> Result<Vec<u32>, String> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .ok_or_else(|| format!("--peer-of {pid}: no {name} line in /proc/{pid}/status"))?;
        line.split_whitespace()
            .map(|n| {
                n.parse()
                    .map_err(|e| format!("--peer-of {pid}: bad {name} {n:?}: {e}"))
            })
            .collect()
    };
    // Uid: and Gid: list real, effective, saved and filesystem ids; the kernel's peer
    // credentials are the effective ones.
    let effective = |name: &str| {
        field(name)?
            .get(1)
            .copied()
            .ok_or_else(|| format!("--peer-of {pid}: short {name} line"))
    };
    Ok((effective("Uid:")?, effective("Gid:")?, field("Groups:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_of_reads_this_process_credentials() {
        let (uid, gid, groups) = peer_of(std::process::id()).unwrap();
        assert_eq!(uid, rustix::process::geteuid().as_raw());
        assert_eq!(gid, rustix::process::getegid().as_raw());
        let mut ours: Vec<u32> = rustix::process::getgroups()
            .unwrap()
            .iter()
            .map(|g| g.as_raw())
            .collect();
        let mut theirs = groups;
        ours.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(theirs, ours);
        assert!(peer_of(u32::MAX).unwrap_err().contains("cannot read"));
    }

    #[test]
    fn ids_are_numbers_or_names() {
        assert_eq!(id("1001", |_| None), Some(1001));
        assert_eq!(id("root", |n| (n == "root").then_some(0)), Some(0));
        assert_eq!(id("nobody-here", |_| None), None);
    }
}
