//! The command line of `fdbroker`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use fdbroker_wire::Access;

use crate::policy::file::DEFAULT_PATH as DEFAULT_POLICY;
use crate::startup::helper_user::HelperUser;

/// A file-descriptor broker: opens files for unprivileged clients under an administrator's
/// policy and hands them the open file descriptors over a Unix socket.
///
/// Exit status: 0 success (or `explain`: allowed); 1 invalid policy (or `explain`: denied);
/// 2 bad usage; 3 cannot run (the broker could not start or stopped on an error,
/// `explain` could not evaluate the request or ask the broker, or `reload` could not ask
/// the broker);
/// 4 `reload`: the new policy is valid but needs a restart.
#[derive(Debug, Parser)]
#[command(name = "fdbroker", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the broker in the foreground (logs to stderr; set RUST_LOG, default info).
    ///
    /// SIGHUP reloads the policy file and reopens the audit file (a policy that is invalid,
    /// or needs a restart, is logged and the old policy kept: `fdbroker reload` says so);
    /// SIGTERM or SIGINT stop the broker and remove the socket.
    #[command(after_help = SERVE_EXAMPLE)]
    Serve {
        /// The policy file (TOML). Relative paths, here and in --socket, --audit-file and
        /// --shadow-policy, are taken from the working directory at start.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_POLICY)]
        policy: PathBuf,
        /// Where to create the socket; a stale socket there is replaced, a live one is not.
        #[arg(long, value_name = "PATH", default_value = fdbroker_wire::DEFAULT_SOCKET)]
        socket: PathBuf,
        /// Permission bits of the socket file, in octal (who may connect at all).
        #[arg(long, value_name = "OCTAL", default_value = "0666", value_parser = parse_mode)]
        socket_mode: u32,
        /// Group of the socket file (a name or a numeric gid), to narrow it with --socket-mode 0660.
        #[arg(long, value_name = "GROUP")]
        socket_group: Option<String>,
        /// After binding, switch to this user (a name or uid; its primary group, no
        /// supplementary groups), keeping only the capabilities the policy needs. A small
        /// process stays root, without capabilities, to reopen the audit file, read the
        /// policy files (root's, mode 0600) for a reload, and remove the socket for it.
        /// The name resolver and the process reader run as this user too (without it, as
        /// nobody, whose other processes could kill them): give it an account of its own.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Print the capabilities, user, helper processes' uid and Landlock rules this policy
        /// implies, and the rules left inactive because their root is missing, not a
        /// directory or reached through a symbolic link, and exit.
        #[arg(long)]
        print_privileges: bool,
        /// Audit records as `text` lines or `json` objects (one per line).
        #[arg(long, value_name = "FORMAT", default_value = "text")]
        audit_format: crate::request::audit::Format,
        /// Write audit records to this file (appending; reopened on SIGHUP, for logrotate)
        /// instead of the log on stderr. Give it a directory of its own: the broker may
        /// write anything in that directory.
        #[arg(long, value_name = "PATH")]
        audit_file: Option<PathBuf>,
        /// Also decide every request by this policy, and log each request it would decide
        /// differently (`shadow: would allow` / `shadow: would deny`). It never grants
        /// anything; SIGHUP reloads it with the live policy. For trying a new policy on
        /// real traffic before switching to it.
        #[arg(long, value_name = "FILE")]
        shadow_policy: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Validate a policy file: print every error as FILE:LINE:COL: message and exit 1, or exit 0.
    Check {
        /// Also print the rules as loaded (names resolved to ids), the capabilities they
        /// imply, and warnings about risky grants, about rules `serve` would leave inactive
        /// (a root missing, not a directory or reached through a symbolic link), about
        /// roots that a user other than root could swap, and about deny rules that users
        /// with subordinate ids (in the files below) escape.
        #[arg(long, short)]
        verbose: bool,
        /// The subordinate uid file --verbose warns from (another system's, say).
        #[arg(long, value_name = "FILE", default_value = crate::admin::subids::SUBUID)]
        subuid: PathBuf,
        /// The subordinate gid file --verbose warns from.
        #[arg(long, value_name = "FILE", default_value = crate::admin::subids::SUBGID)]
        subgid: PathBuf,
        /// The policy file to check.
        #[arg(value_name = "FILE", default_value = DEFAULT_POLICY)]
        file: PathBuf,
    },
    /// Say whether a policy allows a request, and which rule decides it (exit 0 allow, 1 deny).
    ///
    /// By default the policy file is read as it is on disk. With --socket, the running
    /// broker is asked instead (root only): its policy in force is what clients get, and
    /// differs from the file until a reload succeeds. An allow rule that is inactive at the
    /// broker (a root it could not confine to at start) serves nothing: exit 1.
    Explain {
        /// The policy file.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_POLICY)]
        policy: PathBuf,
        /// Ask the running broker on this socket how its policy in force decides, instead
        /// of reading --policy.
        #[arg(long, value_name = "PATH", conflicts_with = "policy")]
        socket: Option<PathBuf>,
        /// The client's user: a name or a uid. Alone, it stands for a login of that user:
        /// the primary and supplementary groups come from the user and group databases
        /// (as `initgroups` would give them), and the second line of output names them.
        #[arg(long, value_name = "USER", required_unless_present = "peer_of")]
        uid: Option<String>,
        /// The client's primary group: a name or a gid. With --gid or --groups, only the
        /// groups given are considered (without --gid, no primary group).
        #[arg(long, value_name = "GROUP", conflicts_with = "peer_of")]
        gid: Option<String>,
        /// The client's supplementary groups, comma-separated names or gids.
        #[arg(
            long,
            value_name = "GROUP,...",
            value_delimiter = ',',
            conflicts_with = "peer_of"
        )]
        groups: Vec<String>,
        /// Explain for the credentials of this running process (effective uid and gid,
        /// supplementary groups) instead of --uid/--gid/--groups, and for its systemd unit,
        /// executable and user namespace, as the broker reads them.
        #[arg(long, value_name = "PID", conflicts_with = "uid")]
        peer_of: Option<u32>,
        /// The client's systemd unit, for rules naming `units` (without it, such rules do
        /// not match). Not with --socket, whose broker explains for ids only.
        #[arg(
            long,
            value_name = "UNIT",
            conflicts_with_all = ["peer_of", "socket"]
        )]
        unit: Option<String>,
        /// The client's executable, an absolute path, for rules naming `executables`
        /// (without it, such rules do not match). Not with --socket.
        #[arg(
            long,
            value_name = "PATH",
            conflicts_with_all = ["peer_of", "socket"]
        )]
        exe: Option<PathBuf>,
        /// The access words asked for, comma-separated: read, write, create, create_new,
        /// truncate, list.
        #[arg(long, value_name = "ACCESS[,ACCESS...]")]
        access: Access,
        /// The absolute path asked for.
        path: PathBuf,
    },
    /// Have the running broker re-read its policy file now, and say whether the new policy
    /// is in force (root only; for `systemctl reload`).
    ///
    /// Waits until the attempt is over. Exit 0: the new policy is in force. Exit 1: it is
    /// invalid; exit 4: it is valid but needs a capability or Landlock access the broker
    /// dropped at start (restart the broker). In both cases the previous policy stays in
    /// force, and the reason is printed. Exit 3: the broker could not be asked (not
    /// running, or not root). SIGHUP reloads too, but tells nothing.
    Reload {
        /// The broker's socket.
        #[arg(long, value_name = "PATH", default_value = fdbroker_wire::DEFAULT_SOCKET)]
        socket: PathBuf,
    },
    /// Write the manual pages fdbroker.8 and fdbroker-policy.5 into DIR (for packaging).
    #[command(hide = true)]
    Man {
        /// The directory to write the pages into (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Write the shell completions fdbroker.bash, _fdbroker (zsh) and fdbroker.fish into
    /// DIR (for packaging).
    #[command(hide = true)]
    Completions {
        /// The directory to write the completions into (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// The broker's name resolver, which `serve` starts itself (see docs/security.md,
    /// "Security model"); its standard input must be the broker's socket.
    #[command(hide = true, name = crate::resolver::SUBCOMMAND)]
    ResolveNames {
        #[command(flatten)]
        user: HelperUser,
    },
    /// The broker's file keeper, which `serve --user` starts itself to reopen the audit
    /// file, read the policy files for a reload and remove the socket; its standard input
    /// must be the broker's socket.
    #[command(hide = true, name = crate::keeper::SUBCOMMAND)]
    KeepFiles {
        /// The socket the broker bound, to remove when the broker is gone.
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// The audit file, to open for the broker after log rotation.
        #[arg(long, value_name = "PATH")]
        audit_file: Option<PathBuf>,
        /// The policy file, to open for the broker for a reload.
        #[arg(long, value_name = "PATH")]
        policy: Option<PathBuf>,
        /// The shadow policy file, to open for the broker for a reload.
        #[arg(long, value_name = "PATH")]
        shadow_policy: Option<PathBuf>,
    },
    /// The broker's process reader, which `serve` starts itself to read the unit and
    /// executable of clients; its standard input must be the broker's socket.
    #[command(hide = true, name = crate::identity::SUBCOMMAND)]
    ReadPeers {
        #[command(flatten)]
        user: HelperUser,
    },
}

/// `serve --help`'s example: what a typical start looks like, so an administrator need not
/// assemble the flags from the list. (Under systemd, see examples/systemd/.)
pub const SERVE_EXAMPLE: &str = "\
Example (socket narrowed to one group, audit records in their own file):
  fdbroker serve --policy /etc/fdbroker/policy.toml \\
      --socket /run/fdbroker.sock --socket-mode 0660 --socket-group scanners \\
      --audit-file /var/log/fdbroker/audit.log
Check the policy (by default /etc/fdbroker/policy.toml) first, then apply it and learn
whether it is in force:
  fdbroker check && fdbroker reload --socket /run/fdbroker.sock";

/// Resource limits of `serve`; see docs/commands.md, "Limits".
#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    /// Connections open at once, all clients together; over it a new connection gets a
    /// "busy" error and is closed.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,
    /// Connections open at once from one uid.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections_per_uid: usize,
    /// Requests being served at once for one uid; its further requests wait their turn.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_requests_per_uid: usize,
    /// Fds one uid's clients may leave unread in replies, over all their connections;
    /// over it, that uid's requests wait until its clients read. Keep it far below the
    /// broker's open-files limit, which bounds the fds in flight of all clients together.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_unread_fds_per_uid: usize,
    /// Close a connection that sends nothing for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub idle_timeout: u64,
    /// Worker threads in all: as many as there are CPUs wait for requests, the others
    /// stand by for requests stalled in the file system, each of which holds one.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: u16,
}

impl LimitArgs {
    /// The limits these flags set.
    pub fn limits(&self) -> crate::server::limits::Limits {
        crate::server::limits::Limits {
            max_connections: self.max_connections,
            max_connections_per_uid: self.max_connections_per_uid,
            max_requests_per_uid: self.max_requests_per_uid,
            max_unread_fds_per_uid: self.max_unread_fds_per_uid,
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout),
            workers: usize::from(self.workers),
        }
    }
}

fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!("{s:?} is not an octal mode between 0 and 0777")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_and_bounded() {
        assert_eq!(parse_mode("0666"), Ok(0o666));
        assert_eq!(parse_mode("0o600"), Ok(0o600));
        assert_eq!(parse_mode("660"), Ok(0o660));
        assert!(parse_mode("1777").is_err());
        assert!(parse_mode("9").is_err());
        assert!(parse_mode("").is_err());
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
