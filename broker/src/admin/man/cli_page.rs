//! `fdbroker.8`: the whole command line, every subcommand with its options, from the clap
//! definitions; plus what `--help` has no room for (files, environment, see also).

use std::io;

use clap::CommandFactory;
use fdbroker_manpage::{command_page, paragraph, tagged};
use roff::Roff;

use crate::cli::Cli;

/// The page's text.
pub fn render() -> io::Result<String> {
    command_page(
        Cli::command(),
        "FDBROKER",
        "8",
        "System Administration",
        &reference(),
    )
}

/// FILES, ENVIRONMENT and SEE ALSO.
fn reference() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["FILES"]);
    tagged(
        &mut roff,
        "/etc/fdbroker/policy.toml",
        "The policy, in a directory of its own (the broker may read the whole directory). \
         See fdbroker-policy(5).",
    );
    tagged(
        &mut roff,
        "/run/fdbroker.sock",
        "The default socket (`--socket`).",
    );
    tagged(
        &mut roff,
        "/var/log/fdbroker/audit.log",
        "The audit file of the packaged systemd unit (`--audit-file`); reopened on SIGHUP.",
    );
    roff.control("SH", ["ENVIRONMENT"]);
    tagged(
        &mut roff,
        "RUST_LOG",
        "Log level of `serve` on standard error: `error`, `warn`, `info` (the default), \
         `debug`.",
    );
    tagged(
        &mut roff,
        "LISTEN_FDS, LISTEN_PID",
        "Socket activation: when they pass this process exactly one listening AF_UNIX \
         SOCK_SEQPACKET socket (systemd's `ListenSequentialPacket=` with `Accept=no`), \
         `serve` uses it and ignores `--socket`, `--socket-mode` and `--socket-group`.",
    );
    tagged(
        &mut roff,
        "NOTIFY_SOCKET",
        "`serve` tells the service manager READY=1 once it serves, RELOADING=1 and READY=1 \
         around each reload (SIGHUP or `fdbroker reload`), and STOPPING=1 at exit \
         (`Type=notify`).",
    );
    roff.control("SH", ["SEE ALSO"]);
    paragraph(
        &mut roff,
        "fdbroker-policy(5), fdagent(1), systemd.socket(5), capabilities(7), landlock(7)",
    );
    roff
}
