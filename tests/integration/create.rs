//! Writing and creating through the broker: a created file belongs to the client with a
//! mode bounded by the rule, and every modifying word (create, truncate) needs its own grant.

use std::os::unix::fs::MetadataExt;

use crate::harness::{ALICE, Broker, Tree, audit_allow, require_root};

const DIGITS: &[u8] = b"0123456789";

/// Alice may create in `data/in/` (any depth, mask 0o640), write/append `data/log.txt` (no truncate),
/// and write/truncate `data/t.txt`. `secret/` is outside every rule.
fn setup() -> (Tree, String) {
    let tree = Tree::new();
    tree.private_file("data/log.txt", DIGITS);
    tree.private_file("data/t.txt", DIGITS);
    tree.dir("data/in", 0o700);
    tree.private_file("secret/target", b"untouched");
    let policy = format!(
        r#"version = 1

[[rule]]
name = "alice-creates-in"
users = [2001]
paths = ["{data}/in/**"]
access = ["write", "create"]
create_mode = 0o640

[[rule]]
name = "alice-writes-log"
users = [2001]
paths = ["{data}/log.txt"]
access = ["write", "append"]

[[rule]]
name = "alice-truncates-t"
users = [2001]
paths = ["{data}/t.txt"]
access = ["write", "truncate"]
"#,
        data = tree.p("data")
    );
    (tree, policy)
}

#[test]
fn created_file_is_owned_by_the_client_with_a_bounded_mode() {
    require_root!();
    let (tree, policy) = setup();
    let broker = Broker::start(&tree, &policy);
    // (requested mode, expected mode): masked by the rule's 0o640, setuid stripped.
    for (i, (requested, expected)) in [
        (0o777, 0o640),
        (0o600, 0o600),
        (0o4755, 0o640),
        (0o444, 0o440),
    ]
    .into_iter()
    .enumerate()
    {
        let rel = format!("data/in/new{i}");
        let path = tree.p(&rel);
        let mode = format!("{requested:o}");
        let out = broker
            .fdagent(ALICE)
            .args([
                "open",
                "--access",
                "write,create",
                "--mode",
                &mode,
                "--write-stdin",
                &path,
            ])
            .stdin(b"hello\n")
            .run();
        out.code_is(0).stdout_is("regular 0\n");
        let meta = std::fs::metadata(&path).expect("created file");
        if (meta.uid(), meta.gid(), meta.mode() & 0o7777) != (ALICE.uid, ALICE.gid, expected) {
            out.fail(&format!(
                "expected owner 2001:2001 mode {expected:o}, got {}:{} mode {:o}",
                meta.uid(),
                meta.gid(),
                meta.mode() & 0o7777
            ));
        }
        assert_eq!(tree.read(&rel), b"hello\n");
        broker.expect_log(&audit_allow(
            ALICE,
            out.pid,
            "write,create",
            &path,
            "alice-creates-in",
        ));
    }
}

/// `O_CREAT` follows a dangling symlink in the classic API: the broker must refuse a
/// symlink to an existing file, a dangling one, and a symlinked directory on the way,
/// touching none of their targets.
#[test]
fn create_through_a_symlink_is_refused() {
    require_root!();
    let (tree, policy) = setup();
    tree.symlink("data/in/evil", tree.path("secret/target"));
    tree.symlink("data/in/dangling", tree.path("secret/planted"));
    tree.symlink("data/in/linkdir", tree.path("secret"));
    let broker = Broker::start(&tree, &policy);
    for rel in [
        "data/in/evil",
        "data/in/dangling",
        "data/in/linkdir/planted",
    ] {
        let out = broker
            .fdagent(ALICE)
            .args([
                "open",
                "--access",
                "write,create",
                "--write-stdin",
                &tree.p(rel),
            ])
            .stdin(b"pwned")
            .run();
        out.code_is(74).stdout_is("");
    }
    assert_eq!(tree.read("secret/target"), b"untouched");
    assert!(
        !tree.path("secret/planted").exists(),
        "a file was created through a symlink"
    );
}

#[test]
fn create_needs_a_create_grant() {
    require_root!();
    let (tree, policy) = setup();
    let broker = Broker::start(&tree, &policy);
    let log = tree.p("data/log.txt");
    broker
        .fdagent(ALICE)
        .args(["open", "--access", "write,create", &log])
        .run()
        .code_is(77);
    // A write grant on a missing file does not create it.
    let path = tree.p("data/in/absent");
    broker
        .fdagent(ALICE)
        .args(["open", "--access", "write", &path])
        .run()
        .code_is(66);
    assert!(!tree.path("data/in/absent").exists());
}

/// Plain `write` overwrites in place (no implicit truncation); `append` writes at the end.
#[test]
fn write_overwrites_in_place_and_append_appends() {
    require_root!();
    let (tree, policy) = setup();
    let broker = Broker::start(&tree, &policy);
    let log = tree.p("data/log.txt");
    let out = broker
        .fdagent(ALICE)
        .args(["open", "--access", "write", "--write-stdin", &log])
        .stdin(b"ab")
        .run();
    out.code_is(0).stdout_is("regular 10\n");
    assert_eq!(tree.read("data/log.txt"), b"ab23456789");
    let out = broker
        .fdagent(ALICE)
        .args(["open", "--access", "append", "--write-stdin", &log])
        .stdin(b"XY")
        .run();
    out.code_is(0).stdout_is("regular 10\n");
    assert_eq!(tree.read("data/log.txt"), b"ab23456789XY");
    // The file keeps its owner: writing does not chown.
    assert_eq!(std::fs::metadata(&log).expect("stat").uid(), 0);
}

#[test]
fn truncate_needs_a_truncate_grant() {
    require_root!();
    let (tree, policy) = setup();
    let broker = Broker::start(&tree, &policy);
    let log = tree.p("data/log.txt");
    let out = broker
        .fdagent(ALICE)
        .args(["open", "--access", "write,truncate", &log])
        .run();
    out.code_is(77);
    assert_eq!(tree.read("data/log.txt"), DIGITS);

    let t = tree.p("data/t.txt");
    let out = broker
        .fdagent(ALICE)
        .args(["open", "--access", "write,truncate", "--write-stdin", &t])
        .stdin(b"new")
        .run();
    out.code_is(0).stdout_is("regular 0\n");
    assert_eq!(tree.read("data/t.txt"), b"new");
}

/// `O_RDONLY|O_TRUNC` truncates, so `truncate` (and `create`) without `write`/`append` is a
/// malformed request, refused before any decision.
#[test]
fn truncate_or_create_without_write_is_an_invalid_request() {
    require_root!();
    let (tree, policy) = setup();
    let broker = Broker::start(&tree, &policy);
    let t = tree.p("data/t.txt");
    for access in ["read,truncate", "truncate", "create"] {
        broker
            .fdagent(ALICE)
            .args(["open", "--access", access, &t])
            .run()
            .code_is(65);
    }
    assert_eq!(tree.read("data/t.txt"), DIGITS);
}
