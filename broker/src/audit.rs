//! The audit trail: one line per decision, at info level under the `audit` target.
//!
//! ```text
//! allow op=open uid=2001 gid=2001 pid=77 access=read path="/srv/a" rule="scanner"
//! deny op=open uid=2002 gid=2002 pid=78 access=read path="/srv/a" rule=- errno=EACCES reason="default deny"
//! fail op=open uid=2001 gid=2001 pid=77 access=read path="/srv/b" rule="scanner" errno=ENOENT reason="no such file or directory"
//! ```
//! `rule=-` means no rule decided (default deny). Paths are quoted with Rust string
//! escapes; bytes that are not UTF-8 appear as `\xNN`, so every line is one line of text
//! that names the exact bytes asked for.

use std::fmt;

use fdbroker_wire::Access;
use nix::errno::Errno;

use crate::peer::PeerCreds;

/// How a request ended, for its audit line.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// Allowed and handed out.
    Allow,
    /// Refused by the policy (by a deny rule, or by no allow rule).
    Deny,
    /// Allowed, but the open failed.
    Fail {
        /// The errno returned to the client.
        errno: i32,
        /// Why.
        reason: &'a str,
    },
}

/// Writes the audit line for one `open` decision.
pub fn open(
    peer: &PeerCreds,
    access: Access,
    path: &[u8],
    rule: Option<&str>,
    outcome: Outcome<'_>,
) {
    let word = match outcome {
        Outcome::Allow => "allow",
        Outcome::Deny => "deny",
        Outcome::Fail { .. } => "fail",
    };
    let rule = RuleName(rule);
    let (uid, gid, pid, path) = (peer.uid, peer.gid, peer.pid, QuotedPath(path));
    let head = format_args!(
        "{word} op=open uid={uid} gid={gid} pid={pid} access={access} path={path} rule={rule}"
    );
    match outcome {
        Outcome::Allow => log::info!(target: "audit", "{head}"),
        Outcome::Deny => {
            log::info!(target: "audit", "{head} errno=EACCES reason=\"{}\"", deny_reason(rule.0))
        }
        Outcome::Fail { errno, reason } => {
            log::info!(target: "audit", "{head} errno={:?} reason={reason:?}", Errno::from_raw(errno))
        }
    }
}

fn deny_reason(rule: Option<&str>) -> &'static str {
    if rule.is_some() {
        "denied by rule"
    } else {
        "default deny"
    }
}

struct RuleName<'a>(Option<&'a str>);

impl fmt::Display for RuleName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(name) => write!(f, "{name:?}"),
            None => f.write_str("-"),
        }
    }
}

/// A path as a double-quoted string: valid UTF-8 with Rust's escapes, other bytes as `\xNN`.
pub struct QuotedPath<'a>(pub &'a [u8]);

impl fmt::Display for QuotedPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                write!(f, "{}", c.escape_debug())?;
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_on_one_line_with_exact_bytes() {
        assert_eq!(QuotedPath(b"/srv/a b").to_string(), r#""/srv/a b""#);
        assert_eq!(QuotedPath("/srv/é".as_bytes()).to_string(), r#""/srv/é""#);
        assert_eq!(QuotedPath(b"/x\n\"y\xff").to_string(), r#""/x\n\"y\xff""#);
    }
}
