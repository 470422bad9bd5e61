//! Running under a service manager, without one: socket activation (`LISTEN_FDS`, the
//! socket used as it is and left in place), readiness and reload notifications
//! (`NOTIFY_SOCKET`), and the `Status` request behind `fdagent status`.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rustix::net::{
    AddressFamily, SocketAddrUnix, SocketFlags, SocketType, bind, listen, socket_with,
};
use rustix::process::{Pid, Signal, kill_process};

use crate::harness::{
    ALICE, BOB, Broker, Policy, Tree, alice_reads, built_bin, itest, wait_until, write_policy,
};

/// A broker started by hand, as a service manager would; SIGKILLed if still running when
/// dropped.
struct Daemon(Child);

impl Daemon {
    fn pid(&self) -> Pid {
        Pid::from_child(&self.0)
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let _ = kill_process(self.pid(), Signal::TERM);
        let status = wait_until(Duration::from_secs(10), || {
            self.0.try_wait().expect("try_wait")
        });
        status.unwrap_or_else(|| panic!("the broker did not exit on SIGTERM"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(log: &Path, needle: &str) -> String {
    wait_until(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.contains(needle).then_some(text)
    })
    .unwrap_or_else(|| {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        panic!("no {needle:?} in the broker log:\n{text}")
    })
}

/// Starts a broker on `tree/policy.toml` as systemd does with `ListenSequentialPacket=`:
/// the socket `tree/activated.sock` is created, bound and listening before the broker
/// starts, passed as fd 3 with `LISTEN_FDS=1` and `LISTEN_PID` set to the broker's pid,
/// with `extra` arguments and the log in `tree/run/activated.log`. Returns once it serves.
fn activated(tree: &Tree, extra: &[&str]) -> (Daemon, PathBuf, PathBuf) {
    let socket = tree.path("activated.sock");
    let listener = socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socket");
    bind(&listener, &SocketAddrUnix::new(&socket).expect("address")).expect("bind");
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .expect("chmod");
    listen(&listener, 16).expect("listen");
    let log = tree.path("run/activated.log");
    let raw = listener.as_raw_fd();
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", "export LISTEN_PID=$$; exec \"$@\"", "sh"])
        .arg(built_bin("fdbroker"))
        .args([
            "serve",
            "--policy",
            &tree.p("policy.toml"),
            "--socket",
            &tree.p("unused.sock"),
        ])
        .args(extra)
        .env("LISTEN_FDS", "1")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stderr(File::create(&log).expect("log"));
    // SAFETY: between fork and exec only dup2 or fcntl run, which are async-signal-safe;
    // they give the child the listener as fd 3 without close-on-exec, as a service manager
    // does (dup2 onto itself would leave close-on-exec set, hence fcntl when it is fd 3).
    unsafe {
        command.pre_exec(move || {
            let rc = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let daemon = Daemon(command.spawn().expect("spawn the broker"));
    wait_for(
        &log,
        "listening on the socket passed by the service manager",
    );
    (daemon, socket, log)
}

// The broker serves on the socket it was passed, and leaves the socket file in place at
// exit (it is the service manager's).
itest!(socket_activation_uses_the_inherited_socket, |tree| {
    tree.private_file("data/a.txt", b"alpha\n");
    write_policy(&tree.path("policy.toml"), &alice_reads(&tree));
    let (daemon, socket, _) = activated(&tree, &[]);
    let out = tree
        .cmd(&tree.bin("fdagent"))
        .user(ALICE)
        .args([
            "--socket",
            &socket.display().to_string(),
            "cat",
            &tree.p("data/a.txt"),
        ])
        .run();
    out.code_is(0).stdout_is("alpha\n");
    assert!(
        !tree.path("unused.sock").exists(),
        "--socket must not be bound when activated"
    );
    assert!(daemon.stop().success());
    assert!(
        socket.exists(),
        "the inherited socket file belongs to the service manager"
    );
});

// As the shipped unit runs it: activated, `--user`, the audit file in a directory of
// root's. After rotation and SIGHUP, records go to a new file at the path; at exit the
// socket is left to the service manager, and nothing is complained about.
itest!(
    socket_activation_under_user_reopens_the_audit_file,
    |tree| {
        tree.private_file("data/a.txt", b"alpha\n");
        tree.dir("log", 0o750);
        write_policy(&tree.path("policy.toml"), &alice_reads(&tree));
        let args = ["--user", "nobody", "--audit-file", &tree.p("log/audit.log")];
        let (daemon, socket, log) = activated(&tree, &args);
        let cat = || {
            tree.cmd(&tree.bin("fdagent"))
                .user(ALICE)
                .args(["--socket", &socket.display().to_string(), "cat"])
                .arg(tree.p("data/a.txt"))
                .run()
                .code_is(0);
        };
        cat();
        std::fs::rename(tree.path("log/audit.log"), tree.path("log/audit.log.1")).expect("rotate");
        kill_process(daemon.pid(), Signal::HUP).expect("SIGHUP");
        wait_for(&log, "policy reloaded from");
        cat();
        let lines = |rel: &str| {
            std::fs::read_to_string(tree.path(rel))
                .unwrap_or_default()
                .lines()
                .count()
        };
        wait_until(Duration::from_secs(5), || {
            (lines("log/audit.log") == 1).then_some(())
        })
        .unwrap_or_else(|| panic!("no record in the new audit file"));
        assert_eq!(lines("log/audit.log.1"), 1);
        assert!(daemon.stop().success());
        assert!(
            socket.exists(),
            "the service manager's socket is left in place"
        );
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(
            !text.contains(" WARN ") && !text.contains(" ERROR "),
            "{text}"
        );
    }
);

// With `NOTIFY_SOCKET`, the broker says READY=1 once it serves (with a STATUS= line),
// RELOADING=1 with MONOTONIC_USEC= then READY=1 around a SIGHUP reload, and STOPPING=1 on
// SIGTERM — what `Type=notify-reload` units expect.
itest!(readiness_reload_and_stop_are_notified, |tree| {
    tree.private_file("data/a.txt", b"alpha\n");
    write_policy(&tree.path("policy.toml"), &alice_reads(&tree));
    let notify_path = tree.path("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("bind notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let log = tree.path("run/notify.log");
    let daemon = Daemon(
        Command::new(built_bin("fdbroker"))
            .args([
                "serve",
                "--policy",
                &tree.p("policy.toml"),
                "--socket",
                &tree.p("n.sock"),
            ])
            .env("NOTIFY_SOCKET", &notify_path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stderr(File::create(&log).expect("log"))
            .spawn()
            .expect("spawn the broker"),
    );
    let next = || {
        let mut buf = [0u8; 1024];
        let n = notify.recv(&mut buf).expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let ready = next();
    assert!(ready.starts_with("READY=1\nSTATUS=1 rule;"), "{ready:?}");
    assert!(
        tree.path("n.sock").exists(),
        "ready only once the socket exists"
    );

    kill_process(daemon.pid(), Signal::HUP).expect("SIGHUP");
    let reloading = next();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading:?}"
    );
    let again = next();
    assert!(again.starts_with("READY=1\nSTATUS="), "{again:?}");
    wait_for(&log, "policy reloaded from");

    let _ = kill_process(daemon.pid(), Signal::TERM);
    // Status lines may come in between; STOPPING=1 must come.
    let stopping = wait_until(Duration::from_secs(10), || {
        next().contains("STOPPING=1").then_some(())
    });
    assert!(stopping.is_some(), "no STOPPING=1");
    assert!(daemon.stop().success());
});

// `fdagent status`: root sees the counts per rule since the policy was loaded; a uid that
// no rule names is denied (what other uids see is in `status.rs`).
itest!(status_counts_decisions_per_rule_for_root, |tree| {
    tree.private_file("data/a.txt", b"alpha\n");
    let broker = Broker::start(&tree, &alice_reads(&tree));
    for _ in 0..3 {
        broker.cat(ALICE, &tree.p("data/a.txt")).code_is(0);
    }
    broker.cat(BOB, &tree.p("data/a.txt")).code_is(77);
    broker.cat(ALICE, &tree.p("data/missing")).code_is(66);

    let out = broker.fdagent_root().args(["status"]).run();
    out.code_is(0);
    let text = out.stdout_str();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .map(str::to_owned)
    };
    assert_eq!(
        line("default deny:").as_deref(),
        Some("default deny: 1"),
        "{text}"
    );
    assert_eq!(line("errors:").as_deref(), Some("errors: 1"), "{text}");
    let rule = text
        .lines()
        .find(|l| l.ends_with("alice-reads"))
        .expect("the rule's line");
    assert_eq!(
        rule.split_whitespace().collect::<Vec<_>>(),
        ["4", "0", "alice-reads"],
        "{text}"
    );
    assert!(
        text.contains(&format!("policy: {}", tree.p("policy.toml"))),
        "{text}"
    );

    broker.fdagent(BOB).args(["status"]).run().code_is(77);
});

// `--shadow-policy`: every request is also decided by the shadow policy, and each one it
// would decide differently is logged; the shadow never grants anything. SIGHUP reloads it.
itest!(shadow_policy_logs_differences_and_grants_nothing, |tree| {
    tree.private_file("data/a.txt", b"alpha\n");
    let shadow_text = |uid: u32| {
        Policy::new()
            .allow("shadow-reads")
            .users(&[uid])
            .paths(&[tree.p("data/**")])
            .access("read")
            .to_string()
    };
    write_policy(&tree.path("shadow.toml"), &shadow_text(BOB.uid));
    let broker = Broker::start_with(
        &tree,
        &alice_reads(&tree),
        &["--shadow-policy", &tree.p("shadow.toml")],
    );
    broker.expect_log("shadow policy loaded from");
    let path = tree.p("data/a.txt");
    let bob = broker.cat(BOB, &path);
    bob.code_is(77);
    let alice = broker.cat(ALICE, &path);
    alice.code_is(0).stdout_is("alpha\n");
    broker.expect_log(&format!(
        "shadow: would allow op=open uid=2002 gid=2002 pid={} access=read path=\"{path}\" rule=\"shadow-reads\"",
        bob.pid
    ));
    broker.expect_log(&format!(
        "shadow: would deny op=open uid=2001 gid=2001 pid={} access=read path=\"{path}\" rule=-",
        alice.pid
    ));

    // The shadow reloads with the live policy: now it agrees about alice.
    write_policy(&tree.path("shadow.toml"), &shadow_text(ALICE.uid));
    broker.reload(&alice_reads(&tree));
    broker.expect_log("shadow policy reloaded from");
    let again = broker.cat(ALICE, &path);
    again.code_is(0);
    let log = broker.log();
    let disagreement = format!("would deny op=open uid=2001 gid=2001 pid={}", again.pid);
    assert!(!log.contains(&disagreement), "{log}");
});
