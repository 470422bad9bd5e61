//! `fdbroker.8`: the whole command line, every subcommand with its options, from the clap
//! definitions; plus what `--help` has no room for (files, environment, see also).

use std::io;

use clap::CommandFactory;
use clap_mangen::Man;
use roff::Roff;

use super::page::{NO_DATE, Page, paragraph, tagged};
use crate::cli::Cli;

/// The page's text.
pub fn render() -> io::Result<String> {
    // No `help` subcommand: the page documents `--help` once, as an option.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let man = Man::new(cmd.clone())
        .title("FDBROKER")
        .section("8")
        .date(NO_DATE)
        .manual("System Administration");
    let mut page = Page::default();
    page.clap(|w| man.render_title(w))?;
    page.clap(|w| man.render_name_section(w))?;
    page.clap(|w| man.render_synopsis_section(w))?;
    page.clap(|w| man.render_description_section(w))?;
    page.clap(|w| man.render_options_section(w))?;
    page.commands("COMMANDS", &cmd)?;
    page.roff(&reference());
    page.clap(|w| man.render_version_section(w))?;
    page.finish()
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
         around a SIGHUP reload, and STOPPING=1 at exit (`Type=notify`).",
    );
    roff.control("SH", ["SEE ALSO"]);
    paragraph(
        &mut roff,
        "fdbroker-policy(5), fdagent(1), systemd.socket(5), capabilities(7), landlock(7)",
    );
    roff
}
