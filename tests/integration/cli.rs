//! fdagent as a user sees it: exit codes, `cat` over several paths, `ping`, and `exec`,
//! whose command must never run unless the open succeeded.

use crate::harness::{ALICE, Broker, Policy, Tree, itest};

/// `data/` with two readable files and a secret; alice reads `data/**` except the secret.
/// `out/` belongs to alice so her commands can leave marker files there.
fn setup(tree: &Tree) -> String {
    tree.private_file("data/a.txt", b"alpha\n");
    tree.private_file("data/b.txt", b"beta\n");
    tree.private_file("data/secret", b"secret\n");
    tree.dir("out", 0o755);
    tree.chown("out", ALICE.uid, ALICE.gid);
    Policy::new()
        .allow("alice-reads-data")
        .users(&[ALICE])
        .paths(&[tree.p("data/**")])
        .access("read")
        .deny("no-secret")
        .everyone()
        .paths(&[tree.p("data/secret")])
        .access("read")
        .to_string()
}

itest!(ping_prints_pong, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    broker
        .fdagent(ALICE)
        .arg("ping")
        .run()
        .code_is(0)
        .stdout_is("pong\n")
        .no_stderr();
});

itest!(socket_defaults_to_fdbroker_socket_env, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    broker
        .client(ALICE, "fdagent")
        .env("FDBROKER_SOCKET", &broker.socket_str())
        .arg("ping")
        .run()
        .code_is(0)
        .stdout_is("pong\n");
});

itest!(unreachable_broker_exits_69, |tree| {
    setup(&tree);
    let nowhere = tree.p("nothing-listens-here.sock");
    let agent = || {
        tree.cmd(&tree.bin("fdagent"))
            .user(ALICE)
            .args(["--socket", &nowhere])
    };
    agent().arg("ping").run().code_is(69).stdout_is("");
    agent()
        .args(["cat", &tree.p("data/a.txt")])
        .run()
        .code_is(69)
        .stdout_is("");
});

itest!(usage_errors_exit_64, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let path = tree.p("data/a.txt");
    for args in [
        vec!["frobnicate"],
        vec!["cat"],
        vec!["open", "--access", "exec", &path],
        vec!["exec", &path],
    ] {
        broker
            .fdagent(ALICE)
            .args(&args)
            .run()
            .code_is(64)
            .stdout_is("");
    }
});

// A misspelled access word is bad usage, answered with the word meant; no broker needed.
itest!(misspelled_access_word_suggests_the_word_meant, |tree| {
    let path = tree.p("data/a.txt");
    tree.cmd(&tree.bin("fdagent"))
        .user(ALICE)
        .args(["open", "--access", "raed", &path])
        .run()
        .code_is(64)
        .stdout_is("")
        .stderr_has("unknown access word \"raed\" (did you mean \"read\"?)");
});

// `cat` prints every file it can, one stderr line per failure, and exits with the
// code of the first failure.
itest!(
    cat_continues_past_failures_and_exits_with_the_first_failure,
    |tree| {
        let policy = setup(&tree);
        let broker = Broker::start(&tree, &policy);
        let [a, b, secret, missing] =
            ["data/a.txt", "data/b.txt", "data/secret", "data/missing"].map(|r| tree.p(r));
        let out = broker
            .fdagent(ALICE)
            .args(["cat", &a, &secret, &missing, &b])
            .run();
        out.code_is(77).stdout_is("alpha\nbeta\n");
        if out.stderr.lines().count() != 2 {
            out.fail("expected one stderr line per failed path");
        }
        let out = broker
            .fdagent(ALICE)
            .args(["cat", &missing, &a, &secret])
            .run();
        out.code_is(66).stdout_is("alpha\n");
    }
);

// CMD gets the file as stdin, its exit status is passed on, and it inherits no other fd
// (the broker socket is gone before exec).
itest!(exec_runs_cmd_on_the_fd_and_passes_its_status, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let a = tree.p("data/a.txt");
    let out = broker
        .fdagent(ALICE)
        .args(["exec", &a, "--", "/bin/sh", "-c", "cat; exit 7"])
        .run();
    out.code_is(7).stdout_is("alpha\n");
    // Compared with the same command run directly, exec adds no fd (the test runner may
    // itself leak inherited fds into every child, so a fixed list would not do).
    let list_fds = ["/bin/ls", "/proc/self/fd"];
    let direct = tree
        .cmd(list_fds[0].as_ref())
        .user(ALICE)
        .arg(list_fds[1])
        .run();
    direct.code_is(0);
    let out = broker
        .fdagent(ALICE)
        .args(["exec", &a, "--"])
        .args(list_fds)
        .run();
    out.code_is(0).stdout_is(&direct.stdout);
});

// On any failure, CMD never runs: it would create a marker file. The first call shows that
// it does create it when the open succeeds, so the absence later means something.
itest!(exec_never_runs_cmd_when_the_open_fails, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let exec = |path: &str, socket: &str, marker: &str| {
        let touch = format!("/usr/bin/touch {}", tree.p(&format!("out/{marker}")));
        broker
            .client(ALICE, "fdagent")
            .args([
                "--socket", socket, "exec", path, "--", "/bin/sh", "-c", &touch,
            ])
            .run()
    };
    let socket = broker.socket_str();
    exec(&tree.p("data/a.txt"), &socket, "allowed").code_is(0);
    assert!(
        tree.path("out/allowed").exists(),
        "the control command did not run"
    );

    let nowhere = tree.p("nothing-listens-here.sock");
    let cases = [
        (tree.p("data/secret"), socket.as_str(), "denied", 77),
        (tree.p("data/missing"), socket.as_str(), "missing", 66),
        ("data/a.txt".to_owned(), socket.as_str(), "relative", 65),
        (tree.p("data"), socket.as_str(), "directory", 74),
        (tree.p("data/a.txt"), nowhere.as_str(), "unreachable", 69),
    ];
    for (path, socket, marker, code) in cases {
        let out = exec(&path, socket, marker);
        out.code_is(code);
        if tree.path(&format!("out/{marker}")).exists() {
            out.fail("CMD ran although the open failed");
        }
    }
});

// CMD gets the file as its stdin, so it must be able to read it: `exec` refuses, as bad
// usage and before anything is opened, access words without `read`, and `list`. Run on
// an unreadable stdin, a scanner would report the file clean.
itest!(
    exec_refuses_access_that_would_give_an_unreadable_stdin,
    |tree| {
        setup(&tree);
        let policy = Policy::new()
            .allow("alice-writes-data")
            .users(&[ALICE])
            .paths(&[tree.p("data/**")])
            .access("read,write,create,truncate,list")
            .to_string();
        let broker = Broker::start(&tree, &policy);
        let exec = |access: &str, rel: &str, marker: &str| {
            let script = format!("/usr/bin/touch {}; cat", tree.p(&format!("out/{marker}")));
            broker
                .fdagent(ALICE)
                .args(["exec", "--access", access, &tree.p(rel), "--"])
                .args(["/bin/sh", "-c", &script])
                .run()
        };
        exec("read,write", "data/a.txt", "control")
            .code_is(0)
            .stdout_is("alpha\n");
        assert!(tree.path("out/control").exists(), "the control did not run");
        let cases = [
            ("write", "data/a.txt", "write"),
            ("write,create,truncate", "data/new.txt", "create"),
            ("list", "data", "list"),
        ];
        for (access, rel, marker) in cases {
            let out = exec(access, rel, marker);
            out.code_is(64).stdout_is("").stderr_has("read");
            if tree.path(&format!("out/{marker}")).exists() {
                out.fail("CMD ran with a stdin it cannot read");
            }
        }
        assert!(!tree.path("data/new.txt").exists(), "exec opened the file");
        assert_eq!(tree.read("data/a.txt"), b"alpha\n");
    }
);

// `fdagent [--socket S] [--timeout N] cat PATH...` is parsed without clap (it is what
// scripts run once per file); every other spelling goes to clap. The same request
// spelled either way prints the same bytes, the same errors and exits the same, for
// files read, denied and missing, and for a usage error.
itest!(
    cat_behaves_the_same_however_the_command_line_is_spelled,
    |tree| {
        let policy = setup(&tree);
        let broker = Broker::start(&tree, &policy);
        let socket = broker.socket_str();
        let socket_eq = format!("--socket={socket}");
        let [a, b, secret, missing] =
            ["data/a.txt", "data/b.txt", "data/secret", "data/missing"].map(|r| tree.p(r));
        for paths in [
            vec![a.as_str()],
            vec![&a, &b],
            vec![&secret],
            vec![&missing, &a],
            vec![&a, &secret, &b],
        ] {
            let spellings: [Vec<&str>; 5] = [
                // Parsed without clap.
                vec!["--socket", &socket, "cat"],
                vec!["--timeout", "5", "--socket", &socket, "cat"],
                // Parsed by clap.
                vec!["cat", "--socket", &socket],
                vec![&socket_eq, "cat"],
                vec!["--socket", &socket, "--timeout=5", "cat", "--"],
            ];
            let outputs: Vec<_> = spellings
                .iter()
                .map(|words| {
                    tree.cmd(&tree.bin("fdagent"))
                        .user(ALICE)
                        .args(words.iter().chain(&paths))
                        .run()
                })
                .collect();
            let first = &outputs[0];
            for out in &outputs[1..] {
                if (out.code(), &out.stdout, &out.stderr)
                    != (first.code(), &first.stdout, &first.stderr)
                {
                    out.fail(&format!(
                        "differs from `{}`: exit {:?}, stdout {:?}, stderr {:?}",
                        first.command,
                        first.code(),
                        first.stdout_str(),
                        first.stderr
                    ));
                }
            }
        }
        // A usage error is clap's, whichever way it is reached.
        for words in [vec!["--socket", &socket, "cat"], vec!["cat"]] {
            tree.cmd(&tree.bin("fdagent"))
                .user(ALICE)
                .args(words)
                .run()
                .code_is(64)
                .stdout_is("")
                .stderr_has("required arguments were not provided");
        }
    }
);

// fdagent links its unwinder statically (agent/src/bin/fdagent/unwinder.rs): loading
// libgcc_s.so.1 is a large part of the cost of a short run. The dynamic loader lists
// what it would load (what `ldd` prints) when LD_TRACE_LOADED_OBJECTS is set. Run
// directly, not as a client uid: behind setpriv, the list would be setpriv's.
itest!(fdagent_loads_no_shared_unwinder, |tree| {
    let out = tree
        .cmd(&tree.bin("fdagent"))
        .env("LD_TRACE_LOADED_OBJECTS", "1")
        .run();
    out.code_is(0);
    let loaded = out.stdout_str();
    if !loaded.contains("libc.so") {
        out.fail("expected the loader's list of shared objects (with libc)");
    }
    if loaded.contains("libgcc_s") {
        out.fail("fdagent loads libgcc_s.so.1: its unwinder should be linked statically");
    }
});
