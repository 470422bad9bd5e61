//! The uid of the broker's helper processes, its name resolver and its process reader:
//! under `serve --user USER` they run as USER, an account only the broker uses, so a
//! process of `nobody`'s (NFS's anonymous uid, a daemon run as `User=nobody`) cannot
//! signal them and, by killing or stopping them, make the broker deny every client until
//! a restart. Without `--user` they run as `nobody`.

use std::path::Path;
use std::time::Duration;

use crate::harness::{
    ALICE, Account, Broker, Policy, Tree, User, alice_reads, itest, status_field, wait_until,
};

/// `nobody`, as another service of the machine may run.
const NOBODY: User = User {
    uid: 65534,
    gid: 65534,
    groups: &[],
};

/// The helpers: the name resolver and the process reader.
const HELPERS: [&str; 2] = ["fdbroker-names", "fdbroker-peers"];

/// A broker under `--user ACCOUNT` serving [`alice_reads`], with `data/a.txt`.
fn broker_as<'t>(tree: &'t Tree, account: &Account) -> Broker<'t> {
    tree.private_file("data/a.txt", b"alpha\n");
    Broker::start_with(tree, &alice_reads(tree), &["--user", account.name()])
}

/// Asserts that `nobody` cannot send SIGKILL to `pid`: kill(1) fails for lack of
/// permission.
fn nobody_cannot_kill(tree: &Tree, pid: u32) {
    tree.cmd(Path::new("kill"))
        .user(NOBODY)
        .args(["-KILL", &pid.to_string()])
        .run()
        .code_is(1)
        .stderr_has("Operation not permitted");
}

// A process of nobody's cannot kill the process reader, and the broker goes on granting
// Alice what the policy allows her: it still knows her process.
itest!(under_user_nobody_cannot_kill_the_process_reader, |tree| {
    let account = Account::user();
    let broker = broker_as(&tree, &account);
    let reader = broker.helper("fdbroker-peers");
    nobody_cannot_kill(&tree, reader);
    broker
        .cat(ALICE, &tree.p("data/a.txt"))
        .code_is(0)
        .stdout_is("alpha\n");
    assert_eq!(broker.helper("fdbroker-peers"), reader);
});

// A process of nobody's cannot kill the name resolver, and a reload of a policy naming a
// user still succeeds.
itest!(under_user_nobody_cannot_kill_the_name_resolver, |tree| {
    let (service, reader) = (Account::user(), Account::user());
    tree.private_file("data/a.txt", b"alpha\n");
    let policy = Policy::new()
        .allow("reader")
        .users(&[reader.name()])
        .paths(&[tree.p("data/**")])
        .access("read")
        .to_string();
    let broker = Broker::start_with(&tree, &policy, &["--user", service.name()]);
    let resolver = broker.helper("fdbroker-names");
    nobody_cannot_kill(&tree, resolver);
    let new = broker.hup();
    assert!(new.contains("policy reloaded from"), "{new}");
    broker
        .fdagent(reader.client())
        .args(["cat", &tree.p("data/a.txt")])
        .run()
        .code_is(0)
        .stdout_is("alpha\n");
});

// Under --user, both helpers run as the user's uid and primary gid, with no
// supplementary groups.
itest!(under_user_the_helpers_run_as_that_user, |tree| {
    let account = Account::user();
    let broker = broker_as(&tree, &account);
    for name in HELPERS {
        let pid = broker.helper(name);
        let field = |f| status_field(pid, f).expect("helper running");
        let uid = account.id().to_string();
        let gid = account.gid().to_string();
        assert!(field("Uid").split_whitespace().all(|u| u == uid), "{name}");
        assert!(field("Gid").split_whitespace().all(|g| g == gid), "{name}");
        assert_eq!(field("Groups"), "", "{name}");
    }
});

// Without --user, they run as nobody.
itest!(without_user_the_helpers_run_as_nobody, |tree| {
    tree.private_file("data/a.txt", b"alpha\n");
    let broker = Broker::start(&tree, &alice_reads(&tree));
    for name in HELPERS {
        let pid = broker.helper(name);
        let field = |f| status_field(pid, f).expect("helper running");
        assert!(
            field("Uid").split_whitespace().all(|u| u == "65534"),
            "{name}"
        );
        assert!(
            field("Gid").split_whitespace().all(|g| g == "65534"),
            "{name}"
        );
    }
});

/// Tries `PTRACE_SEIZE` on the pid in argv[1]; prints the errno's name, or "attached".
const SEIZE: &str = r#"
import ctypes, errno, sys
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_SEIZE = 0x4206
got = libc.ptrace(PTRACE_SEIZE, int(sys.argv[1]), None, None)
print("attached" if got == 0 else errno.errorcode[ctypes.get_errno()])
"#;

// The broker runs as the same uid as its helpers, but cannot trace them (nor can anything
// else of that uid): they are not dumpable, and the process reader holds CAP_SYS_PTRACE,
// which the broker does not.
itest!(under_user_the_broker_uid_cannot_trace_the_helpers, |tree| {
    let account = Account::user();
    let broker = broker_as(&tree, &account);
    let script = tree.path("seize.py");
    std::fs::write(&script, SEIZE).unwrap();
    let seize = |pid: u32| {
        tree.cmd(Path::new("/usr/bin/python3"))
            .user(account.client())
            .arg(&script)
            .arg(pid.to_string())
            .run()
    };
    for name in HELPERS {
        seize(broker.helper(name)).code_is(0).stdout_is("EPERM\n");
    }
    // The check itself: a dumpable process of the same uid can be attached.
    let mut other = tree
        .cmd(Path::new("sleep"))
        .user(account.client())
        .arg("60")
        .spawn();
    let pid = other.id();
    wait_until(Duration::from_secs(10), || {
        (status_field(pid, "Name")? == "sleep").then_some(())
    })
    .expect("setpriv runs sleep");
    let attached = seize(pid);
    other.kill().expect("kill sleep");
    other.wait().expect("reap sleep");
    attached.code_is(0).stdout_is("attached\n");
});

// --print-privileges says which uid each helper runs as.
itest!(print_privileges_shows_the_helpers_uid, |tree| {
    tree.private_file("data/a.txt", b"alpha\n");
    let account = Account::user();
    let uid = account.id();
    let out = Broker::print_privileges(&tree, &alice_reads(&tree), &["--user", account.name()]);
    let text = out.stdout_str();
    for helper in ["name resolver", "process reader"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{helper}:")))
            .unwrap_or_else(|| panic!("no {helper} line:\n{text}"));
        assert!(line.contains(&format!("as uid {uid} ")), "{line}");
    }
    let out = Broker::print_privileges(&tree, &alice_reads(&tree), &[]);
    let text = out.stdout_str();
    assert_eq!(text.matches("as uid 65534 ").count(), 2, "{text}");
});
