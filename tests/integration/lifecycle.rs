//! The broker process itself: the capabilities it keeps, its socket (mode, group, stale
//! files, a live broker never hijacked) and a clean SIGTERM.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::time::Duration;

use rustix::process::Signal;

use crate::harness::{ALICE, Broker, Policy, Tree, User, itest};

fn policy(tree: &Tree, access: &str) -> String {
    Policy::new()
        .allow("r")
        .users(&[ALICE])
        .paths(&[tree.p("data/**")])
        .access(access)
        .to_string()
}

// CapEff and CapPrm hold exactly what the policy needs (read/list: DAC_READ_SEARCH;
// write/truncate/create: DAC_OVERRIDE; create: CHOWN — not FOWNER, since the broker
// sets a new file's mode while it still owns it; bits CHOWN 0, DAC_OVERRIDE 1,
// DAC_READ_SEARCH 2), no_new_privs is set, and the kept set is logged.
itest!(capabilities_are_dropped_to_what_the_policy_needs, || {
    let cases = [
        ("read,list", "0000000000000004", "CAP_DAC_READ_SEARCH"),
        ("write,truncate", "0000000000000002", "CAP_DAC_OVERRIDE"),
        ("read,write,create", "0000000000000007", "CAP_CHOWN"),
    ];
    for (access, mask, named) in cases {
        let tree = Tree::new();
        tree.dir("data", 0o700);
        let broker = Broker::start(&tree, &policy(&tree, access));
        assert_eq!(
            broker.status_field("CapEff"),
            mask,
            "CapEff for access {access}"
        );
        assert_eq!(
            broker.status_field("CapPrm"),
            mask,
            "CapPrm for access {access}"
        );
        assert_eq!(broker.status_field("NoNewPrivs"), "1");
        let log = broker.expect_log("keeping capabilities: ");
        let line = log
            .lines()
            .find(|l| l.contains("keeping capabilities: "))
            .expect("line");
        assert!(
            line.to_uppercase().contains(named),
            "{line:?} should name {named}"
        );
    }
});

// SIGTERM and SIGINT both shut down cleanly: exit 0, socket file removed.
itest!(sigterm_and_sigint_exit_zero_and_remove_the_socket, || {
    for signal in [Signal::TERM, Signal::INT] {
        let tree = Tree::new();
        tree.dir("data", 0o700);
        let broker = Broker::start(&tree, &policy(&tree, "read"));
        let socket = broker.socket().to_path_buf();
        broker.expect_log(&format!("listening on {}", socket.display()));
        let mode = std::fs::metadata(&socket)
            .expect("socket")
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o666, "default --socket-mode");
        let status = broker.stop(signal);
        assert!(status.success(), "exit status {status} after {signal:?}");
        assert!(!socket.exists(), "socket file left behind after {signal:?}");
    }
});

// A leftover socket file nobody listens on is replaced; a live broker's socket is never
// taken over: a second broker fails promptly and the first keeps serving.
itest!(a_stale_socket_is_replaced_but_a_live_one_is_not, |tree| {
    tree.dir("data", 0o700);
    drop(UnixListener::bind(tree.path("fdbroker.sock")).expect("stale socket"));
    let broker = Broker::start(&tree, &policy(&tree, "read"));
    let second = tree
        .cmd(&tree.bin("fdbroker"))
        .args([
            "serve",
            "--policy",
            &tree.p("policy.toml"),
            "--socket",
            &broker.socket_str(),
        ])
        .timeout(Duration::from_secs(5))
        .run();
    if second.status.success() {
        second.fail("a second broker on a live socket must fail");
    }
    broker
        .fdagent(ALICE)
        .arg("ping")
        .run()
        .code_is(0)
        .stdout_is("pong\n");
});

itest!(socket_mode_and_group_restrict_who_can_connect, |tree| {
    tree.dir("data", 0o700);
    // gid 1 is `daemon` on Debian.
    let broker = Broker::start_with(
        &tree,
        &policy(&tree, "read"),
        &["--socket-mode", "0660", "--socket-group", "daemon"],
    );
    let meta = std::fs::metadata(broker.socket()).expect("socket");
    assert_eq!((meta.mode() & 0o7777, meta.gid()), (0o660, 1));
    let member = User {
        uid: 2001,
        gid: 2001,
        groups: &[1],
    };
    broker
        .fdagent(member)
        .arg("ping")
        .run()
        .code_is(0)
        .stdout_is("pong\n");
    broker
        .fdagent(ALICE)
        .arg("ping")
        .run()
        .code_is(69)
        .stdout_is("");
});

// `--print-privileges` shows what the policy implies without starting: the capability
// set and the Landlock rules, one per policy root and one per need of the broker's own.
itest!(
    print_privileges_shows_capabilities_and_landlock_rules,
    |tree| {
        tree.dir("data", 0o700);
        let out = Broker::print_privileges(
            &tree,
            &policy(&tree, "read,list"),
            &["--socket", &tree.p("never.sock")],
        );
        out.code_is(0);
        let stdout = out.stdout_str();
        assert!(
            stdout.contains("capabilities: CAP_DAC_READ_SEARCH\n"),
            "{stdout}"
        );
        let data_rule = format!(
            "  {} [ReadFile,ReadDir] (policy: read,list beneath {})",
            tree.p("data"),
            tree.p("data")
        );
        assert!(stdout.lines().any(|l| l == data_rule), "{stdout}");
        assert!(stdout.contains("(reload the policy)"), "{stdout}");
        assert!(
            !tree.path("never.sock").exists(),
            "--print-privileges must not bind"
        );
    }
);

// `--user` runs the broker as an unprivileged uid that keeps only the capabilities the
// policy needs: it still hands out root-only files, and its credentials show it.
itest!(
    serve_as_another_user_keeps_only_the_needed_capabilities,
    |tree| {
        tree.private_file("data/a.txt", b"alpha\n");
        let broker = Broker::start_with(&tree, &policy(&tree, "read"), &["--user", "nobody"]);
        let uid = broker.status_field("Uid");
        assert!(uid.split_whitespace().all(|u| u == "65534"), "Uid: {uid}");
        assert_eq!(broker.status_field("Groups"), "");
        assert_eq!(broker.status_field("CapEff"), "0000000000000004");
        assert_eq!(broker.status_field("CapBnd"), "0000000000000004");
        broker
            .cat(ALICE, &tree.p("data/a.txt"))
            .code_is(0)
            .stdout_is("alpha\n");
    }
);
