//! `fdbroker reload`: has the running broker re-read its policy file now and says whether
//! the new policy is in force, for `systemctl reload` (the unit's `ExecReload=`) and
//! scripts, which a bare SIGHUP cannot tell.

use std::path::Path;
use std::process::ExitCode;

use fdbroker_agent::{Client, ReloadResult};

use crate::count::count;

/// Exit status when the new policy is valid but needs a restart to be in force.
const EXIT_NEEDS_RESTART: u8 = 4;

/// Asks the broker at `socket` to reload, prints the outcome and returns the exit status:
/// 0 in force, 1 invalid, [`EXIT_NEEDS_RESTART`]; `Err` when it could not be asked.
pub fn reload(socket: &Path) -> Result<ExitCode, String> {
    let status = Client::connect(socket)
        .and_then(|mut client| client.reload())
        .map_err(|e| format!("reload: {e}"))?;
    let Some(attempt) = status.last_reload else {
        return Err("reload: the broker did not say what came of it".to_owned());
    };
    let file = &status.policy_file;
    match attempt.result {
        ReloadResult::InForce => {
            println!(
                "policy reloaded from {file}: {} in force",
                count(status.rules.len(), "rule")
            );
            Ok(ExitCode::SUCCESS)
        }
        ReloadResult::Invalid => {
            eprintln!(
                "fdbroker: reload: policy invalid, the previous policy stays in force: {}\n\
                 (`fdbroker check {file}` lists every error)",
                attempt.error
            );
            Ok(ExitCode::FAILURE)
        }
        ReloadResult::NeedsRestart => {
            eprintln!(
                "fdbroker: reload: policy needs a restart, the previous policy stays in force: {}",
                attempt.error
            );
            Ok(ExitCode::from(EXIT_NEEDS_RESTART))
        }
    }
}
