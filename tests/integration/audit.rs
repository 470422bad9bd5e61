//! The audit trail as an administrator consumes it: JSON records with stable fields in a
//! file of their own, reopened on SIGHUP so logrotate can move the file away.

use std::time::Duration;

use rustix::process::Signal;
use serde_json::Value;

use crate::harness::{ALICE, BOB, Broker, alice_reads, itest, wait_until};

/// The records in the file at `path`, once it holds `count` lines.
fn records(path: &std::path::Path, count: usize) -> Vec<Value> {
    let text = wait_until(Duration::from_secs(5), || {
        let text = std::fs::read_to_string(path).ok()?;
        (text.lines().count() >= count).then_some(text)
    })
    .unwrap_or_else(|| panic!("{} never had {count} records", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

itest!(
    json_records_in_their_own_file_survive_log_rotation,
    |tree| {
        tree.private_file("data/a.txt", b"alpha\n");
        tree.dir("log", 0o700);
        let file = tree.path("log/audit.json");
        let args = [
            "--audit-format",
            "json",
            "--audit-file",
            &tree.p("log/audit.json"),
        ];
        let broker = Broker::start_with(&tree, &alice_reads(&tree), &args);
        let ok = broker.cat(ALICE, &tree.p("data/a.txt"));
        ok.code_is(0);
        broker.cat(BOB, &tree.p("data/a.txt")).code_is(77);
        broker.cat(ALICE, &tree.p("data/nope")).code_is(66);

        let got = records(&file, 3);
        assert_eq!(got.len(), 3, "{got:?}");
        let allow = &got[0];
        assert_eq!(allow["decision"], "allow");
        assert_eq!(
            (allow["uid"].as_u64(), allow["gid"].as_u64()),
            (Some(2001), Some(2001))
        );
        assert_eq!(allow["pid"].as_u64(), Some(u64::from(ok.pid)));
        assert_eq!(allow["op"], "open");
        assert_eq!(allow["access"], "read");
        assert_eq!(allow["path"], tree.p("data/a.txt").as_str());
        assert_eq!(allow["rule"], "alice-reads");
        assert!(
            allow["errno"].is_null() && allow["reason"].is_null(),
            "{allow}"
        );
        assert!(
            allow["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{allow}"
        );
        assert!(
            allow.get("user").is_some(),
            "the user field is always there: {allow}"
        );
        assert_eq!(
            (got[1]["decision"].as_str(), got[1]["rule"].is_null()),
            (Some("deny"), true)
        );
        assert_eq!(got[1]["errno"], "EACCES");
        assert_eq!(
            (got[2]["decision"].as_str(), got[2]["errno"].as_str()),
            (Some("fail"), Some("ENOENT"))
        );
        assert!(
            !broker.log().contains("op=open"),
            "records go to the audit file, not the log"
        );

        // logrotate: move the file away, then SIGHUP; new records go to a new file.
        std::fs::rename(&file, tree.path("log/audit.json.1")).expect("rotate");
        broker.signal(Signal::HUP);
        broker.expect_log("policy reloaded from");
        broker.cat(ALICE, &tree.p("data/a.txt")).code_is(0);
        assert_eq!(records(&file, 1).len(), 1);
        assert_eq!(records(&tree.path("log/audit.json.1"), 3).len(), 3);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o640);
    }
);

itest!(text_records_in_a_file_carry_a_timestamp, |tree| {
    tree.private_file("data/a.txt", b"alpha\n");
    tree.dir("log", 0o700);
    let broker = Broker::start_with(
        &tree,
        &alice_reads(&tree),
        &["--audit-file", &tree.p("log/audit.log")],
    );
    broker.cat(ALICE, &tree.p("data/a.txt")).code_is(0);
    let text = wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(tree.path("log/audit.log"))
            .ok()
            .filter(|t| !t.is_empty())
    })
    .expect("a record");
    let (time, rest) = text.trim_end().split_once(' ').expect("timestamp, record");
    assert!(time.ends_with('Z') && time.len() == 24, "{text}");
    assert!(
        rest.starts_with("allow op=open uid=2001 gid=2001 pid="),
        "{text}"
    );
    assert!(rest.ends_with(r#"rule="alice-reads""#), "{text}");
});

// The audit trail does not follow the log level: an administrator who quiets the log
// (`RUST_LOG=error`) still gets every record, on stderr as in a file.
itest!(records_are_written_whatever_the_log_level, |tree| {
    tree.private_file("data/a.txt", b"alpha\n");
    let broker = Broker::start_logging(&tree, &alice_reads(&tree), &[], "error");
    broker.cat(ALICE, &tree.p("data/a.txt")).code_is(0);
    broker.cat(BOB, &tree.p("data/a.txt")).code_is(77);
    let log = wait_until(Duration::from_secs(5), || {
        let log = broker.log();
        (log.lines().filter(|l| l.contains(" audit] ")).count() >= 2).then_some(log)
    })
    .unwrap_or_else(|| panic!("two audit records on stderr:\n{}", broker.log()));
    assert!(log.contains("allow op=open uid=2001"), "{log}");
    assert!(log.contains("deny op=open uid=2002"), "{log}");
    assert!(
        !log.contains(" INFO  fdbroker"),
        "the broker's own info lines are quiet at RUST_LOG=error:\n{log}"
    );
});
