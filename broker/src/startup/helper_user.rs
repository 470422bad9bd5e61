//! The user the broker's helper processes (its name resolver and its process reader)
//! switch to when started by root.
//!
//! Any process of a helper's uid may signal it: one that kills or stops the process
//! reader makes the broker deny every request until a restart, one that kills the
//! resolver fails every reload. So under `serve --user USER` (the shipped unit's
//! `fdbroker`, an account only the broker uses) the helpers run as USER, whose only other
//! process is the broker itself (which cannot trace them: they are not dumpable). Without
//! `--user` they run as `nobody`, shared with whatever else runs as `nobody` (NFS's
//! anonymous uid, services configured with `User=nobody`).
//!
//! The broker passes the ids on the helper's command line (`--uid`, `--gid`), as the
//! helper gets its other start-up facts; the helper's argument parser refuses uid 0 and
//! the ids `-1` stands for.

use super::privileges::RunAs;

/// `nobody`/`nogroup` on Debian and most distributions (the kernel's overflow id), which
/// owns no files.
pub const NOBODY: HelperUser = HelperUser {
    uid: 65534,
    gid: 65534,
};

/// A helper's uid and primary gid (it keeps no supplementary group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct HelperUser {
    /// The uid to switch to when started as root (never 0).
    #[arg(long, value_name = "UID", value_parser = clap::value_parser!(u32).range(1..i64::from(u32::MAX)))]
    pub uid: u32,
    /// The gid to switch to when started as root.
    #[arg(long, value_name = "GID", value_parser = clap::value_parser!(u32).range(0..i64::from(u32::MAX)))]
    pub gid: u32,
}

impl HelperUser {
    /// The helpers' user for `serve --user` given as `run_as`: that user, unless it is
    /// root (a broker that stays root), then `nobody`, as without `--user`.
    pub fn for_serve(run_as: Option<RunAs>) -> HelperUser {
        match run_as {
            Some(RunAs { uid, gid }) if uid != 0 => HelperUser { uid, gid },
            _ => NOBODY,
        }
    }

    /// The arguments that pass it on a helper's command line.
    pub fn args(self) -> [String; 4] {
        [
            "--uid".into(),
            self.uid.to_string(),
            "--gid".into(),
            self.gid.to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        user: HelperUser,
    }

    fn parse(args: &[&str]) -> Result<HelperUser, clap::Error> {
        Cli::try_parse_from(std::iter::once("helper").chain(args.iter().copied())).map(|c| c.user)
    }

    #[test]
    fn the_args_parse_back() {
        let user = HelperUser { uid: 998, gid: 997 };
        let args = user.args();
        assert_eq!(parse(&args.each_ref().map(String::as_str)).unwrap(), user);
    }

    #[test]
    fn root_and_minus_one_are_refused() {
        for args in [
            ["--uid", "0", "--gid", "0"],
            ["--uid", "4294967295", "--gid", "1"],
            ["--uid", "1", "--gid", "4294967295"],
            ["--uid", "-1", "--gid", "1"],
            ["--uid", "x", "--gid", "1"],
        ] {
            assert!(parse(&args).is_err(), "{args:?}");
        }
        assert!(parse(&["--uid", "1"]).is_err());
    }

    #[test]
    fn root_or_no_user_means_nobody() {
        assert_eq!(HelperUser::for_serve(None), NOBODY);
        assert_eq!(
            HelperUser::for_serve(Some(RunAs { uid: 0, gid: 0 })),
            NOBODY
        );
        assert_eq!(
            HelperUser::for_serve(Some(RunAs { uid: 998, gid: 997 })),
            HelperUser { uid: 998, gid: 997 }
        );
    }
}
