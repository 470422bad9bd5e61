//! The command line of `fdbroker`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use fdbroker_wire::Access;

/// A file-descriptor broker: opens files for unprivileged clients under an administrator's
/// policy and hands them the open file descriptors over a Unix socket.
///
/// Exit status: 0 success (or `explain`: allowed); 1 invalid policy (or `explain`: denied);
/// 2 bad usage; 3 cannot run (the broker could not start or stopped on an error, or
/// `explain` could not evaluate the request).
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
    /// SIGHUP reloads the policy file (an invalid file is logged and the old policy kept);
    /// SIGTERM or SIGINT stop the broker and remove the socket.
    Serve {
        /// The policy file (TOML).
        #[arg(long, value_name = "FILE")]
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
    },
    /// Validate a policy file: print every error as FILE:LINE:COL: message and exit 1, or exit 0.
    Check {
        /// The policy file to check.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Say whether a policy allows a request, and which rule decides it (exit 0 allow, 1 deny).
    Explain {
        /// The policy file.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// The client's uid.
        #[arg(long)]
        uid: u32,
        /// The client's primary gid (without it, no primary group is considered).
        #[arg(long)]
        gid: Option<u32>,
        /// The client's supplementary gids, comma-separated.
        #[arg(long, value_name = "GID,GID...", value_delimiter = ',')]
        groups: Vec<u32>,
        /// The access words asked for, comma-separated: read, write, append, create, truncate, list.
        #[arg(long, value_name = "ACCESS[,ACCESS...]")]
        access: Access,
        /// The absolute path asked for.
        path: PathBuf,
    },
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
