//! `serve --user`: a broker that opened its socket and audit file as root, then switched
//! to an unprivileged uid, still removes its socket at exit and still reopens its audit
//! file after log rotation, though both live in directories only root may write (as
//! `/run` and `/var/log/fdbroker` do): its file keeper, a process of root's without
//! capabilities, does both, and reads root's 0600 policy file for a reload, and nothing
//! else.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use rustix::process::Signal;

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::process::Stdio;

use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};

use crate::harness::{
    ALICE, BOB, Broker, Policy, Tree, alice_reads, itest, status_field, wait_until, write_policy,
};

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
    let keeper = broker.helper("fdbroker-keep");
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

// Under --user, the rights on the directories of the socket, the audit file and the
// policy files (live and shadow) are the keeper's, not the broker's: `--print-privileges`
// shows them in the keeper's ruleset.
itest!(
    under_user_the_own_directories_are_in_the_keepers_ruleset,
    |tree| {
        tree.dir("data", 0o700);
        tree.dir("log", 0o750);
        tree.dir("shadow", 0o755);
        let socket = tree.p("never.sock");
        let args = [
            "--socket",
            &socket,
            "--user",
            RUN_AS,
            "--audit-file",
            &tree.p("log/audit.log"),
            "--shadow-policy",
            &tree.p("shadow/policy.toml"),
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
            (tree.p(""), "(reload the policy)"),
            (tree.p("shadow"), "(reload the policy)"),
        ] {
            let line = keeper
                .lines()
                .find(|l| l.contains(why) && l.starts_with(&format!("  {dir} [")))
                .unwrap_or_else(|| panic!("no {why} rule in the keeper's:\n{stdout}"));
            assert!(line.starts_with(&format!("  {dir} [")), "{line}");
            assert!(!broker.contains(why), "the broker keeps {why}:\n{stdout}");
        }
        assert!(!tree.path("never.sock").exists());
    }
);

/// A policy that grants nothing, as the Debian package installs it: the broker started
/// with it keeps no capability at all. Its one rule denies [`BOB`] the tree's data.
fn grants_nothing(tree: &Tree) -> String {
    Policy::new()
        .deny("no-bob")
        .users(&[BOB])
        .paths(&[tree.p("data/**")])
        .access("read")
        .to_string()
}

// The administrator's first day: the packaged broker started with a policy that grants
// nothing keeps no capability, and the policy file is root's 0600 in a root's directory.
// A reload that needs no new capability (here, one more deny rule) is read through the
// keeper and is in force.
itest!(
    under_user_a_reload_needing_no_new_capability_is_in_force,
    |tree| {
        tree.private_file("data/a.txt", b"alpha\n");
        let broker = Broker::start_with(&tree, &grants_nothing(&tree), &["--user", RUN_AS]);
        assert_eq!(broker.status_field("CapEff"), "0000000000000000");
        let file = broker.policy_path().display().to_string();
        let more = Policy::new()
            .deny("no-bob")
            .users(&[BOB])
            .paths(&[tree.p("data/**")])
            .access("read")
            .deny("no-alice")
            .users(&[ALICE])
            .paths(&[tree.p("data/**")])
            .access("read")
            .to_string();
        broker
            .reload_sync(&more)
            .code_is(0)
            .stdout_is(format!("policy reloaded from {file}: 2 rules in force\n"));
        assert!(
            broker.status_line("last reload:").ends_with(": in force"),
            "{}",
            broker.log()
        );
    }
);

// The same broker, given a first rule that reads: that needs CAP_DAC_READ_SEARCH, which it
// did not keep. The reload says so, and how to get it (a restart), with its own exit
// status; the old policy stays.
itest!(
    under_user_a_reload_needing_a_capability_not_kept_says_restart,
    |tree| {
        tree.private_file("data/a.txt", b"alpha\n");
        let broker = Broker::start_with(&tree, &grants_nothing(&tree), &["--user", RUN_AS]);
        let out = broker.reload_sync(&alice_reads(&tree));
        out.code_is(4)
            .stderr_has("policy needs a restart, the previous policy stays in force")
            .stderr_has("CAP_DAC_READ_SEARCH")
            .stderr_has("systemctl restart fdbroker");
        let last = broker.status_line("last reload:");
        assert!(
            last.contains("needs a restart") && last.contains("CAP_DAC_READ_SEARCH"),
            "{last}"
        );
        broker.cat(ALICE, &tree.p("data/a.txt")).code_is(77);
    }
);

/// Keeper to broker: ready (the opcodes of `broker/src/keeper/mod.rs`).
const READY: u8 = b'R';
/// Keeper to broker: a file, attached.
const FILE: u8 = b'F';
/// Keeper to broker: why not.
const ERROR: u8 = b'E';
/// Broker to keeper: open the policy file.
const OPEN_POLICY: u8 = b'P';

/// `fdbroker keep-files ARGS` started as the broker starts it, with one end of a
/// socketpair as its standard input: the other end, once it said it is ready.
fn start_keeper(tree: &Tree, args: &[&str]) -> (std::process::Child, OwnedFd) {
    let (ours, theirs) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socketpair");
    let child = std::process::Command::new(tree.bin("fdbroker"))
        .arg("keep-files")
        .args(args)
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the keeper");
    let (msg, _) = keeper_answer(&ours);
    assert_eq!(msg, [READY], "the keeper was not ready");
    (child, ours)
}

/// The keeper's next message and the fd attached, if any.
fn keeper_answer(conn: &OwnedFd) -> (Vec<u8>, Option<OwnedFd>) {
    let mut buf = [0u8; 512];
    let received = fdbroker_wire::recv(conn.as_fd(), &mut buf, 1).expect("recv");
    let msg = received.bytes(&buf).expect("a whole message").to_vec();
    (msg, received.fds.into_iter().next())
}

// The keeper is root's and opens only the policy path it was started with, never a
// symbolic link planted there (which could point at any file of root's), and then the
// real file again once it is back.
itest!(
    under_user_the_keeper_never_opens_a_symlink_at_the_policy_path,
    |tree| {
        tree.private_file("secret", b"root's\n");
        let policy = tree.path("policy.toml");
        tree.symlink("policy.toml", tree.path("secret"));
        let (mut keeper, conn) = start_keeper(&tree, &["--policy", &tree.p("policy.toml")]);
        fdbroker_wire::send(conn.as_fd(), &[OPEN_POLICY], &[]).expect("ask");
        let (msg, fd) = keeper_answer(&conn);
        assert!(
            fd.is_none(),
            "the keeper sent a file through the symbolic link"
        );
        let why = String::from_utf8_lossy(msg.strip_prefix(&[ERROR]).expect("a refusal"));
        assert!(why.contains("symbolic link"), "{why}");

        std::fs::remove_file(&policy).expect("remove the link");
        write_policy(&policy, "version = 1\n");
        fdbroker_wire::send(conn.as_fd(), &[OPEN_POLICY], &[]).expect("ask");
        let (msg, fd) = keeper_answer(&conn);
        assert_eq!(msg, [FILE]);
        let mut text = String::new();
        std::fs::File::from(fd.expect("the policy file"))
            .read_to_string(&mut text)
            .expect("read it");
        assert_eq!(text, "version = 1\n");
        drop(conn);
        assert!(keeper.wait().expect("wait").success());
    }
);
