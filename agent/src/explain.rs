//! Root's question to the running broker: how would the policy in force decide a request
//! of some client (`Explain`)? The policy file on disk may differ from it until a reload.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::SystemTime;

use fdbroker_wire::{Access, Batch, MAX_EXPLAIN_GROUPS, Request, Response};

use crate::Client;

/// The client a request is explained for: its uid, primary gid (`u32::MAX` for none) and
/// supplementary gids (at most [`MAX_EXPLAIN_GROUPS`]).
#[derive(Debug, Clone, Copy)]
pub struct ExplainFor<'a> {
    /// The client's uid.
    pub uid: u32,
    /// The client's primary gid, `u32::MAX` for none.
    pub gid: u32,
    /// The client's supplementary gids.
    pub groups: &'a [u32],
}

/// How the broker's policy in force decides a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Whether an allow rule decides it.
    pub allowed: bool,
    /// The deciding rule's name; `None` for the default deny.
    pub rule: Option<String>,
    /// Whether the deciding allow rule is inactive, so that a real request fails.
    pub inactive: bool,
    /// When the deciding policy was loaded.
    pub policy_loaded_at: SystemTime,
}

impl Client {
    /// Root only: how the broker's policy in force would decide a request of `client` for
    /// `path` with `access`, without opening anything. Another client gets
    /// `PermissionDenied`; more than [`MAX_EXPLAIN_GROUPS`] groups are `InvalidInput`.
    pub fn explain(
        &mut self,
        client: ExplainFor<'_>,
        path: impl AsRef<Path>,
        access: Access,
    ) -> io::Result<Explanation> {
        if client.groups.len() > MAX_EXPLAIN_GROUPS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} supplementary groups, more than the {MAX_EXPLAIN_GROUPS} the protocol carries",
                    client.groups.len()
                ),
            ));
        }
        let request = Request::Explain {
            uid: client.uid,
            gid: client.gid,
            groups: Batch(client.groups.to_vec()),
            path: path.as_ref().as_os_str().as_bytes(),
            access,
        };
        let (explanation, _) = self.call(&request, |r| match r {
            Response::Explained {
                allowed,
                rule,
                inactive,
                policy_loaded_at,
            } => Some(Explanation {
                allowed,
                rule: rule.map(str::to_owned),
                inactive,
                policy_loaded_at: crate::status::unix_time(policy_loaded_at),
            }),
            _ => None,
        })?;
        Ok(explanation)
    }
}
