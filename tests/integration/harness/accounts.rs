//! Real accounts, for the tests of name resolution: a user or group added with `useradd` or
//! `groupadd` (which, like `usermod`, `passwd` and `vipw`, replace `/etc/passwd` or
//! `/etc/group` by renaming a new file over the old one), removed by its guard on drop,
//! even when the test fails.

use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::run::User;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The account tools lock the databases, and give up when another holds the lock for too
/// long: tests running in parallel take turns.
static TOOLS: Mutex<()> = Mutex::new(());

/// A user or group that exists in the system databases while the guard lives.
#[derive(Debug)]
pub struct Account {
    /// `user` or `group`, for the tools' names.
    kind: &'static str,
    name: String,
    /// The uid or gid.
    id: u32,
    /// A user's primary gid (a group's own gid).
    gid: u32,
}

impl Account {
    /// A new user (no home, no login shell) in the default group, named uniquely for this
    /// run.
    pub fn user() -> Account {
        let name = unique_name();
        tool(
            "useradd",
            &[
                "--no-create-home",
                "--no-user-group",
                "--shell",
                "/usr/sbin/nologin",
                &name,
            ],
        );
        let entry = getent("passwd", &name);
        let field = |i: usize| entry[i].parse().expect("numeric id in passwd");
        let (id, gid) = (field(2), field(3));
        Account {
            kind: "user",
            name,
            id,
            gid,
        }
    }

    /// A new group, named uniquely for this run.
    pub fn group() -> Account {
        let name = unique_name();
        tool("groupadd", &[&name]);
        let id = getent("group", &name)[2]
            .parse()
            .expect("numeric id in group");
        Account {
            kind: "group",
            name,
            id,
            gid: id,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The uid or gid.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// A user's primary gid (a group's own gid).
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// Adds this user to `group` as a supplementary group (`usermod -aG`).
    pub fn join(&self, group: &Account) {
        assert_eq!(self.kind, "user", "{} is a group", self.name);
        assert_eq!(group.kind, "group", "{} is a user", group.name);
        tool("usermod", &["-aG", &group.name, &self.name]);
    }

    /// A user's identity as a client: its uid and primary gid, no supplementary groups.
    pub fn client(&self) -> User {
        assert_eq!(self.kind, "user", "{} is a group", self.name);
        User {
            uid: self.id,
            gid: self.gid,
            groups: &[],
        }
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        let del = format!("{}del", self.kind);
        let _guard = TOOLS.lock().unwrap_or_else(|e| e.into_inner());
        match Command::new(&del).arg(&self.name).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "{del} {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("{del} {}: {e}", self.name),
        }
    }
}

/// A name no account has: the test binary's pid and a counter (account names are at most
/// 32 characters, lowercase).
fn unique_name() -> String {
    format!(
        "fdbt{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs an account tool, failing the test with its output if it fails.
fn tool(program: &str, args: &[&str]) {
    let _guard = TOOLS.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The fields of `name`'s entry in `database` (`getent`, so as the system resolves it).
fn getent(database: &str, name: &str) -> Vec<String> {
    let out = Command::new("getent")
        .args([database, name])
        .output()
        .unwrap_or_else(|e| panic!("run getent: {e}"));
    assert!(out.status.success(), "getent {database} {name}: not found");
    String::from_utf8(out.stdout)
        .expect("UTF-8 entry")
        .trim_end()
        .split(':')
        .map(str::to_owned)
        .collect()
}
