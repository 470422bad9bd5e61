//! The examples `fdagent --help` and the man page show: one per command, written as a
//! user would type them, since the flags alone do not say how the pieces fit.

/// (what it does, the command line).
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "Print a file the policy lets you read",
        "fdagent cat /srv/uploads/report.txt",
    ),
    (
        "Scan a file with ClamAV: clamdscan gets the brokered fd as its stdin",
        "fdagent exec /srv/uploads/a.pdf -- clamdscan --fdpass -",
    ),
    (
        "Run an unmodified program: its opens of files the policy grants you succeed",
        "fdagent run -- sha256sum /srv/uploads/a.pdf",
    ),
    (
        "List a directory you may not search yourself (a `list` grant)",
        "fdagent ls /srv/uploads",
    ),
    (
        "Write a new file, failing if the name exists (prints `regular 0 created`)",
        "echo done | fdagent open --access write,create_new --mode 0640 --write-stdin /srv/reports/a.log",
    ),
    (
        "Show what the broker tells you (as root: its state, last reload and counts per rule)",
        "fdagent --socket /run/fdbroker.sock status",
    ),
];

/// `--help`'s text after the options: the examples, then the exit codes.
pub fn after_help() -> String {
    let mut text = String::from("Examples:\n");
    for (what, command) in EXAMPLES {
        text.push_str(&format!("  # {what}\n  {command}\n"));
    }
    text.push('\n');
    text.push_str(&crate::exit::help());
    text
}
