//! Writing and creating through the broker: a created file belongs to the client with a
//! mode bounded by the rule, and every modifying word (create, truncate) needs its own grant.

use std::os::unix::fs::MetadataExt;

use fdbroker_wire::{Access, Batch, ErrorKind, FileKind, Outcome, Request, Response};
use rustix::fs::OFlags;

use crate::harness::{
    ALICE, BOB, Broker, Policy, RawConn, Tree, audit_allow, audit_create, audit_fail, itest,
    write_policy,
};

const DIGITS: &[u8] = b"0123456789";

/// Alice may create in `data/in/` (any depth, mask 0o640), write `data/log.txt` (no truncate),
/// and write/truncate `data/t.txt`. `secret/` is outside every rule.
fn setup(tree: &Tree) -> String {
    tree.private_file("data/log.txt", DIGITS);
    tree.private_file("data/t.txt", DIGITS);
    tree.dir("data/in", 0o700);
    tree.private_file("secret/target", b"untouched");
    Policy::new()
        .allow("alice-creates-in")
        .users(&[ALICE])
        .paths(&[tree.p("data/in/**")])
        .access("write,create")
        .create_mode(0o640)
        .allow("alice-writes-log")
        .users(&[ALICE])
        .paths(&[tree.p("data/log.txt")])
        .access("write")
        .allow("alice-truncates-t")
        .users(&[ALICE])
        .paths(&[tree.p("data/t.txt")])
        .access("write,truncate")
        .to_string()
}

itest!(
    created_file_is_owned_by_the_client_with_a_bounded_mode,
    |tree| {
        let policy = setup(&tree);
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
            out.code_is(0).stdout_is("regular 0 created\n");
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
            broker.expect_log(&audit_create(
                ALICE,
                out.pid,
                "write,create",
                &path,
                "alice-creates-in",
            ));
        }
    }
);

// `O_CREAT` follows a dangling symlink in the classic API: the broker must refuse a
// symlink to an existing file, a dangling one, and a symlinked directory on the way,
// touching none of their targets.
itest!(create_through_a_symlink_is_refused, |tree| {
    let policy = setup(&tree);
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
});

itest!(create_needs_a_create_grant, |tree| {
    let policy = setup(&tree);
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
});

// Plain `write` overwrites in place (no implicit truncation).
itest!(write_overwrites_in_place, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let log = tree.p("data/log.txt");
    let out = broker
        .fdagent(ALICE)
        .args(["open", "--access", "write", "--write-stdin", &log])
        .stdin(b"ab")
        .run();
    out.code_is(0).stdout_is("regular 10\n");
    assert_eq!(tree.read("data/log.txt"), b"ab23456789");
    // The file keeps its owner: writing does not chown.
    assert_eq!(std::fs::metadata(&log).expect("stat").uid(), 0);
});

itest!(truncate_needs_a_truncate_grant, |tree| {
    let policy = setup(&tree);
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
});

// `O_RDONLY|O_TRUNC` truncates, so `truncate` (and `create`) without `write` is a
// malformed request, refused before any decision.
itest!(
    truncate_or_create_without_write_is_an_invalid_request,
    |tree| {
        let policy = setup(&tree);
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
);

/// The wire bit `append` had: kept reserved, so that a request with it gets a reason.
const APPEND_BIT: u8 = 1 << 2;

// An fd opened `O_APPEND` is not append-only: its holder clears the flag with
// `fcntl(F_SETFL)` and writes anywhere. So `append` is refused everywhere: in a policy
// (`check`, and so at load), on the wire, and by fdagent. If a policy granting it still
// loads, the test shows the hole before failing.
itest!(
    append_is_refused_everywhere_since_no_fd_can_be_append_only,
    |tree| {
        tree.private_file("data/log.txt", DIGITS);
        let log = tree.p("data/log.txt");
        let grant = |words: &str| {
            Policy::new()
                .allow("log")
                .users(&[ALICE])
                .paths(&[&log])
                .access(words)
                .to_string()
        };
        let appending = grant("append");
        write_policy(&tree.path("append.toml"), &appending);
        let check = tree
            .cmd(&tree.bin("fdbroker"))
            .args(["check", &tree.p("append.toml")])
            .run();
        if check.code() == Some(0) {
            let broker = Broker::start(&tree, &appending);
            let conn = RawConn::connect_as(broker.socket(), ALICE).expect("connect as alice");
            let reply = conn.request(&Request::Open {
                path: log.as_bytes(),
                access: Access::from_bits_retain(APPEND_BIT),
                create_mode: 0,
            });
            let fd = reply.fds.first().expect("an fd for the append grant");
            rustix::fs::fcntl_setfl(fd, OFlags::empty()).expect("F_SETFL");
            rustix::io::pwrite(fd, b"XX", 0).expect("pwrite at 0");
            check.fail(&format!(
            "a policy granting `append` loads, and its append-only fd overwrote the start of the file: {:?}",
            String::from_utf8_lossy(&tree.read("data/log.txt"))
        ));
        }
        check.code_is(1).stderr_has("F_SETFL").stderr_has("write");

        // On the wire the bit stays reserved: a request with it is invalid, with the reason.
        let broker = Broker::start(&tree, &grant("write"));
        let conn = RawConn::connect_as(broker.socket(), ALICE).expect("connect as alice");
        for bits in [APPEND_BIT, APPEND_BIT | Access::WRITE.bits()] {
            let reply = conn.request(&Request::Open {
                path: log.as_bytes(),
                access: Access::from_bits_retain(bits),
                create_mode: 0,
            });
            assert_eq!(reply.error(), (ErrorKind::InvalidRequest, libc::EINVAL));
            match reply.response() {
                Response::Error { message, .. } => {
                    assert!(message.contains("F_SETFL"), "{message}")
                }
                other => panic!("expected an error, got {other:?}"),
            }
        }
        broker
            .fdagent(ALICE)
            .args(["open", "--access", "append", "--write-stdin", &log])
            .stdin(b"XX")
            .run()
            .code_is(64)
            .stderr_has("F_SETFL");
        tree.cmd(&tree.bin("fdbroker"))
            .args([
                "explain",
                "--policy",
                &tree.p("append.toml"),
                "--uid",
                "2001",
            ])
            .args(["--access", "append", &log])
            .run()
            .code_is(2)
            .stderr_has("F_SETFL");
        assert_eq!(tree.read("data/log.txt"), DIGITS);
    }
);

// `create` on a name another user made first opens that user's file: fdagent and the
// audit line say whether the broker created the file or found it there.
itest!(
    create_says_whether_it_created_the_file_or_found_it,
    |tree| {
        let policy = setup(&tree);
        tree.file("data/in/planted", b"bob's", 0o666);
        tree.chown("data/in/planted", BOB.uid, BOB.gid);
        let broker = Broker::start(&tree, &policy);
        let (new, planted) = (tree.p("data/in/new"), tree.p("data/in/planted"));
        let out = broker
            .fdagent(ALICE)
            .args(["open", "--access", "write,create", &planted])
            .run();
        out.code_is(0).stdout_is("regular 5 existed\n");
        broker.expect_log(&audit_allow(
            ALICE,
            out.pid,
            "write,create",
            &planted,
            "alice-creates-in",
        ));
        let out = broker
            .fdagent(ALICE)
            .args(["open", "--access", "write,create", &new])
            .run();
        out.code_is(0).stdout_is("regular 0 created\n");
        broker.expect_log(&audit_create(
            ALICE,
            out.pid,
            "write,create",
            &new,
            "alice-creates-in",
        ));
        assert_eq!(std::fs::metadata(&planted).expect("stat").uid(), BOB.uid);

        // On the wire: `Created` (tag 6) or `Opened`, in a batch `Outcome::Created` (tag 2).
        let conn = RawConn::connect_as(broker.socket(), ALICE).expect("connect as alice");
        let batch = tree.p("data/in/batch");
        let reply = conn.request(&Request::OpenMany {
            paths: Batch(vec![batch.as_bytes(), planted.as_bytes()]),
            access: Access::WRITE | Access::CREATE,
            create_mode: 0o600,
        });
        let (kind, size) = (FileKind::Regular, 0);
        let expected = [
            Outcome::Created { kind, size },
            Outcome::Opened { kind, size: 5 },
        ];
        assert_eq!(
            reply.response(),
            Response::OpenedMany {
                results: Batch(expected.to_vec())
            }
        );
        assert_eq!(reply.fds.len(), 2);
        let reply = conn.request(&Request::Open {
            path: tree.p("data/in/single").as_bytes(),
            access: Access::WRITE | Access::CREATE,
            create_mode: 0o600,
        });
        assert_eq!(reply.response(), Response::Created { kind, size });
        assert_eq!(reply.bytes[1], 6, "the tag of Created");
        assert_eq!(reply.fds.len(), 1);
    }
);

// `create_new` creates exclusively: on a name that exists it fails with `EEXIST` and
// hands out nothing. A `create` grant covers it (it is narrower); a `create_new` grant
// does not cover `create`; a deny rule naming `create` denies it too.
itest!(create_new_never_opens_an_existing_file, |tree| {
    tree.dir("data", 0o700);
    tree.dir("data/new", 0o700);
    tree.dir("data/any", 0o700);
    tree.dir("data/any/no", 0o700);
    tree.file("data/new/planted", b"bob's", 0o666);
    tree.chown("data/new/planted", BOB.uid, BOB.gid);
    let policy = Policy::new()
        .allow("only-new")
        .users(&[ALICE])
        .paths(&[tree.p("data/new/*")])
        .access("write,create_new")
        .allow("any")
        .users(&[ALICE])
        .paths(&[tree.p("data/any/**")])
        .access("write,create")
        .deny("no-creating")
        .users(&[ALICE])
        .paths(&[tree.p("data/any/no/*")])
        .access("create")
        .to_string();
    let broker = Broker::start(&tree, &policy);
    let open = |access: &str, rel: &str| {
        broker
            .fdagent(ALICE)
            .args(["open", "--access", access, "--write-stdin", &tree.p(rel)])
            .stdin(b"alice")
            .run()
    };
    let planted = tree.p("data/new/planted");
    let out = open("write,create_new", "data/new/planted");
    out.code_is(74).stdout_is("").stderr_has("exists");
    broker.expect_log(&audit_fail(
        ALICE,
        out.pid,
        "write,create_new",
        &planted,
        "only-new",
        "EEXIST",
    ));
    assert_eq!(tree.read("data/new/planted"), b"bob's");
    open("write,create", "data/new/planted").code_is(77);
    assert_eq!(tree.read("data/new/planted"), b"bob's");

    open("write,create_new", "data/new/mine")
        .code_is(0)
        .stdout_is("regular 0 created\n");
    assert_eq!(tree.read("data/new/mine"), b"alice");
    let meta = std::fs::metadata(tree.path("data/new/mine")).expect("stat");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (ALICE.uid, 0o600));
    open("write,create_new", "data/new/mine").code_is(74);

    open("write,create_new", "data/any/x")
        .code_is(0)
        .stdout_is("regular 0 created\n");
    open("write,create_new", "data/any/no/x").code_is(77);
    assert!(!tree.path("data/any/no/x").exists());
    for access in ["create_new", "read,create_new", "write,create,create_new"] {
        open(access, "data/new/other").code_is(65);
    }
    assert!(!tree.path("data/new/other").exists());
});
