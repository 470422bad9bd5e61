//! `fdbroker explain --socket PATH`: asks the running broker how its policy in force
//! decides a request. That policy is the one clients get, and differs from the file on
//! disk when the file was edited and not reloaded, or failed to reload.

use std::path::Path;
use std::time::SystemTime;

use fdbroker_agent::{Client, ExplainFor};
use fdbroker_wire::Access;

/// Asks the broker at `socket` about `client`'s request for `path` with `access`, prints
/// the decision as `explain` prints a file's, then `extra` (which groups were looked up, if
/// any) and which policy decided. `Ok(true)` when a real request would be served.
pub fn ask(
    socket: &Path,
    client: ExplainFor<'_>,
    path: &Path,
    access: Access,
    extra: Option<&str>,
) -> Result<bool, String> {
    let answer = Client::connect(socket)
        .and_then(|mut broker| broker.explain(client, path, access))
        .map_err(|e| format!("explain --socket {}: {e}", socket.display()))?;
    match (&answer.rule, answer.allowed) {
        (Some(rule), true) => println!("allow (rule {rule:?})"),
        (Some(rule), false) => println!("deny (rule {rule:?})"),
        (None, _) => println!("deny (no rule matched: default deny)"),
    }
    if answer.inactive {
        println!(
            "but the rule is inactive: its root could not be confined to at start (see the \
             broker's log), so a real request fails"
        );
    }
    if let Some(extra) = extra {
        println!("{extra}");
    }
    let age = SystemTime::now()
        .duration_since(answer.policy_loaded_at)
        .map_or(0, |d| d.as_secs());
    println!(
        "decided by the policy in force at the broker on {} (loaded {age}s ago), not the file",
        socket.display()
    );
    Ok(answer.allowed && !answer.inactive)
}
