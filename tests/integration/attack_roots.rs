//! Swapping a grant's root before the broker starts. A user who owns the parent of a
//! rule's root can put anything there: a symlink to `/`, a regular file, a dangling
//! symlink, or nothing. None of it may widen the broker's Landlock confinement (to `/`,
//! or to an ancestor of the root) or stop the broker: such a rule is inactive, reported
//! at start, by `--print-privileges` and by `check --verbose`, and serves nothing; the
//! other rules serve.

use crate::harness::{ALICE, Broker, Policy, Tree, audit_fail, itest, write_policy};

/// The rules whose roots alice swapped, each with what she put there.
const SWAPPED: [(&str, &str); 4] = [
    ("to-root", "a symbolic link to /"),
    ("file", "a regular file"),
    ("dangling", "a dangling symbolic link"),
    ("missing", "nothing"),
];

/// `data/` is root's, with `a.txt`; `home/` is alice's, and in it she made `to-root` a
/// symlink to `/`, `file` a regular file, `dangling` a symlink to nothing and left
/// `missing` out. Alice may read and list `data/**` ("good") and each `home/NAME/**`.
fn setup(tree: &Tree) -> String {
    tree.private_file("data/a.txt", b"alpha\n");
    tree.dir("home", 0o755);
    tree.symlink("home/to-root", "/");
    tree.file("home/file", b"not a directory\n", 0o644);
    tree.symlink("home/dangling", tree.path("home/nowhere"));
    for rel in ["home", "home/file"] {
        tree.chown(rel, ALICE.uid, ALICE.gid);
    }
    let mut policy = Policy::new()
        .allow("good")
        .users(&[ALICE])
        .paths(&[tree.p("data/**")])
        .access("read,list");
    for (name, _) in SWAPPED {
        policy = policy
            .allow(name)
            .users(&[ALICE])
            .paths(&[tree.p(&format!("home/{name}/**"))])
            .access("read,list");
    }
    policy.to_string()
}

// `--print-privileges` shows no Landlock rule on `/` nor on any swapped root or its
// parent, and lists every swapped rule as inactive.
itest!(swapped_roots_never_widen_landlock, |tree| {
    let policy = setup(&tree);
    let out = Broker::print_privileges(&tree, &policy, &["--socket", &tree.p("never.sock")]);
    out.code_is(0);
    let stdout = out.stdout_str();
    let home = tree.p("home");
    for line in stdout
        .lines()
        .filter(|l| l.starts_with("  ") && l.contains(" ["))
    {
        assert!(
            !line.starts_with("  / ") && !line.starts_with(&format!("  {home}")),
            "a Landlock rule beyond the policy: {line}\n{stdout}"
        );
    }
    for (name, what) in SWAPPED {
        assert!(
            stdout.contains(&format!("inactive: rule \"{name}\"")),
            "rule {name:?} ({what}) not reported inactive:\n{stdout}"
        );
    }
});

// The broker starts (it used to exit, `cannot apply Landlock`), warns about each
// swapped rule by name, and serves the good rule. A swapped rule serves nothing, even
// once its root is a real directory (alice makes `missing/` with a file in it): the
// open fails with the audit reason. A reload of the same policy is accepted, and the
// swapped rules stay inactive.
itest!(
    swapped_roots_leave_their_rules_inactive_and_the_others_serve,
    |tree| {
        let policy = setup(&tree);
        let broker = Broker::start(&tree, &policy);
        let log = broker.log();
        for (name, what) in SWAPPED {
            assert!(
                log.lines()
                    .any(|l| l.contains("WARN")
                        && l.contains(&format!("rule \"{name}\" is inactive"))),
                "no start-up warning for rule {name:?} ({what}):\n{log}"
            );
        }
        let cat = |rel: &str| broker.cat(ALICE, &tree.p(rel));
        cat("data/a.txt").code_is(0).stdout_is("alpha\n");
        cat("home/to-root/etc/hostname").code_is(74).stdout_is("");

        tree.dir("home/missing", 0o755);
        tree.file("home/missing/x", b"made later\n", 0o644);
        tree.chown("home/missing", ALICE.uid, ALICE.gid);
        let out = cat("home/missing/x");
        out.code_is(74).stdout_is("");
        let path = tree.p("home/missing/x");
        let line = audit_fail(ALICE, out.pid, "read", &path, "missing", "EACCES");
        broker.expect_log(&format!("{line}the rule is inactive"));

        let log = broker.hup();
        assert!(log.contains("policy reloaded from"), "{log}");
        cat("data/a.txt").code_is(0).stdout_is("alpha\n");
        cat("home/missing/x").code_is(74).stdout_is("");

        // Root's status names each inactive rule and why, in text and in JSON.
        let status = broker.fdagent_root().arg("status").run();
        let text = status.code_is(0).stdout_str();
        let home = tree.p("home");
        assert!(
            text.contains(&format!(
                "missing (inactive: its root {home}/missing does not exist)"
            )),
            "{text}"
        );
        for (name, _) in SWAPPED {
            assert!(
                text.contains(&format!("{name} (inactive: its root ")),
                "{name}: {text}"
            );
        }
        let json = broker.fdagent_root().args(["status", "--json"]).run();
        let json: serde_json::Value = serde_json::from_str(&json.code_is(0).stdout_str()).unwrap();
        let rules = json["rules"].as_array().expect("rules");
        let inactive = |name: &str| {
            let rule = rules.iter().find(|r| r["name"] == name).expect(name);
            rule["inactive"].as_str().map(str::to_owned)
        };
        assert_eq!(inactive("good"), None, "{json}");
        assert_eq!(
            inactive("missing").as_deref(),
            Some(format!("its root {home}/missing does not exist").as_str())
        );
    }
);

// `check --verbose` warns, at each rule, about a root reached through a symbolic link
// (every request would fail with `ELOOP`), a root that is not a directory, a missing
// root, and a root whose ancestor someone other than root can write (here: alice owns
// `home/`); the policy is still valid.
itest!(
    check_verbose_warns_about_unusable_and_swappable_roots,
    |tree| {
        let policy = setup(&tree);
        let file = tree.p("policy.toml");
        write_policy(&tree.path("policy.toml"), &policy);
        let out = tree
            .cmd(&tree.bin("fdbroker"))
            .args(["check", "--verbose", &file])
            .run();
        out.code_is(0);
        let stdout = out.stdout_str();
        let home = tree.p("home");
        let warning = |line: u32, text: String| {
            assert!(
                stdout.contains(&format!("{file}:{line}: warning: {text}")),
                "expected {text:?} at line {line} in:\n{stdout}"
            );
        };
        warning(
            9,
            format!(
                "rule \"to-root\" is inactive: its root {home}/to-root is reached through a symbolic link"
            ),
        );
        warning(
            15,
            format!("rule \"file\" is inactive: its root {home}/file is not a directory"),
        );
        warning(
            21,
            format!(
                "rule \"dangling\" is inactive: its root {home}/dangling is reached through a symbolic link"
            ),
        );
        warning(
            27,
            format!("rule \"missing\" is inactive: its root {home}/missing does not exist"),
        );
        for (line, (name, _)) in [9, 15, 21, 27].into_iter().zip(SWAPPED) {
            warning(
                line,
                format!(
                    "rule \"{name}\": {home} is owned by uid 2001, who can replace {home}/{name}"
                ),
            );
        }
        assert!(
            !stdout.contains(&format!("{file}:3: warning")),
            "a warning about the good rule:\n{stdout}"
        );
    }
);

// A `create` rule naming one file (no wildcard) has that file's directory as its root,
// since the file need not exist yet: the rule is active, and alice creates the file.
itest!(a_create_rule_naming_one_missing_file_is_active, |tree| {
    tree.dir("spool", 0o700);
    let path = tree.p("spool/new.eml");
    let policy = Policy::new()
        .allow("drop")
        .users(&[ALICE])
        .paths(&[&path])
        .access("write,create")
        .to_string();
    let broker = Broker::start(&tree, &policy);
    broker
        .fdagent(ALICE)
        .args(["open", "--access", "write,create", "--write-stdin", &path])
        .stdin(b"mail\n")
        .run()
        .code_is(0);
    assert_eq!(tree.read("spool/new.eml"), b"mail\n");
    let log = broker.log();
    assert!(!log.contains("is inactive"), "{log}");
});

// In a batch too, a path an inactive rule allows is not served (`Io`, `EACCES`, with the
// audit reason), and the other paths are.
itest!(an_inactive_rule_serves_nothing_in_a_batch_either, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    tree.dir("home/missing", 0o755);
    tree.file("home/missing/x", b"made later\n", 0o644);
    tree.file("home/missing/y", b"made later\n", 0o644);
    let [a, x, y] = ["data/a.txt", "home/missing/x", "home/missing/y"].map(|rel| tree.p(rel));
    let out = broker.fdagent(ALICE).args(["cat", &a, &x, &y, &a]).run();
    out.code_is(74).stdout_is("alpha\nalpha\n");
    for path in [&x, &y] {
        let line = audit_fail(ALICE, out.pid, "read", path, "missing", "EACCES");
        broker.expect_log(&format!("{line}the rule is inactive"));
    }
});
