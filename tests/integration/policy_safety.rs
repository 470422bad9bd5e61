//! A policy file someone other than root could have written grants whatever they like:
//! the broker refuses it at start (`serve` exits 3), at reload (the old policy stays) and
//! in `check` (exit 1), with `refusing to load` and the reason. Unsafe means: the file or
//! its directory writable by group or others, or owned by a uid other than root, or the
//! path a symbolic link. Each refusal ends with the command or step that fixes it, naming
//! the path; a missing file says `no such file`.

use std::path::Path;

use crate::harness::{ALICE, BOB, Broker, Policy, Tree, User, itest, write_policy};

/// One way a policy file can be unsafe, and the reason the broker must give.
#[derive(Debug, Clone, Copy)]
enum Unsafe {
    FileGroupWritable,
    FileWorldWritable,
    FileOwnedByAlice,
    DirGroupWritable,
    DirWorldWritable,
    DirOwnedByAlice,
    Symlink,
}

const CASES: [Unsafe; 7] = [
    Unsafe::FileGroupWritable,
    Unsafe::FileWorldWritable,
    Unsafe::FileOwnedByAlice,
    Unsafe::DirGroupWritable,
    Unsafe::DirWorldWritable,
    Unsafe::DirOwnedByAlice,
    Unsafe::Symlink,
];

impl Unsafe {
    /// What the refusal must name.
    fn reason(self) -> &'static str {
        match self {
            Unsafe::FileGroupWritable
            | Unsafe::FileWorldWritable
            | Unsafe::DirGroupWritable
            | Unsafe::DirWorldWritable => "writable by group or others",
            Unsafe::FileOwnedByAlice | Unsafe::DirOwnedByAlice => "owned by uid 2001",
            Unsafe::Symlink => "symbolic link",
        }
    }

    /// The fix the refusal must end with, for the policy file `file`.
    fn fix(self, file: &str) -> String {
        let dir = Path::new(file)
            .parent()
            .expect("parent")
            .display()
            .to_string();
        match self {
            Unsafe::FileGroupWritable | Unsafe::FileWorldWritable => {
                format!("(fix: chmod go-w {file})")
            }
            Unsafe::DirGroupWritable | Unsafe::DirWorldWritable => {
                format!("(fix: chmod go-w {dir})")
            }
            Unsafe::FileOwnedByAlice => format!("(fix: chown root: {file})"),
            Unsafe::DirOwnedByAlice => format!(
                "(fix: chown root: {dir}, or move the file to a directory only root can \
                 write, such as /etc/fdbroker)"
            ),
            Unsafe::Symlink => {
                format!("(fix: name the real file, which `readlink -f {file}` prints)")
            }
        }
    }

    /// Makes `dir/name` (a root-owned 0600 file holding `text`, in a root-owned 0755
    /// directory, both relative to the tree) unsafe in this way.
    fn apply(self, tree: &Tree, dir: &str, name: &str, text: &str) {
        let file = if dir.is_empty() {
            name.to_owned()
        } else {
            format!("{dir}/{name}")
        };
        write_policy(&tree.path(&file), text);
        match self {
            Unsafe::FileGroupWritable => tree.chmod(&file, 0o620),
            Unsafe::FileWorldWritable => tree.chmod(&file, 0o602),
            Unsafe::FileOwnedByAlice => tree.chown(&file, ALICE.uid, ALICE.gid),
            Unsafe::DirGroupWritable => tree.chmod(dir, 0o775),
            Unsafe::DirWorldWritable => tree.chmod(dir, 0o757),
            Unsafe::DirOwnedByAlice => tree.chown(dir, ALICE.uid, ALICE.gid),
            Unsafe::Symlink => {
                // A safe file elsewhere, reached through a link at the policy path.
                let real = tree.path("real/policy.toml");
                if !real.parent().expect("parent").exists() {
                    tree.dir("real", 0o755);
                }
                write_policy(&real, text);
                std::fs::remove_file(tree.path(&file)).expect("rm policy");
                tree.symlink(&file, &real);
            }
        }
    }

    /// Makes the tree root and the policy file `name` in it safe again after a case was
    /// applied to them (`dir` empty).
    fn undo(self, tree: &Tree, name: &str) {
        tree.chmod("", 0o755);
        tree.chown("", 0, 0);
        let path = tree.path(name);
        if path.is_symlink() {
            std::fs::remove_file(&path).expect("rm symlink");
        } else {
            tree.chown(name, 0, 0);
            tree.chmod(name, 0o600);
        }
    }
}

/// A policy letting `user` read `data/**`.
fn policy(tree: &Tree, user: User) -> String {
    Policy::new()
        .allow("reader")
        .users(&[user])
        .paths(&[tree.p("data/**")])
        .access("read")
        .to_string()
}

/// A fresh tree with `data/a.txt` and a root-owned 0755 `etc/` for the policy.
fn setup(tree: &Tree) {
    tree.private_file("data/a.txt", b"alpha\n");
    tree.dir("etc", 0o755);
}

/// A fresh tree (see [`setup`]) whose `etc/policy.toml`, letting alice read, is unsafe as
/// `case` says; returns the tree and the file's path.
fn unsafe_policy_file(case: Unsafe) -> (Tree, String) {
    let tree = Tree::new();
    setup(&tree);
    case.apply(&tree, "etc", "policy.toml", &policy(&tree, ALICE));
    let file = tree.p("etc/policy.toml");
    (tree, file)
}

#[track_caller]
fn expect_refusal(stderr: &str, case: Unsafe, file: &str) {
    let fix = case.fix(file);
    for needle in [file, "refusing to load", case.reason(), &fix] {
        assert!(
            stderr.contains(needle),
            "{case:?}: expected {needle:?} in:\n{stderr}"
        );
    }
}

// `fdbroker serve` with an unsafe policy file exits 3 before serving, saying why on
// stderr (and creates no socket).
itest!(serve_refuses_an_unsafe_policy_file, || {
    for case in CASES {
        let (tree, file) = unsafe_policy_file(case);
        let socket = tree.p("fdbroker.sock");
        let out = tree
            .cmd(&tree.bin("fdbroker"))
            .args(["serve", "--policy", &file, "--socket", &socket])
            .timeout(std::time::Duration::from_secs(5))
            .run();
        out.code_is(3);
        expect_refusal(&out.stderr, case, &file);
        assert!(
            !tree.path("fdbroker.sock").exists(),
            "{case:?}: socket created"
        );
    }
});

// `fdbroker check` of an unsafe policy file exits 1 and says why.
itest!(check_refuses_an_unsafe_policy_file, || {
    for case in CASES {
        let (tree, file) = unsafe_policy_file(case);
        let out = tree.cmd(&tree.bin("fdbroker")).args(["check", &file]).run();
        out.code_is(1).stdout_is("");
        expect_refusal(&out.stderr, case, &file);
    }
});

// A SIGHUP after the policy file (or its directory, here the tree root) was made unsafe,
// with new contents that would grant bob instead of alice, is refused: the log says
// `policy reload failed, keeping the previous policy:`, `refusing to load` and why, and
// alice still reads while bob is still denied. Made safe again, the same file loads.
itest!(reload_refuses_an_unsafe_policy_file, |tree| {
    setup(&tree);
    let broker = Broker::start(&tree, &policy(&tree, ALICE));
    let file = broker.policy_path().display().to_string();
    let path = tree.p("data/a.txt");
    for case in CASES {
        case.apply(&tree, "", "policy.toml", &policy(&tree, BOB));
        let log = broker.hup();
        case.undo(&tree, "policy.toml");
        assert!(
            log.contains("policy reload failed, keeping the previous policy:"),
            "{case:?}: expected a failed reload in:\n{log}"
        );
        expect_refusal(&log, case, &file);
        broker.cat(ALICE, &path).code_is(0).stdout_is("alpha\n");
        broker.cat(BOB, &path).code_is(77);
    }
    let log = broker.reload(&policy(&tree, BOB));
    assert!(log.contains("policy reloaded from"), "{log}");
    broker.cat(BOB, &path).code_is(0).stdout_is("alpha\n");
});

// A policy file that does not exist is refused with `no such file`, by `check` (exit 1)
// and by `serve` (exit 3).
itest!(a_missing_policy_file_says_no_such_file, |tree| {
    setup(&tree);
    let file = tree.p("etc/policy.toml");
    let expected = format!("{file}: refusing to load: no such file");
    tree.cmd(&tree.bin("fdbroker"))
        .args(["check", &file])
        .run()
        .code_is(1)
        .stdout_is("")
        .stderr_has(&expected);
    let socket = tree.p("fdbroker.sock");
    tree.cmd(&tree.bin("fdbroker"))
        .args(["serve", "--policy", &file, "--socket", &socket])
        .timeout(std::time::Duration::from_secs(5))
        .run()
        .code_is(3)
        .stderr_has(&expected);
});

/// The policy file `serve`, `check` and `explain` read when none is named.
const DEFAULT_POLICY: &str = "/etc/fdbroker/policy.toml";

// Without `--policy` (or `check`'s FILE), `serve`, `check` and `explain` read
// /etc/fdbroker/policy.toml. This machine's real file is never written: where it does not
// exist, each command's refusal names it and says `no such file`; where it does, `check`
// reports on it by name and the other two at least accept the command line.
itest!(the_policy_file_defaults_to_etc_fdbroker, |tree| {
    let socket = tree.p("fdbroker.sock");
    let runs = [
        (vec!["check"], 1),
        (vec!["serve", "--print-privileges", "--socket", &socket], 3),
        (
            vec!["explain", "--uid", "0", "--access", "read", "/etc/hostname"],
            3,
        ),
    ];
    for (args, refused) in runs {
        let out = tree
            .cmd(&tree.bin("fdbroker"))
            .args(&args)
            .timeout(std::time::Duration::from_secs(5))
            .run();
        if Path::new(DEFAULT_POLICY).exists() {
            if out.code() == Some(2) {
                out.fail("usage error");
            }
            let both = format!("{}{}", out.stdout_str(), out.stderr);
            if args == ["check"] && !both.contains(DEFAULT_POLICY) {
                out.fail("expected the default policy file named");
            }
        } else {
            out.code_is(refused)
                .stderr_has(&format!("{DEFAULT_POLICY}: refusing to load: no such file"));
        }
    }
    assert!(!tree.path("fdbroker.sock").exists(), "socket created");
});
