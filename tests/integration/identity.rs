//! Identity beyond uid: rules naming `units` and `executables`, matched against the
//! process that connected, read through a pidfd the broker takes at accept and confirmed
//! afterwards to still be that process.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::harness::{
    ALICE, Broker, Policy, RawConn, TestCgroup, Tree, User, audit_allow, audit_deny, itest, read,
    wait_until,
};

const SECRET: &[u8] = b"for one service only\n";

itest!(a_units_rule_tells_apart_two_processes_of_one_uid, |tree| {
    tree.private_file("data/report.txt", SECRET);
    let cgroup = TestCgroup::service();
    let policy = Policy::new()
        .allow("service-reads")
        .users(&[ALICE])
        .paths(&[tree.p("data/**")])
        .access("read")
        .units(&[cgroup.unit()])
        .to_string();
    let broker = Broker::start(&tree, &policy);
    let path = tree.p("data/report.txt");

    let inside = broker
        .fdagent(ALICE)
        .cgroup(cgroup.path())
        .args(["cat", &path])
        .run();
    inside.code_is(0).stdout_is(SECRET);
    let line = audit_allow(ALICE, inside.pid, "read", &path, "service-reads");
    broker.expect_log(&format!("{line} unit={:?}", cgroup.unit()));

    let outside = broker.cat(ALICE, &path);
    outside.code_is(77).stdout_is("");
    broker.expect_log(&audit_deny(ALICE, outside.pid, "read", &path, None));
});

// Deny wins, and a deny rule naming a unit binds only the processes in it.
itest!(a_deny_rule_naming_a_unit_binds_only_that_unit, |tree| {
    tree.private_file("data/report.txt", SECRET);
    let cgroup = TestCgroup::service();
    let policy = Policy::new()
        .allow("alice-reads")
        .users(&[ALICE])
        .paths(&[tree.p("data/**")])
        .access("read")
        .deny("not-from-that-service")
        .users(&[ALICE])
        .paths(&[tree.p("data/**")])
        .access("read")
        .units(&[cgroup.unit()])
        .to_string();
    let broker = Broker::start(&tree, &policy);
    let path = tree.p("data/report.txt");
    broker.cat(ALICE, &path).code_is(0).stdout_is(SECRET);
    let inside = broker
        .fdagent(ALICE)
        .cgroup(cgroup.path())
        .args(["cat", &path])
        .run();
    inside.code_is(77);
    let line = audit_deny(
        ALICE,
        inside.pid,
        "read",
        &path,
        Some("not-from-that-service"),
    )
    .replace(" errno=", &format!(" unit={:?} errno=", cgroup.unit()));
    broker.expect_log(&line);
});

itest!(
    an_executables_rule_allows_one_binary_and_not_a_copy,
    |tree| {
        executables_rule(&tree, &[]);
    }
);

// As the shipped unit runs it (`--user`: no capability to read other users' processes,
// and Landlock), the broker still tells two binaries of one uid apart: its process
// reader does the reads.
itest!(
    an_executables_rule_works_when_the_broker_runs_as_another_user,
    |tree| {
        executables_rule(&tree, &["--user", "nobody"]);
    }
);

/// Alice's fdagent is allowed by an `executables` rule, a copy of it elsewhere is not.
fn executables_rule(tree: &Tree, serve_args: &[&str]) {
    tree.private_file("data/report.txt", SECRET);
    let fdagent = tree.bin("fdagent");
    let copy = tree.path("other/fdagent");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(&fdagent, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let policy = Policy::new()
        .allow("fdagent-reads")
        .users(&[ALICE])
        .paths(&[tree.p("data/**")])
        .access("read")
        .executables(&[&fdagent])
        .to_string();
    let broker = Broker::start_with(tree, &policy, serve_args);
    let path = tree.p("data/report.txt");

    let allowed = broker.cat(ALICE, &path);
    allowed.code_is(0).stdout_is(SECRET);
    let line = audit_allow(ALICE, allowed.pid, "read", &path, "fdagent-reads");
    broker.expect_log(&format!("{line} exe={:?}", fdagent.display().to_string()));

    let other = tree
        .cmd(&copy)
        .user(ALICE)
        .args(["--socket", &broker.socket_str(), "cat", &path])
        .run();
    other.code_is(77).stdout_is("");
    broker.expect_log(&audit_deny(ALICE, other.pid, "read", &path, None));
}

/// Python run as a client: `connect.py SOCKET BACK stay|leave` connects to the broker,
/// passes the connection to the test over BACK with its pid, then stays or exits.
const CONNECT: &str = r#"
import os, socket, sys, time
broker = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
broker.connect(sys.argv[1])
back = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
back.connect(sys.argv[2])
socket.send_fds(back, [str(os.getpid()).encode()], [broker.fileno()])
if sys.argv[3] == "stay":
    time.sleep(60)
"#;

const PYTHON: &str = "/usr/bin/python3";

/// The connection made by a Python process of `user` (see [`CONNECT`]), its pid, and the
/// process if it stays.
fn python_connects(
    tree: &Tree,
    broker: &Broker<'_>,
    user: User,
    stay: bool,
) -> (RawConn, u32, Child) {
    let script = tree.path("connect.py");
    std::fs::write(&script, CONNECT).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let back_path = tree.path(&format!("back-{stay}.sock"));
    let back = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    rustix::net::bind(&back, &SocketAddrUnix::new(&back_path).unwrap()).unwrap();
    std::fs::set_permissions(&back_path, std::fs::Permissions::from_mode(0o777)).unwrap();
    rustix::net::listen(&back, 1).unwrap();
    let mode = if stay { "stay" } else { "leave" };
    let child = tree
        .cmd(Path::new(PYTHON))
        .user(user)
        .arg(&script)
        .arg(broker.socket())
        .arg(&back_path)
        .arg(mode)
        .spawn();
    let conn = rustix::net::accept(&back).unwrap();
    let mut buf = [0u8; 32];
    let got = fdbroker_wire::recv(conn.as_fd(), &mut buf, 1).expect("the client's connection");
    let pid: u32 = std::str::from_utf8(&buf[..got.len])
        .unwrap()
        .parse()
        .unwrap();
    let sock: OwnedFd = got.fds.into_iter().next().expect("one fd");
    (RawConn::from_socket(sock).unwrap(), pid, child)
}

/// A process of `user` running Python (the executable the policy allows) with pid `pid`,
/// made by setting the kernel's last pid just below it; `None` if other processes keep
/// taking the pid first.
fn python_with_pid(tree: &Tree, user: User, pid: u32) -> Option<Child> {
    wait_until(Duration::from_secs(20), || {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
        let mut child = tree
            .cmd(Path::new(PYTHON))
            .user(user)
            .args(["-c", "import time; time.sleep(60)"])
            .spawn();
        if child.id() == pid {
            return Some(child);
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    })
}

// The connection is decided for the process that connected, never for whatever holds its
// pid later: a client that hands its connection on and exits is denied, even once a
// process that would match the rule has taken its pid. (`setpriv` execs Python, so the
// pid the client reports is the one the broker's pidfd refers to.)
itest!(
    a_peer_that_exited_is_denied_even_when_its_pid_is_reused,
    |tree| {
        tree.private_file("data/report.txt", SECRET);
        let python = std::fs::canonicalize(PYTHON).unwrap();
        let policy = Policy::new()
            .allow("python-reads")
            .users(&[ALICE])
            .paths(&[tree.p("data/**")])
            .access("read")
            .executables(&[&python])
            .to_string();
        let broker = Broker::start(&tree, &policy);
        let path = tree.p("data/report.txt");

        // Still running when its request is decided: allowed.
        let (conn, _, mut stays) = python_connects(&tree, &broker, ALICE, true);
        conn.request(&read(&path)).assert_opened(SECRET);
        let _ = stays.kill();
        let _ = stays.wait();

        // Exited, and its pid reused by a process the rule would allow: denied.
        let (conn, pid, mut left) = python_connects(&tree, &broker, ALICE, false);
        left.wait().unwrap();
        let mut reused = python_with_pid(&tree, ALICE, pid)
            .unwrap_or_else(|| panic!("could not start a process with pid {pid} again"));
        let reply = conn.request(&read(&path));
        let (kind, errno) = reply.error();
        let _ = reused.kill();
        let _ = reused.wait();
        assert_eq!(
            (kind, errno),
            (fdbroker_wire::ErrorKind::Denied, libc::EACCES),
            "{}",
            broker.log()
        );
        broker.expect_log(&audit_deny(ALICE, pid, "read", &path, None));
    }
);

// `check --verbose` shows the identity fields of each rule that names them.
itest!(
    check_verbose_lists_the_identity_fields_of_each_rule,
    |tree| {
        let file = tree.p("p.toml");
        crate::harness::write_policy(
            tree.path("p.toml").as_ref(),
            &Policy::new()
                .allow("clamd")
                .users(&[ALICE])
                .paths(&["/srv/**"])
                .access("read")
                .units(&["clamav-daemon.service"])
                .executables(&["/usr/sbin/clamd"])
                .deny("not-from-sessions")
                .users(&[ALICE])
                .paths(&["/srv/**"])
                .access("read")
                .units(&["session-1.scope", "session-2.scope"])
                .allow("plain")
                .users(&[ALICE])
                .paths(&["/srv/**"])
                .access("read")
                .to_string(),
        );
        let out = tree
            .cmd(&tree.bin("fdbroker"))
            .args(["check", "--verbose", &file])
            .run();
        out.code_is(0);
        let stdout = out.stdout_str();
        let uid = ALICE.uid;
        for line in [
            format!(
                "rule \"clamd\" (line 3): allow users=[{uid}] units=[clamav-daemon.service] executables=[/usr/sbin/clamd] paths=[\"/srv/**\"] access=read"
            ),
            format!(
                "rule \"not-from-sessions\" (line 11): deny users=[{uid}] units=[session-1.scope,session-2.scope] paths=[\"/srv/**\"] access=read"
            ),
            format!(
                "rule \"plain\" (line 19): allow users=[{uid}] paths=[\"/srv/**\"] access=read"
            ),
        ] {
            assert!(
                stdout.lines().any(|l| l == line),
                "no line {line:?} in:\n{stdout}"
            );
        }
    }
);
