//! `serve --user`: a broker that opened its socket and audit file as root, then switched
//! to an unprivileged uid, still removes its socket at exit and still reopens its audit
//! file after log rotation, though both live in directories only root may write (as
//! `/run` and `/var/log/fdbroker` do): its file keeper, a process of root's without
//! capabilities, does both, and nothing else.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use rustix::process::Signal;

use crate::harness::{ALICE, Broker, alice_reads, itest, status_field, wait_until};

/// The user the broker switches to: it owns no file of the tree.
const RUN_AS: &str = "nobody";

/// The lines of the file at `path`, once it holds at least `count` of them.
#[track_caller]
fn lines_once(path: &Path, count: usize) -> Vec<String> {
    wait_until(Duration::from_secs(5), || {
        let text = std::fs::read_to_string(path).ok()?;
        (text.lines().count() >= count).then(|| text.lines().map(str::to_owned).collect())
    })
    .unwrap_or_else(|| panic!("{} never had {count} lines", path.display()))
}

/// The log's warnings and errors that mention `about`.
fn complaints(log: &str, about: &str) -> Vec<String> {
    log.lines()
        .filter(|l| (l.contains(" WARN ") || l.contains(" ERROR ")) && l.contains(about))
        .map(str::to_owned)
        .collect()
}

// The tree's root, where the socket is, is root's 0755 like /run: the broker, no longer
// root, could not remove it there by itself.
itest!(under_user_the_socket_is_removed_at_exit, |tree| {
    tree.private_file("data/a.txt", b"alpha\n");
    let broker = Broker::start_with(&tree, &alice_reads(&tree), &["--user", RUN_AS]);
    broker
        .cat(ALICE, &tree.p("data/a.txt"))
        .code_is(0)
        .stdout_is("alpha\n");
    let socket = broker.socket().to_path_buf();
    let status = broker.stop(Signal::TERM);
    let log = std::fs::read_to_string(tree.path("run/broker.log")).expect("broker log");
    assert!(status.success(), "exit status {status}\n{log}");
    assert!(!socket.exists(), "socket file left behind:\n{log}");
    assert_eq!(complaints(&log, "remove"), Vec::<String>::new(), "{log}");
});

// logrotate renames the audit file in a directory that is root's, then the broker is
// told to reopen it (SIGHUP): new records go to a new file at the configured path, none
// to the rotated one, and nothing is warned.
itest!(
    under_user_the_audit_file_is_reopened_after_rotation,
    |tree| {
        tree.private_file("data/a.txt", b"alpha\n");
        tree.dir("log", 0o750);
        let (file, rotated) = (tree.path("log/audit.log"), tree.path("log/audit.log.1"));
        let args = ["--user", RUN_AS, "--audit-file", &tree.p("log/audit.log")];
        let broker = Broker::start_with(&tree, &alice_reads(&tree), &args);
        broker.cat(ALICE, &tree.p("data/a.txt")).code_is(0);
        assert_eq!(lines_once(&file, 1).len(), 1);

        std::fs::rename(&file, &rotated).expect("rotate");
        broker.hup();
        broker.cat(ALICE, &tree.p("data/a.txt")).code_is(0);
        broker.cat(ALICE, &tree.p("data/a.txt")).code_is(0);
        let new = lines_once(&file, 2);
        assert_eq!(new.len(), 2, "{new:?}");
        assert!(
            new.iter().all(|l| l.contains(" allow op=open uid=2001 ")),
            "{new:?}"
        );
        assert_eq!(
            std::fs::read_to_string(&rotated).unwrap().lines().count(),
            1,
            "records after the reopen went to the rotated file"
        );
        let meta = std::fs::symlink_metadata(&file).expect("new audit file");
        assert!(meta.is_file());
        assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o640));
        let log = broker.log();
        assert_eq!(complaints(&log, "audit"), Vec::<String>::new(), "{log}");
    }
);

// What keeps the socket and the audit file for a broker run as another user is a
// process of root's with no capability at all, no way to gain one, and nothing else.
itest!(under_user_the_file_keeper_holds_no_capability, |tree| {
    tree.private_file("data/a.txt", b"alpha\n");
    tree.dir("log", 0o750);
    let args = ["--user", RUN_AS, "--audit-file", &tree.p("log/audit.log")];
    let broker = Broker::start_with(&tree, &alice_reads(&tree), &args);
    let keeper = broker
        .children()
        .into_iter()
        .find(|&pid| status_field(pid, "Name").as_deref() == Some("fdbroker-keep"))
        .unwrap_or_else(|| broker.fail("no fdbroker-keep process"));
    let field = |name| status_field(keeper, name).expect("keeper running");
    assert!(field("Uid").split_whitespace().all(|u| u == "0"));
    for caps in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(caps), "0000000000000000", "{caps}");
    }
    assert_eq!(field("NoNewPrivs"), "1");
    assert_eq!(field("Groups"), "");
});

// The keeper learns of the broker's end from its socketpair closing, not from a message:
// a broker killed outright leaves no socket behind either.
itest!(under_user_a_killed_broker_leaves_no_socket, |tree| {
    tree.private_file("data/a.txt", b"alpha\n");
    let broker = Broker::start_with(&tree, &alice_reads(&tree), &["--user", RUN_AS]);
    let socket = broker.socket().to_path_buf();
    broker.signal(Signal::KILL);
    if wait_until(Duration::from_secs(5), || (!socket.exists()).then_some(())).is_none() {
        broker.fail("the socket of a killed broker was left behind");
    }
});

// The log directory is root's, so only root could plant anything there; even so, the
// keeper opens the audit file as the broker does: a symbolic link at its path is refused
// (and its target untouched), and records go on to the file already open.
itest!(
    under_user_a_symlink_at_the_audit_path_is_not_followed,
    |tree| {
        tree.private_file("data/a.txt", b"alpha\n");
        tree.private_file("secret", b"root's\n");
        tree.dir("log", 0o750);
        let (file, rotated) = (tree.path("log/audit.log"), tree.path("log/audit.log.1"));
        let args = ["--user", RUN_AS, "--audit-file", &tree.p("log/audit.log")];
        let broker = Broker::start_with(&tree, &alice_reads(&tree), &args);
        std::fs::rename(&file, &rotated).expect("rotate");
        tree.symlink("log/audit.log", tree.path("secret"));
        let log = broker.hup();
        assert!(
            log.contains("cannot reopen the audit file") && log.contains("symbolic links"),
            "{log}"
        );
        broker.cat(ALICE, &tree.p("data/a.txt")).code_is(0);
        assert_eq!(lines_once(&rotated, 1).len(), 1);
        assert_eq!(tree.read("secret"), b"root's\n");
    }
);

// Under --user, the rights on the socket's and the audit file's directories are the
// keeper's, not the broker's: `--print-privileges` shows them in the keeper's ruleset.
itest!(
    under_user_the_own_directories_are_in_the_keepers_ruleset,
    |tree| {
        tree.dir("data", 0o700);
        tree.dir("log", 0o750);
        let socket = tree.p("never.sock");
        let args = [
            "--socket",
            &socket,
            "--user",
            RUN_AS,
            "--audit-file",
            &tree.p("log/audit.log"),
        ];
        let out = Broker::print_privileges(&tree, &alice_reads(&tree), &args);
        out.code_is(0);
        let stdout = out.stdout_str();
        let (broker, keeper) = stdout
            .split_once("\nfile keeper: ")
            .unwrap_or_else(|| panic!("no file keeper section:\n{stdout}"));
        for (dir, why) in [
            (
                tree.p("log"),
                "(write the audit file, and create it anew after log rotation)",
            ),
            (tree.p(""), "(remove the socket at exit)"),
        ] {
            let line = keeper
                .lines()
                .find(|l| l.contains(why))
                .unwrap_or_else(|| panic!("no {why} rule in the keeper's:\n{stdout}"));
            assert!(line.starts_with(&format!("  {dir} [")), "{line}");
            assert!(!broker.contains(why), "the broker keeps {why}:\n{stdout}");
        }
        assert!(!tree.path("never.sock").exists());
    }
);
