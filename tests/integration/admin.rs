//! The admin commands: `fdbroker check` points at every error as FILE:LINE:COL, and
//! `fdbroker explain` names the rule that decides (or the default deny).

use crate::harness::{ALICE, Account, Output, Policy, SCANNERS, Tree, itest, write_policy};

/// Runs `fdbroker ARGS` (as root, no broker involved).
fn fdbroker(tree: &Tree, args: &[&str]) -> Output {
    tree.cmd(&tree.bin("fdbroker")).args(args).run()
}

itest!(check_accepts_a_good_policy, |tree| {
    let file = tree.p("good.toml");
    write_policy(
        tree.path("good.toml").as_ref(),
        &Policy::new()
            .allow("a")
            .users(&[ALICE])
            .paths(&["/srv/**"])
            .access("read")
            .allow("b")
            .groups(&[SCANNERS])
            .paths(&["/srv/x/*"])
            .access("write,create")
            .create_mode(0o640)
            .to_string(),
    );
    fdbroker(&tree, &["check", &file])
        .code_is(0)
        .stdout_is(format!("{file}: ok (2 rules)\n"))
        .no_stderr();
});

// One rule is counted in the singular, as the administrator's first rule is.
itest!(check_counts_one_rule_in_the_singular, |tree| {
    let file = tree.p("one.toml");
    let one = Policy::new()
        .allow("a")
        .users(&[ALICE])
        .paths(&["/srv/**"])
        .access("read");
    write_policy(tree.path("one.toml").as_ref(), &one.to_string());
    fdbroker(&tree, &["check", &file])
        .code_is(0)
        .stdout_is(format!("{file}: ok (1 rule)\n"))
        .no_stderr();
});

// Every error is reported, one line each, at the value at fault.
itest!(check_reports_every_error_at_file_line_col, |tree| {
    let file = tree.p("bad.toml");
    let text = [
        "version = 1",                   // 1
        "",                              // 2
        "[[rule]]",                      // 3
        "name = \"first\"",              // 4
        "users = [2001]",                // 5
        "paths = [\"/srv/**\"]",         // 6
        "access = [\"read\", \"exec\"]", // 7: unknown access word, col 19
        "",                              // 8
        "[[rule]]",                      // 9
        "name = \"second\"",             // 10
        "users = [2001]",                // 11
        "paths = [\"relative/**\"]",     // 12: not absolute, col 10
        "access = [\"read\"]",           // 13
        "effect = \"maybe\"",            // 14: unknown effect, col 10
        "",                              // 15
        "[[rule]]",                      // 16
        "name = \"first\"",              // 17: duplicate name, col 8
        "users = [2001]",                // 18
        "paths = [\"/srv/**\"]",         // 19
        "access = [\"read\"]",           // 20
    ]
    .join("\n");
    write_policy(tree.path("bad.toml").as_ref(), &text);
    let out = fdbroker(&tree, &["check", &file]);
    out.code_is(1).stdout_is("");
    let expected = [
        (format!("{file}:7:19: "), "exec"),
        (format!("{file}:12:10: "), "relative/**"),
        (format!("{file}:14:10: "), "maybe"),
        (format!("{file}:17:8: "), "first"),
    ];
    let lines: Vec<&str> = out.stderr.lines().collect();
    if lines.len() != expected.len() {
        out.fail("expected exactly one stderr line per error");
    }
    for (prefix, word) in &expected {
        if !lines
            .iter()
            .any(|l| l.starts_with(prefix.as_str()) && l.contains(word))
        {
            out.fail(&format!(
                "expected a line starting {prefix:?} mentioning {word:?}"
            ));
        }
    }
});

// A misspelled key, access word or effect is answered with the word meant, at its place.
itest!(check_suggests_the_word_meant_for_a_misspelling, |tree| {
    let file = tree.p("typos.toml");
    let text = [
        "version = 1",                         // 1
        "[[rule]]",                            // 2
        "name = \"typos\"",                    // 3
        "users = [2001]",                      // 4
        "paths = [\"/srv/**\"]",               // 5
        "acess = [\"read\"]",                  // 6: col 1
        "access = [\"raed\", \"create-new\"]", // 7: cols 11, 19
        "paht = [\"/srv\"]",                   // 8: col 1
        "effect = \"alow\"",                   // 9: col 10
    ]
    .join("\n");
    write_policy(tree.path("typos.toml").as_ref(), &text);
    let out = fdbroker(&tree, &["check", &file]);
    out.code_is(1).stdout_is("");
    for line in [
        "6:1: unknown key \"acess\" in a [[rule]] (did you mean \"access\"?)",
        "7:11: unknown access word \"raed\" (did you mean \"read\"?)",
        "7:19: unknown access word \"create-new\" (did you mean \"create_new\"?)",
        "8:1: unknown key \"paht\" in a [[rule]] (did you mean \"paths\"?)",
        "9:10: unknown effect \"alow\" (did you mean \"allow\"?)",
    ] {
        out.stderr_has(&format!("{file}:{line}\n"));
    }
});

itest!(check_reports_a_toml_syntax_error_with_its_line, |tree| {
    let file = tree.p("broken.toml");
    write_policy(
        tree.path("broken.toml").as_ref(),
        "version = 1\n\n[[rule]\nname = \"x\"\n",
    );
    let out = fdbroker(&tree, &["check", &file]);
    out.code_is(1)
        .stdout_is("")
        .stderr_has(&format!("{file}:3:"));
});

fn explain_setup(tree: &Tree) -> String {
    let file = tree.p("policy.toml");
    write_policy(
        tree.path("policy.toml").as_ref(),
        &Policy::new()
            .allow("alice-reads")
            .users(&[ALICE])
            .paths(&["/srv/data/**"])
            .access("read")
            .allow("scanners-read-shared")
            .groups(&[SCANNERS])
            .paths(&["/srv/data/shared/**"])
            .access("read")
            .deny("no-secrets")
            .everyone()
            .paths(&["/srv/data/secret/**"])
            .access("read,write")
            .to_string(),
    );
    file
}

/// Runs `fdbroker explain --policy FILE ARGS` (ARGS split on whitespace).
fn explain(tree: &Tree, file: &str, args: &str) -> Output {
    let mut all = vec!["explain", "--policy", file];
    all.extend(args.split_whitespace());
    fdbroker(tree, &all)
}

itest!(
    explain_names_the_deciding_rule_or_the_default_deny,
    |tree| {
        let file = explain_setup(&tree);
        let default_deny = "deny (no rule matched: default deny)\n";
        let alice = "allow (rule \"alice-reads\")\n";
        let scanners = "allow (rule \"scanners-read-shared\")\n";
        // `--uid` alone: these uids have no passwd entry, hence no groups.
        let alone = |decision: &str, uid: u32| {
            format!(
                "{decision}as uid {uid} (no passwd entry, so no groups; give them with --gid and --groups)\n"
            )
        };
        let cases = [
            (
                "--uid 2001 --access read /srv/data/x",
                alone(alice, 2001),
                0,
            ),
            (
                "--uid 2002 --access read /srv/data/x",
                alone(default_deny, 2002),
                1,
            ),
            (
                "--uid 2001 --access read /srv/data/secret/k",
                alone("deny (rule \"no-secrets\")\n", 2001),
                1,
            ),
            // A grant must cover every requested word.
            (
                "--uid 2001 --access read,write /srv/data/x",
                alone(default_deny, 2001),
                1,
            ),
            // Groups: supplementary, primary, and neither.
            (
                "--uid 2003 --gid 2003 --groups 2099,2100 --access read /srv/data/shared/f",
                scanners.to_owned(),
                0,
            ),
            (
                "--uid 2003 --gid 2100 --access read /srv/data/shared/f",
                scanners.to_owned(),
                0,
            ),
            (
                "--uid 2003 --gid 2003 --access read /srv/data/shared/f",
                default_deny.to_owned(),
                1,
            ),
            // Root is not special.
            (
                "--uid 0 --gid 0 --access read /srv/data/x",
                default_deny.to_owned(),
                1,
            ),
        ];
        for (args, stdout, code) in cases {
            explain(&tree, &file, args).code_is(code).stdout_is(stdout);
        }
    }
);

itest!(explain_usage_errors_exit_2, |tree| {
    let file = explain_setup(&tree);
    explain(&tree, &file, "--access read /srv/data/x").code_is(2); // no --uid
    explain(&tree, &file, "--uid 2001 --access exec /srv/data/x").code_is(2);
});

// `check --verbose` shows the rules as loaded (names resolved to ids), the capabilities
// they imply, and warns about risky grants; warnings do not make the policy invalid.
itest!(
    check_verbose_shows_rules_capabilities_and_warnings,
    |tree| {
        tree.dir("drop", 0o755);
        let file = tree.p("p.toml");
        let drop = tree.p("drop");
        write_policy(
            tree.path("p.toml").as_ref(),
            &Policy::new()
                .allow("root-etc")
                .users(&["root"])
                .paths(&["/etc/**"])
                .access("read")
                .allow("drop")
                .everyone()
                .paths(&[format!("{drop}/*")])
                .access("write,create")
                .create_mode(0o640)
                .to_string(),
        );
        let out = fdbroker(&tree, &["check", "--verbose", &file]);
        out.code_is(0);
        let expected = format!(
            "{file}: ok (2 rules)\n\
         rule \"root-etc\" (line 3): allow users=[0] paths=[\"/etc/**\"] access=read\n\
         rule \"drop\" (line 9): allow users=[*] paths=[\"{drop}/*\"] access=write,create create_mode=0o640\n\
         capabilities: CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_DAC_READ_SEARCH\n\
         {file}:3: warning: rule \"root-etc\" grants read on everything under /etc (/etc/**)\n\
         {file}:9: warning: rule \"drop\" grants write,create to every user (users = [\"*\"])\n"
        );
        out.stdout_is(expected);
    }
);

// `explain` takes user and group names, and `--peer-of PID` explains for a running
// process's credentials, as the broker would see them at connect time.
itest!(explain_accepts_names_and_running_processes, |tree| {
    let file = tree.p("p.toml");
    write_policy(
        tree.path("p.toml").as_ref(),
        &Policy::new()
            .allow("daemon-group")
            .groups(&["daemon"])
            .paths(&["/srv/**"])
            .access("read")
            .to_string(),
    );
    let explain = |who: &[&str]| {
        let mut args = vec!["explain", "--policy", &file, "--access", "read"];
        args.extend_from_slice(who);
        args.push("/srv/a");
        fdbroker(&tree, &args)
    };
    explain(&["--uid", "root", "--groups", "daemon"])
        .code_is(0)
        .stdout_is("allow (rule \"daemon-group\")\n");
    explain(&["--uid", "root", "--gid", "root"]).code_is(1);
    explain(&["--uid", "no-such-user"])
        .code_is(3)
        .stderr_has("unknown user \"no-such-user\"");

    // A process running as uid 2001 with the daemon group (gid 1) as a supplementary group.
    let mut child = std::process::Command::new("setpriv")
        .args([
            "--reuid=2001",
            "--regid=2001",
            "--groups=1",
            "--",
            "sleep",
            "30",
        ])
        .spawn()
        .expect("spawn sleep");
    let pid = child.id().to_string();
    let seen = crate::harness::wait_until(std::time::Duration::from_secs(5), || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status.contains("Uid:\t2001").then_some(())
    });
    let out = explain(&["--peer-of", &pid]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.is_some(), "the child never ran as uid 2001");
    out.code_is(0).stdout_is("allow (rule \"daemon-group\")\n");
});

// Without --gid or --groups, `explain --uid USER` takes the user's groups from the user
// and group databases, as a login (`initgroups`) would, and says which it used; a uid with
// no passwd entry has none to take, and it says so.
itest!(explain_takes_the_users_groups_from_the_databases, |tree| {
    let user = Account::user();
    let group = Account::group();
    user.join(&group);
    let file = tree.p("p.toml");
    write_policy(
        tree.path("p.toml").as_ref(),
        &Policy::new()
            .allow("by-group")
            .groups(&[group.name()])
            .paths(&["/srv/**"])
            .access("read")
            .to_string(),
    );
    let mut groups = [user.gid(), group.id()];
    groups.sort_unstable();
    let identity = format!(
        "as uid {} ({}), gid {}, groups {},{} (from the group database)\n",
        user.id(),
        user.name(),
        user.gid(),
        groups[0],
        groups[1]
    );
    let allowed = format!("allow (rule \"by-group\")\n{identity}");
    for who in [user.name().to_owned(), user.id().to_string()] {
        let args = ["--uid", &who, "--access", "read", "/srv/a"];
        explain(&tree, &file, &args.join(" "))
            .code_is(0)
            .stdout_is(&allowed);
    }
    // Given groups are the only ones considered.
    let given = format!(
        "--uid {} --gid {} --access read /srv/a",
        user.name(),
        user.gid()
    );
    explain(&tree, &file, &given)
        .code_is(1)
        .stdout_is("deny (no rule matched: default deny)\n");
    explain(&tree, &file, "--uid 2003 --access read /srv/a")
        .code_is(1)
        .stdout_is(
            "deny (no rule matched: default deny)\n\
             as uid 2003 (no passwd entry, so no groups; give them with --gid and --groups)\n",
        );
});

// A user with subordinate uids (`/etc/subuid`) can connect as one of them, and one with
// subordinate gids (`/etc/subgid`) can drop its groups: `check --verbose` warns of each
// deny rule by user or group that such a user escapes, naming the entry, by name or by
// numeric id. The files are given with `--subuid`/`--subgid`, as for another system's.
itest!(
    check_verbose_warns_of_deny_rules_subordinate_ids_escape,
    |tree| {
        tree.file("subuid", b"2001:200000:65536\nnobody:300000:65536\n", 0o644);
        tree.file("subgid", b"2003:200000:65536\n", 0o644);
        // Seven lines a rule: the deny rules start at lines 9, 16, 23 and 30.
        let secret = ["/srv/secret/**"];
        let policy = Policy::new()
            .allow("everyone")
            .everyone()
            .paths(&["/srv/**"])
            .access("read")
            .deny("no-2001")
            .users(&[2001])
            .paths(&secret)
            .access("read")
            .deny("no-nobody")
            .users(&["nobody"])
            .paths(&secret)
            .access("read")
            .deny("no-2002")
            .users(&[2002])
            .paths(&secret)
            .access("read")
            .deny("no-scanners")
            .groups(&[2100])
            .paths(&secret)
            .access("read")
            .to_string();
        let file = tree.p("p.toml");
        write_policy(tree.path("p.toml").as_ref(), &policy);
        let (subuid, subgid) = (tree.p("subuid"), tree.p("subgid"));
        let out = fdbroker(
            &tree,
            &[
                "check",
                "--verbose",
                "--subuid",
                &subuid,
                "--subgid",
                &subgid,
                &file,
            ],
        );
        out.code_is(0);
        let stdout = out.stdout_str();
        let warnings: Vec<&str> = stdout.lines().filter(|l| l.contains("warning")).collect();
        let expected = [
            (format!("{file}:9: warning: deny rule \"no-2001\""), "2001"),
            (
                format!("{file}:16: warning: deny rule \"no-nobody\""),
                "nobody",
            ),
            (
                format!("{file}:30: warning: deny rule \"no-scanners\""),
                "2003",
            ),
        ];
        if warnings.len() != expected.len() {
            out.fail("expected exactly one warning per escapable deny rule");
        }
        for ((prefix, entry), line) in expected.iter().zip(&warnings) {
            let file = if prefix.contains("scanners") {
                &subgid
            } else {
                &subuid
            };
            if !(line.starts_with(prefix.as_str())
                && line.contains(entry)
                && line.contains(file.as_str()))
            {
                out.fail(&format!(
                    "expected a warning {prefix:?} naming {entry:?} in {file}"
                ));
            }
        }
    }
);
