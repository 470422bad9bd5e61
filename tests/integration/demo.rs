//! `cargo run --example demo`, as a new administrator first sees fdbroker: its transcript
//! shows the policy it uses, writes its temporary directory `$DEMO` after saying where it
//! is, and its scanner job leaves no failed `read` of a directory in the audit.

use std::time::Duration;

use crate::harness::{built_example, itest};

/// The demo starts a broker, a private clamd and the scanner daemon.
const DEMO_TIMEOUT: Duration = Duration::from_secs(120);

itest!(demo_transcript_reads_well, |tree| {
    let out = tree.cmd(&built_example("demo")).timeout(DEMO_TIMEOUT).run();
    out.code_is(0);
    let stdout = out.stdout_str();
    let mut lines = stdout.lines();
    let first = lines.next().unwrap_or_default();
    let Some(dir) = first
        .strip_prefix("== the demo works in ")
        .and_then(|rest| rest.strip_suffix(", written $DEMO below"))
    else {
        out.fail("expected the first line to say where the demo works");
    };
    let rest: Vec<&str> = lines.collect();
    for expected in [
        "name = \"scanner-reads-uploads\"",
        "paths = [\"$DEMO/srv/uploads/**\"]",
        "effect = \"deny\"",
        "done: 1 file, 0 infected, 1 error",
    ] {
        if !rest.contains(&expected) {
            out.fail(&format!("expected the line {expected:?}"));
        }
    }
    if rest.iter().any(|l| l.contains(dir)) {
        out.fail(&format!("{dir} printed after the first line, not as $DEMO"));
    }
    if stdout.contains("EISDIR") || stdout.contains(" 1 files") {
        out.fail("expected no failed read of a directory and no \"1 files\"");
    }
});
