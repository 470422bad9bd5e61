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

/// Python run as root: `with_pid.py PID UID GID` starts a child with pid PID exactly
/// (`clone3` with `set_tid`, which root may use), which becomes UID:GID without groups and
/// runs Python sleeping; prints the child's pid and exits. No global state is touched:
/// other processes keep getting the pids they would.
const WITH_PID: &str = r#"
import ctypes, os, sys
class CloneArgs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack",
        "stack_size", "tls", "set_tid", "set_tid_size", "cgroup")]
pid, uid, gid = (int(a) for a in sys.argv[1:4])
tid = (ctypes.c_int * 1)(pid)
args = CloneArgs(exit_signal=17, set_tid=ctypes.addressof(tid), set_tid_size=1)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
got = libc.syscall(435, ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
if got == 0:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)"])
if got < 0:
    sys.exit("clone3 with pid %d: errno %d" % (pid, ctypes.get_errno()))
print(got)
"#;

/// A process of `user` running Python (the executable the policy allows) with pid `pid`
/// (see [`WITH_PID`]), once it runs Python. Returns its pid, to kill.
fn python_with_pid(tree: &Tree, user: User, pid: u32) -> u32 {
    let script = tree.path("with_pid.py");
    std::fs::write(&script, WITH_PID).unwrap();
    let out = tree
        .cmd(Path::new(PYTHON))
        .arg(&script)
        .args([pid, user.uid, user.gid].map(|n| n.to_string()))
        .run();
    out.code_is(0);
    let got: u32 = out.stdout_str().trim().parse().expect("the child's pid");
    assert_eq!(got, pid);
    let python = std::fs::canonicalize(PYTHON).unwrap();
    wait_until(Duration::from_secs(10), || {
        (std::fs::read_link(format!("/proc/{pid}/exe")).ok()? == python).then_some(())
    })
    .expect("the process with the reused pid runs Python");
    pid
}

// The connection is decided for the process that connected, never for whatever holds its
// pid later: a client that hands its connection on and exits is denied, even once a
// process that would match the rule has taken its pid (Python of the same uid, started
// with that very pid). (`setpriv` execs Python, so the pid the client reports is the one
// the broker's pidfd refers to.)
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
        let reused = python_with_pid(&tree, ALICE, pid);
        let reply = conn.request(&read(&path));
        let (kind, errno) = reply.error();
        // It is not our child (its parent has exited): killed by pid, while it sleeps.
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(reused as i32).unwrap(),
            rustix::process::Signal::KILL,
        );
        assert_eq!(
            (kind, errno),
            (fdbroker_wire::ErrorKind::Denied, libc::EACCES),
            "{}",
            broker.log()
        );
        // Its user namespace is not known either: the line says so.
        let line =
            audit_deny(ALICE, pid, "read", &path, None).replace(" errno=", " owner_uid=- errno=");
        broker.expect_log(&line);
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

/// Python run as a client's owner: `userns.py READY DROP PROGRAM ARGS...` enters a new user
/// namespace, writes its pid to READY, waits until the test has mapped its uid 0 (its own
/// uid outside), drops its supplementary groups if DROP is `drop`, becomes uid and gid 1
/// of the namespace (a subordinate id outside), and executes PROGRAM.
const IN_USER_NAMESPACE: &str = r#"
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000) != 0:
    sys.exit("unshare(CLONE_NEWUSER): errno %d" % ctypes.get_errno())
ready = sys.argv[1]
with open(ready + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(ready + ".tmp", ready)
while os.getuid() != 0:
    time.sleep(0.002)
if sys.argv[2] == "drop":
    os.setgroups([])
os.setresgid(1, 1, 1)
os.setresuid(1, 1, 1)
os.execv(sys.argv[3], sys.argv[3:])
"#;

/// The first subordinate id the namespaced clients of these tests map their root to: far
/// above the ids of the test's users and accounts, as `useradd`'s ranges are.
const SUBORDINATE: u32 = 3_500_000;

/// Runs `fdagent cat PATH` in a new user namespace created by `owner`, as its uid and gid
/// 1, which the test maps to `outer` as `newuidmap` and `newgidmap` map a subordinate id
/// (uid 0 is the owner's own); with its supplementary groups dropped if `drop_groups`.
/// Returns its exit code and pid.
fn cat_in_user_namespace(
    tree: &Tree,
    broker: &Broker<'_>,
    owner: User,
    outer: u32,
    drop_groups: bool,
    path: &str,
) -> (i32, u32) {
    let script = tree.path("userns.py");
    std::fs::write(&script, IN_USER_NAMESPACE).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    if !tree.path("ready").exists() {
        tree.dir("ready", 0o777);
    }
    // One file per client: the tests run several.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ready = tree.path(&format!("ready/{n}"));
    let mut child = tree
        .cmd(Path::new(PYTHON))
        .user(owner)
        .arg(&script)
        .arg(&ready)
        .arg(if drop_groups { "drop" } else { "keep" })
        .arg(tree.bin("fdagent"))
        .args(["--socket", &broker.socket_str(), "cat", path])
        .spawn();
    let pid: u32 = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&ready).ok()?.parse().ok()
    })
    .unwrap_or_else(|| {
        panic!(
            "the namespaced client did not start: {:?}",
            child.try_wait()
        )
    });
    for (map, own) in [("uid_map", owner.uid), ("gid_map", owner.gid)] {
        std::fs::write(
            format!("/proc/{pid}/{map}"),
            format!("0 {own} 1\n1 {outer} 1\n"),
        )
        .unwrap_or_else(|e| panic!("write /proc/{pid}/{map}: {e}"));
    }
    let status =
        wait_until(Duration::from_secs(20), || child.try_wait().unwrap()).unwrap_or_else(|| {
            let _ = child.kill();
            broker.fail("the namespaced client did not finish")
        });
    (status.code().expect("an exit code"), pid)
}

// A user with subordinate ids connects from a user namespace as one of them: the broker
// sees another uid. It is granted nothing unless a rule admits namespaced clients, and
// the audit line names the uid that owns the namespace too.
itest!(
    a_client_in_a_user_namespace_is_denied_unless_a_rule_admits_it,
    |tree| {
        tree.private_file("data/report.txt", SECRET);
        let owner = crate::harness::Account::user();
        let outer = SUBORDINATE;
        let subordinate = User {
            uid: outer,
            gid: outer,
            groups: &[],
        };
        let rule = |admit: bool| {
            let policy = Policy::new()
                .allow("subordinate-reads")
                .users(&[outer])
                .paths(&[tree.p("data/**")])
                .access("read");
            if admit {
                policy.user_namespaces()
            } else {
                policy
            }
            .to_string()
        };
        let broker = Broker::start(&tree, &rule(false));
        let path = tree.p("data/report.txt");

        // The same uid outside any user namespace: allowed.
        broker.cat(subordinate, &path).code_is(0).stdout_is(SECRET);

        let (code, pid) =
            cat_in_user_namespace(&tree, &broker, owner.client(), outer, false, &path);
        assert_eq!(code, 77, "denied by default:\n{}", broker.log());
        let line = audit_deny(subordinate, pid, "read", &path, None)
            .replace(" errno=", &format!(" owner_uid={} errno=", owner.id()));
        broker.expect_log(&line);

        broker.reload(&rule(true));
        let (code, pid) =
            cat_in_user_namespace(&tree, &broker, owner.client(), outer, false, &path);
        assert_eq!(
            code,
            0,
            "admitted by user_namespaces = true:\n{}",
            broker.log()
        );
        let line = audit_allow(subordinate, pid, "read", &path, "subordinate-reads");
        broker.expect_log(&format!("{line} owner_uid={}", owner.id()));
        // The rule still names its uid: another subordinate uid gets nothing.
        let (code, _) =
            cat_in_user_namespace(&tree, &broker, owner.client(), outer + 1, false, &path);
        assert_eq!(code, 77, "uid {} is named by no rule", outer + 1);
    }
);

// Deny rules bind a namespaced client as its namespace's owner: one naming the owner, and
// one naming a group of the owner's, although the client dropped its groups and connects
// as a subordinate uid.
itest!(
    deny_rules_naming_the_owner_bind_its_user_namespace,
    |tree| {
        tree.private_file("data/ok.txt", SECRET);
        tree.private_file("data/owner.txt", SECRET);
        tree.private_file("data/group.txt", SECRET);
        let owner = crate::harness::Account::user();
        let group = crate::harness::Account::group();
        owner.join(&group);
        let policy = Policy::new()
            .allow("containers-read")
            .everyone()
            .paths(&[tree.p("data/**")])
            .access("read")
            .user_namespaces()
            .deny("not-the-owner")
            .users(&[owner.name()])
            .paths(&[tree.p("data/owner.txt")])
            .access("read")
            .deny("not-the-group")
            .groups(&[group.name()])
            .paths(&[tree.p("data/group.txt")])
            .access("read")
            .to_string();
        let broker = Broker::start(&tree, &policy);
        let outer = SUBORDINATE + 10;
        let subordinate = User {
            uid: outer,
            gid: outer,
            groups: &[],
        };
        let run = |file: &str, n: u32| {
            let path = tree.p(&format!("data/{file}"));
            let (code, pid) =
                cat_in_user_namespace(&tree, &broker, owner.client(), outer + n, true, &path);
            (code, pid, path)
        };
        let (code, _, _) = run("ok.txt", 0);
        assert_eq!(code, 0, "{}", broker.log());
        for (n, (file, rule)) in [
            ("owner.txt", "not-the-owner"),
            ("group.txt", "not-the-group"),
        ]
        .into_iter()
        .enumerate()
        {
            let (code, pid, path) = run(file, 1 + n as u32);
            assert_eq!(code, 77, "{file}:\n{}", broker.log());
            let who = User {
                uid: outer + 1 + n as u32,
                ..subordinate
            };
            let who = User {
                gid: who.uid,
                ..who
            };
            let line = audit_deny(who, pid, "read", &path, Some(rule))
                .replace(" errno=", &format!(" owner_uid={} errno=", owner.id()));
            broker.expect_log(&line);
        }
    }
);

// `explain` takes a unit and an executable (`--unit`, `--exe`), and `--peer-of PID` reads
// them, and the user namespace, for a running process.
itest!(
    explain_takes_a_unit_and_an_executable_or_reads_them,
    |tree| {
        let cgroup = TestCgroup::service();
        let sleep = std::fs::canonicalize("/bin/sleep").unwrap();
        let file = tree.p("p.toml");
        crate::harness::write_policy(
            tree.path("p.toml").as_ref(),
            &Policy::new()
                .allow("service-sleeps")
                .users(&[ALICE])
                .paths(&["/srv/**"])
                .access("read")
                .units(&[cgroup.unit()])
                .executables(&[&sleep])
                .to_string(),
        );
        let explain = |who: &[&str]| {
            let mut args = vec!["explain", "--policy", &file, "--access", "read"];
            args.extend_from_slice(who);
            args.push("/srv/a");
            tree.cmd(&tree.bin("fdbroker")).args(args).run()
        };
        let uid = ALICE.uid.to_string();
        let sleep_path = sleep.to_str().unwrap();
        let allowed = "allow (rule \"service-sleeps\")\n";
        let denied = "deny (no rule matched: default deny)\n";
        explain(&[
            "--uid",
            &uid,
            "--gid",
            &uid,
            "--unit",
            cgroup.unit(),
            "--exe",
            sleep_path,
        ])
        .code_is(0)
        .stdout_is(allowed);
        explain(&["--uid", &uid, "--gid", &uid, "--unit", cgroup.unit()])
            .code_is(1)
            .stdout_is(denied);
        explain(&[
            "--uid",
            &uid,
            "--gid",
            &uid,
            "--unit",
            "other.service",
            "--exe",
            sleep_path,
        ])
        .code_is(1)
        .stdout_is(denied);

        // Alice's sleep in the unit's cgroup, then one outside it.
        let mut inside = tree
            .cmd(&sleep)
            .user(ALICE)
            .cgroup(cgroup.path())
            .arg("30")
            .spawn();
        let mut outside = tree.cmd(&sleep).user(ALICE).arg("30").spawn();
        // setpriv executes sleep in the same process: wait until it has.
        for child in [&inside, &outside] {
            let exe = format!("/proc/{}/exe", child.id());
            wait_until(Duration::from_secs(5), || {
                (std::fs::read_link(&exe).ok()? == sleep).then_some(())
            })
            .expect("sleep started");
        }
        let peer_of = |pid: u32| explain(&["--peer-of", &pid.to_string()]);
        let out = peer_of(inside.id());
        out.code_is(0);
        assert!(
            out.stdout_str().starts_with(allowed),
            "{}",
            out.stdout_str()
        );
        assert!(
            out.stdout_str()
                .contains(&format!("unit {}, executable {sleep_path}", cgroup.unit())),
            "{}",
            out.stdout_str()
        );
        peer_of(outside.id()).code_is(1);
        for child in [&mut inside, &mut outside] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
);
