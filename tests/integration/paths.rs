//! Path handling: the broker opens exactly the normalized path it was asked for, never
//! through a symlink or magic link, never anything but a regular file (or a directory for
//! `list`), and never blocks on a special file.

use std::os::unix::net::UnixListener;
use std::time::Duration;

use fdbroker_wire::ErrorKind;

use crate::harness::{ALICE, Broker, Policy, RawConn, Tree, audit_fail, itest, read};

/// Allowed tree `data/` with a file, a subdirectory, symlinks inside it pointing in and out
/// of it, and a root-only `secret/` outside it. Alice may read and list `data/**`, read
/// `/dev/null` and `/proc/**` (so only the broker's own refusals stand in the way).
fn setup(tree: &Tree) -> String {
    tree.private_file("data/a.txt", b"alpha\n");
    tree.private_file("data/sub/b.txt", b"beta\n");
    tree.private_file("secret/key", b"private key\n");
    tree.symlink("data/link-to-a", "a.txt");
    tree.symlink("data/escape", tree.path("secret/key"));
    tree.symlink("data/linkdir", "sub");
    tree.symlink("data/outdir", tree.path("secret"));
    Policy::new()
        .allow("alice-reads-data")
        .users(&[ALICE])
        .paths(&[&tree.p("data/**"), "/dev/null", "/proc/**"])
        .access("read")
        .allow("alice-lists-data")
        .users(&[ALICE])
        .paths(&[tree.p("data/**")])
        .access("list")
        .to_string()
}

/// Requests `path` as alice and expects exit 74, no bytes, and a `fail` line with `errno`.
#[track_caller]
fn expect_open_failure(broker: &Broker, path: &str, errno: &str) {
    let out = broker.cat(ALICE, path);
    out.code_is(74).stdout_is("");
    broker.expect_log(&audit_fail(
        ALICE,
        out.pid,
        "read",
        path,
        "alice-reads-data",
        errno,
    ));
}

itest!(symlink_as_last_component_is_refused_with_eloop, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    expect_open_failure(&broker, &tree.p("data/link-to-a"), "ELOOP");
    expect_open_failure(&broker, &tree.p("data/escape"), "ELOOP");
});

itest!(
    symlinked_directory_component_is_refused_with_eloop,
    |tree| {
        let policy = setup(&tree);
        let broker = Broker::start(&tree, &policy);
        expect_open_failure(&broker, &tree.p("data/linkdir/b.txt"), "ELOOP");
        expect_open_failure(&broker, &tree.p("data/outdir/key"), "ELOOP");
        // The real path is fine: the refusal is about the symlink, not the file.
        let out = broker.cat(ALICE, &tree.p("data/sub/b.txt"));
        out.code_is(0).stdout_is("beta\n");
    }
);

// `/proc/self` is a symlink and `/proc/PID/root` a magic link: neither resolves, even
// under a grant of all of `/proc`.
itest!(proc_magic_links_do_not_resolve, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let via_root = format!("/proc/{}/root{}", broker.pid(), tree.p("secret/key"));
    let via_self = format!("/proc/self/root{}", tree.p("secret/key"));
    for path in [via_root, via_self] {
        let out = broker.cat(ALICE, &path);
        out.code_is(74).stdout_is("");
    }
});

// Paths that are not absolute and normalized are refused as invalid (exit 65), never
// rewritten, even when the rewritten path would be allowed; the refusal comes from the
// broker too, not just from fdagent.
itest!(
    unnormalized_and_relative_paths_are_invalid_requests,
    |tree| {
        let policy = setup(&tree);
        let broker = Broker::start(&tree, &policy);
        let bad = [
            tree.p("data/sub/../a.txt"),
            tree.p("data/../secret/key"),
            tree.p("data/./a.txt"),
            format!("{}//a.txt", tree.p("data")),
            format!("{}/", tree.p("data/a.txt")),
            "data/a.txt".to_owned(), // relative: the client's cwd is the tree root
        ];
        for path in &bad {
            let out = broker.cat(ALICE, path);
            out.code_is(65).stdout_is("");
        }
        let nul = format!("{}\0x", tree.p("data/a.txt"));
        for path in bad
            .iter()
            .map(String::as_bytes)
            .chain([b"".as_slice(), nul.as_bytes()])
        {
            let conn = RawConn::connect(broker.socket()).expect("connect");
            let reply = conn.request(&read(path));
            assert_eq!(
                reply.error(),
                (ErrorKind::InvalidRequest, libc::EINVAL),
                "path {:?}",
                String::from_utf8_lossy(path)
            );
        }
        broker.assert_nothing_opened();
    }
);

// A pattern matches whole components: `data/scan/**` is not `data/scanner/...` or `data/scan2`.
itest!(patterns_do_not_match_by_prefix, |tree| {
    tree.private_file("data/scan/ok", b"ok\n");
    tree.private_file("data/scanner/x", b"x\n");
    tree.private_file("data/scan2", b"2\n");
    let policy = Policy::new()
        .allow("scan")
        .users(&[ALICE])
        .paths(&[tree.p("data/scan/**")])
        .access("read")
        .to_string();
    let broker = Broker::start(&tree, &policy);
    broker
        .cat(ALICE, &tree.p("data/scan/ok"))
        .code_is(0)
        .stdout_is("ok\n");
    for rel in ["data/scanner/x", "data/scan2"] {
        broker.cat(ALICE, &tree.p(rel)).code_is(77).stdout_is("");
    }
});

// A FIFO with no writer would block a naive `open`; the broker answers at once with
// ENXIO and keeps serving.
itest!(
    fifo_is_refused_promptly_and_the_broker_keeps_serving,
    |tree| {
        let policy = setup(&tree);
        tree.fifo("data/pipe");
        let broker = Broker::start(&tree, &policy);
        let path = tree.p("data/pipe");
        let out = broker
            .fdagent(ALICE)
            .args(["cat", &path])
            .timeout(Duration::from_secs(5))
            .run();
        out.code_is(74).stdout_is("");
        broker.expect_log(&audit_fail(
            ALICE,
            out.pid,
            "read",
            &path,
            "alice-reads-data",
            "ENXIO",
        ));
        let out = broker.cat(ALICE, &tree.p("data/a.txt"));
        out.code_is(0).stdout_is("alpha\n");
    }
);

itest!(sockets_and_devices_are_refused_with_enxio, |tree| {
    let policy = setup(&tree);
    let _listener = UnixListener::bind(tree.path("data/sock")).expect("bind a socket file");
    let broker = Broker::start(&tree, &policy);
    expect_open_failure(&broker, &tree.p("data/sock"), "ENXIO");
    expect_open_failure(&broker, "/dev/null", "ENXIO");
});

// A directory is only handed out for `list`; asked for `read` it is EISDIR.
itest!(directories_need_list, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let dir = tree.p("data/sub");
    expect_open_failure(&broker, &dir, "EISDIR");
    let size = std::fs::metadata(&dir).expect("stat").len();
    let out = broker
        .fdagent(ALICE)
        .args(["open", "--access", "list", &dir])
        .run();
    out.code_is(0).stdout_is(format!("directory {size}\n"));
});

// File names are attacker-chosen: quotes and newlines are escaped in the audit line, so a
// name cannot forge a log line.
itest!(odd_file_names_are_escaped_in_the_audit_log, |tree| {
    let policy = setup(&tree);
    let name = "data/x\" rule=\"forged\nallow op=open uid=0";
    tree.private_file(name, b"odd\n");
    let broker = Broker::start(&tree, &policy);
    let path = tree.p(name);
    let out = broker.cat(ALICE, &path);
    out.code_is(0).stdout_is("odd\n");
    let escaped = format!("path={path:?} rule=\"alice-reads-data\"");
    let log = broker.expect_log(&escaped);
    assert!(
        !log.lines().any(|l| l.starts_with("allow op=open uid=0")),
        "forged line:\n{log}"
    );
});
