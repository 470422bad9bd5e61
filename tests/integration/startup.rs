//! What the broker makes sure of before it serves: path options made absolute (a relative
//! one must not widen Landlock to `/`), no fd inherited from its parent, a kernel with
//! `openat2`, and a kernel that can hold every grant (Landlock's truncate right, for a
//! `write` grant without `truncate`). Kernels without a feature are played
//! by a seccomp filter that makes its system calls fail.

use std::fs::File;

use crate::harness::{
    ALICE, Broker, INHERITED_FD, Launch, Policy, Seccomp, Tree, itest, write_policy,
};

const SECRET: &[u8] = b"SECRET-BYTES\n";

/// Alice may do `access` (comma-separated words) in `data/**`.
fn policy(tree: &Tree, name: &str, access: &str) -> String {
    Policy::new()
        .allow(name)
        .users(&[ALICE])
        .paths(&[tree.p("data/**")])
        .access(access)
        .to_string()
}

// Run from the tree with `--policy policy.toml --socket x.sock --audit-file audit.log`,
// the broker's own Landlock rules are beneath the tree (the working directory), never
// beneath `/`, which is what the empty parent of a relative path used to give.
itest!(
    relative_path_options_never_widen_landlock_to_the_root,
    |tree| {
        tree.dir("data", 0o700);
        write_policy(&tree.path("policy.toml"), &policy(&tree, "r", "read"));
        let out = tree
            .cmd(&tree.bin("fdbroker"))
            .args(["serve", "--print-privileges", "--policy", "policy.toml"])
            .args(["--socket", "x.sock", "--audit-file", "audit.log"])
            .run();
        out.code_is(0);
        let stdout = out.stdout_str();
        assert!(
            !stdout.lines().any(|l| l.starts_with("  / ")),
            "a Landlock rule on /:\n{stdout}"
        );
        let root = tree.p("");
        for why in [
            "(reload the policy)",
            "(write the audit file, and create it anew after log rotation)",
            "(remove the socket at exit)",
        ] {
            assert!(
                stdout
                    .lines()
                    .any(|l| l.starts_with(&format!("  {root} [")) && l.ends_with(why)),
                "no rule {why} on {root}:\n{stdout}"
            );
        }
    }
);

// The broker's own directories (here the socket's and the audit file's) are confined
// to as they are: one reached through a symbolic link (which could point at `/`) is
// refused at start, naming it, and never followed.
itest!(an_own_directory_through_a_symlink_is_refused, |tree| {
    tree.dir("data", 0o700);
    tree.dir("real", 0o755);
    tree.symlink("link", tree.path("real"));
    let reads = policy(&tree, "r", "read");
    let link = tree.p("link");
    for (flag, value, what) in [
        (
            "--socket",
            format!("{link}/x.sock"),
            "the socket's directory",
        ),
        (
            "--audit-file",
            format!("{link}/audit.log"),
            "the audit file's directory",
        ),
    ] {
        let out = Broker::print_privileges(&tree, &reads, &[flag, &value]);
        out.code_is(3);
        let expected = format!("{what} {link} is reached through a symbolic link");
        assert!(
            out.stderr.contains(&expected),
            "{flag}: expected {expected:?}:\n{}",
            out.stderr
        );
    }
});

// An fd the broker's parent leaked to it (not close-on-exec) would reach past its
// Landlock rules, to a file no rule names: the broker closes every inherited fd but
// stdio (and a service manager's `LISTEN_FDS`) at start.
itest!(inherited_fds_are_closed_at_start, |tree| {
    tree.dir("data", 0o700);
    let secret = tree.private_file("elsewhere/secret", SECRET);
    let launch = Launch {
        inherited: Some(File::open(&secret).expect("open the secret")),
        ..Launch::default()
    };
    let broker = Broker::launch(&tree, &policy(&tree, "r", "read"), &[], launch);
    let fds = format!("/proc/{}/fd", broker.pid());
    let leaked: Vec<String> = std::fs::read_dir(&fds)
        .expect("read /proc/PID/fd")
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            (target == secret || e.file_name() == INHERITED_FD.to_string().as_str())
                .then(|| format!("{:?} -> {}", e.file_name(), target.display()))
        })
        .collect();
    if !leaked.is_empty() {
        broker.fail(&format!(
            "the broker still holds an inherited fd: {leaked:?}"
        ));
    }
});

// Without `openat2` (a kernel before 5.6, or a seccomp filter that blocks it) the broker
// could not open anything safely: it says so at start and exits 3, before binding.
itest!(a_kernel_without_openat2_stops_the_broker_at_start, || {
    for (errno, says) in [
        (libc::ENOSYS, "Linux 5.6 or later"),
        (libc::EPERM, "blocked"),
    ] {
        let tree = Tree::new();
        tree.dir("data", 0o700);
        let launch = Launch {
            seccomp: Some(Seccomp::no_openat2(errno)),
            ..Launch::default()
        };
        let (code, log) = Broker::launch_fails(&tree, &policy(&tree, "r", "read"), &[], launch);
        assert_eq!(code, Some(3), "errno {errno}:\n{log}");
        assert!(
            log.contains("openat2") && log.contains(says),
            "errno {errno}: expected openat2 and {says:?} in:\n{log}"
        );
        assert!(!tree.path("fdbroker.sock").exists(), "socket created");
    }
});

// Only Landlock's truncate right (ABI 3, Linux 6.2) stops a client from truncating a
// file through a `write` fd. Without it (here: no Landlock at all), a policy granting
// `write` without `truncate` is refused at start, naming
// the rule, and so is a reload to one; a read-only policy, or one that grants
// `truncate` with `write`, still starts (unconfined, with a warning).
itest!(
    without_landlock_truncate_a_write_grant_without_truncate_is_refused,
    || {
        let no_landlock = || Launch {
            seccomp: Some(Seccomp::no_landlock()),
            ..Launch::default()
        };
        let tree = Tree::new();
        tree.private_file("data/a.txt", b"alpha\n");
        let writes = policy(&tree, "writes", "write,create");
        let (code, log) = Broker::launch_fails(&tree, &writes, &[], no_landlock());
        assert_eq!(code, Some(3), "{log}");
        for needle in ["\"writes\"", "truncate"] {
            assert!(log.contains(needle), "expected {needle:?} in:\n{log}");
        }
        assert!(!tree.path("fdbroker.sock").exists(), "socket created");

        let tree = Tree::new();
        tree.private_file("data/a.txt", b"alpha\n");
        let truncates = policy(&tree, "truncates", "write,truncate");
        let broker = Broker::launch(&tree, &truncates, &[], no_landlock());
        broker.expect_log("Landlock is not available");
        drop(broker);

        let tree = Tree::new();
        tree.private_file("data/a.txt", b"alpha\n");
        let broker = Broker::launch(&tree, &policy(&tree, "reads", "read"), &[], no_landlock());
        let log = broker.reload(&policy(&tree, "writes", "write,create"));
        assert!(
            log.contains("policy reload refused") && log.contains("truncate"),
            "{log}"
        );
        broker
            .cat(ALICE, &tree.p("data/a.txt"))
            .code_is(0)
            .stdout_is("alpha\n");
        broker
            .fdagent(ALICE)
            .args(["open", "--access", "write", &tree.p("data/a.txt")])
            .run()
            .code_is(77);
    }
);
