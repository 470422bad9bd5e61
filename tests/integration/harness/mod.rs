//! The test harness: `itest!` (a root test with a fresh temp tree, [`Tree`]), a real
//! broker started and stopped by a guard ([`Broker`]), policies built in code
//! ([`Policy`]), clients run as unprivileged uids with a timeout ([`Cmd`], [`Output`]), a
//! raw protocol connection ([`RawConn`]) and the exact audit lines the broker must log.

mod accounts;
mod bins;
mod broker;
mod cgroup;
mod policy;
mod raw;
mod run;
mod seccomp;
mod tree;

use std::io::Write;
use std::time::{Duration, Instant};

pub use accounts::Account;
pub use bins::{bin as built_bin, c_lib_dir, example as built_example};
pub use broker::{Broker, INHERITED_FD, Launch, status_field, write_policy};
pub use cgroup::TestCgroup;
pub use policy::Policy;
pub use raw::{RawConn, encode, read};
pub use run::{Cmd, Output, User};
pub use seccomp::Seccomp;
pub use tree::Tree;

/// Shared group id that some policies grant; CAROL has it only as a supplementary group.
pub const SCANNERS: u32 = 2100;

/// The ordinary client: uid and primary gid 2001, no supplementary groups.
pub const ALICE: User = User {
    uid: 2001,
    gid: 2001,
    groups: &[],
};

/// Another uid, named by no allow rule unless a test says so.
pub const BOB: User = User {
    uid: 2002,
    gid: 2002,
    groups: &[],
};

/// A uid whose primary gid is her own and who is in [`SCANNERS`] only as a supplementary
/// group (next to an unrelated one), to test `SO_PEERGROUPS`.
pub const CAROL: User = User {
    uid: 2003,
    gid: 2003,
    groups: &[2099, SCANNERS],
};

/// Calls `f` every few milliseconds until it returns `Some`, for at most `timeout`.
/// Polling a condition, never sleeping a fixed time, is how tests synchronize.
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(value) = f() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}

/// Runs `f` on another thread and fails the test if it does not finish within `timeout`,
/// so an in-process client call that never returns cannot hang the suite.
#[track_caller]
pub fn within<T: Send + 'static>(timeout: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(timeout) {
        Ok(value) => value,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("no result within {timeout:?}"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("the call panicked"),
    }
}

/// True if the tools a test needs are there (`missing` is `None`); otherwise prints a SKIP
/// line saying what is missing and returns false, unless `FDBROKER_REQUIRE_ROOT` is set (as
/// in CI, which installs them), where a missing tool fails the test.
pub fn tools_or_skip(test: &str, missing: Option<String>) -> bool {
    let Some(why) = missing else {
        return true;
    };
    if std::env::var_os("FDBROKER_REQUIRE_ROOT").is_some() {
        panic!("{test}: FDBROKER_REQUIRE_ROOT is set but {why}");
    }
    // Straight to the stderr handle: the test runner hides `eprintln!` of passing tests.
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
    false
}

/// True if the tests can run: as root always; otherwise prints a SKIP line and returns
/// false, unless `FDBROKER_REQUIRE_ROOT` is set (as in CI), where not being root fails.
pub fn root_or_skip(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("FDBROKER_REQUIRE_ROOT").is_some() {
        panic!("{test}: FDBROKER_REQUIRE_ROOT is set but the tests are not running as root");
    }
    // Straight to the stderr handle, not `eprintln!`, which the test runner captures and
    // hides for passing tests: a skip must be visible.
    let _ = writeln!(
        std::io::stderr(),
        "SKIP {test}: needs root to run clients under distinct uids"
    );
    false
}

/// First line of every test: returns early (skips) when not root, see [`root_or_skip`].
macro_rules! require_root {
    () => {
        if !$crate::harness::root_or_skip({
            fn f() {}
            // `integration::module::test::f` -> `module::test`, as the test runner names it.
            let name = std::any::type_name_of_val(&f);
            let name = name.strip_suffix("::f").unwrap_or(name);
            name.split_once("::").map_or(name, |(_, test)| test)
        }) {
            return;
        }
    };
}
pub(crate) use require_root;

/// A test that needs root and a fresh [`Tree`], in the spirit of ripgrep's `rgtest!`:
/// `itest!(name, |tree| { ... });` is `#[test] fn name()` whose first lines are
/// [`require_root!`] and `let tree = Tree::new();`. `itest!(name, || { ... });` is for a
/// test that makes its trees itself (one per case).
macro_rules! itest {
    ($name:ident, || $body:block) => {
        #[test]
        fn $name() {
            $crate::harness::require_root!();
            $body
        }
    };
    ($name:ident, |$tree:ident| $body:block) => {
        #[test]
        fn $name() {
            $crate::harness::require_root!();
            let $tree = $crate::harness::Tree::new();
            $body
        }
    };
}
pub(crate) use itest;

/// The commonest policy: [`ALICE`] may read `tree/data/**`, by the rule `alice-reads`.
pub fn alice_reads(tree: &Tree) -> String {
    Policy::new()
        .allow("alice-reads")
        .users(&[ALICE])
        .paths(&[tree.p("data/**")])
        .access("read")
        .to_string()
}

/// The scanner's policy over `tree/uploads`: uid 2001 ([`ALICE`]) may read and list it,
/// except the `held` subtree, which is denied to everyone.
pub fn scanner_policy(tree: &Tree) -> String {
    let up = tree.p("uploads");
    Policy::new()
        .allow("scanner")
        .users(&[ALICE])
        .paths(&[format!("{up}/**")])
        .access("read,list")
        .deny("held")
        .everyone()
        .paths(&[format!("{up}/held/**")])
        .access("read,list")
        .to_string()
}

/// The exact audit line of an allowed open.
pub fn audit_allow(user: User, pid: u32, access: &str, path: &str, rule: &str) -> String {
    format!(
        "allow op=open uid={} gid={} pid={pid} access={access} path={path:?} rule={rule:?}",
        user.uid, user.gid
    )
}

/// The exact audit line of an allowed open that created the file (`op=create`).
pub fn audit_create(user: User, pid: u32, access: &str, path: &str, rule: &str) -> String {
    audit_allow(user, pid, access, path, rule).replacen(" op=open ", " op=create ", 1)
}

/// The audit line of a policy denial, up to the free-text reason: `rule=-` for the
/// default deny, `rule="NAME"` for a deny rule.
pub fn audit_deny(user: User, pid: u32, access: &str, path: &str, rule: Option<&str>) -> String {
    let rule = rule.map_or("-".to_owned(), |r| format!("{r:?}"));
    format!(
        "deny op=open uid={} gid={} pid={pid} access={access} path={path:?} rule={rule} errno=EACCES reason=\"",
        user.uid, user.gid
    )
}

/// The audit line of an open that the policy allowed but that failed (`ENOENT`, `ELOOP`,
/// `ENXIO`, ...), up to the free-text reason.
pub fn audit_fail(
    user: User,
    pid: u32,
    access: &str,
    path: &str,
    rule: &str,
    errno: &str,
) -> String {
    format!(
        "fail op=open uid={} gid={} pid={pid} access={access} path={path:?} rule={rule:?} errno={errno} reason=\"",
        user.uid, user.gid
    )
}
