//! The administrator's offline commands: `check` and `explain`. They read the policy file
//! exactly as `serve` does, so what they say is what the broker would do.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use fdbroker_policy::Peer;
use fdbroker_wire::{Access, check_path};

use crate::policy_file;

/// `fdbroker check FILE`: true when the policy is valid.
pub fn check(file: &Path) -> bool {
    match policy_file::load(file) {
        Ok(policy) => {
            println!("{}: ok ({} rules)", file.display(), policy.rules().len());
            true
        }
        Err(e) => {
            eprintln!("{e}");
            false
        }
    }
}

/// A request to explain, as given on the command line.
#[derive(Debug)]
pub struct Query<'a> {
    /// The client's uid.
    pub uid: u32,
    /// Its primary gid, if any.
    pub gid: Option<u32>,
    /// Its supplementary gids.
    pub groups: &'a [u32],
    /// The access words asked for.
    pub access: Access,
    /// The path asked for.
    pub path: &'a Path,
}

/// `fdbroker explain`: prints the decision; `Ok(true)` when allowed. `Err` carries a
/// message for a policy or request that cannot be evaluated.
pub fn explain(policy_file: &Path, query: &Query<'_>) -> Result<bool, String> {
    let path = query.path.as_os_str().as_bytes();
    check_path(path).map_err(|e| format!("{}: {e}", query.path.display()))?;
    query
        .access
        .check_request()
        .map_err(|e| format!("--access {}: {e}", query.access))?;
    let policy = policy_file::load(policy_file)?;
    // (uid_t)-1 is never a valid gid, so "no primary group" matches no rule.
    let gid = query.gid.unwrap_or(u32::MAX);
    let decision = policy.decide(
        &Peer {
            uid: query.uid,
            gid,
            groups: query.groups,
        },
        path,
        query.access,
    );
    println!("{decision}");
    Ok(decision.allowed)
}
