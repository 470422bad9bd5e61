//! SIGHUP reloads: a valid policy takes effect, an invalid one is logged and ignored, and
//! one that would need a capability the broker already dropped is refused.

use std::io::Read;
use std::time::Duration;

use fdbroker_agent::{Access, Client};

use crate::harness::{ALICE, BOB, Broker, Policy, Tree, itest, within, write_policy};

/// A policy with one read rule for `uid` over `data/**`, plus a `list` rule so the
/// policy has two rules (the reload line's count is then unambiguous).
fn read_policy(tree: &Tree, uid: u32) -> String {
    let data = tree.p("data");
    Policy::new()
        .allow("reader")
        .users(&[uid])
        .paths(&[format!("{data}/**")])
        .access("read")
        .allow("lister")
        .users(&[uid])
        .paths(&[data])
        .access("list")
        .to_string()
}

/// A policy of one rule, `name`: alice may `access` `paths`.
fn alice_policy(name: &str, paths: &str, access: &str) -> String {
    Policy::new()
        .allow(name)
        .users(&[ALICE])
        .paths(&[paths])
        .access(access)
        .to_string()
}

fn setup(tree: &Tree) {
    tree.private_file("data/a.txt", b"alpha\n");
}

itest!(sighup_with_a_valid_policy_changes_decisions, |tree| {
    setup(&tree);
    let broker = Broker::start(&tree, &read_policy(&tree, ALICE.uid));
    let path = tree.p("data/a.txt");
    broker.cat(ALICE, &path).code_is(0).stdout_is("alpha\n");
    broker.cat(BOB, &path).code_is(77);

    let new = broker.reload(&read_policy(&tree, BOB.uid));
    let expected = format!(
        "policy reloaded from {}: 2 rules",
        broker.policy_path().display()
    );
    assert!(new.contains(&expected), "expected {expected:?} in:\n{new}");

    broker.cat(ALICE, &path).code_is(77).stdout_is("");
    broker.cat(BOB, &path).code_is(0).stdout_is("alpha\n");
});

// Invalid files of both kinds (TOML syntax, policy semantics) are reported with
// FILE:LINE:COL and the previous policy stays in force.
itest!(
    sighup_with_an_invalid_policy_keeps_the_old_one_and_logs_why,
    |tree| {
        setup(&tree);
        let broker = Broker::start(&tree, &read_policy(&tree, ALICE.uid));
        let path = tree.p("data/a.txt");
        let file = broker.policy_path().display().to_string();
        let syntax = "version = 1\n\n[[rule]]\nname = \"unterminated\nusers = [2002]\n";
        let semantic = format!(
            "version = 1\n\n[[rule]]\nname = \"r\"\nusers = [2002]\npaths = [\"{}/**\"]\naccess = [\"read\", \"exec\"]\n",
            tree.p("data")
        );
        for (text, position) in [
            (syntax.to_owned(), format!("{file}:4:")),
            (semantic, format!("{file}:7:19: ")),
        ] {
            let new = broker.reload(&text);
            assert!(
                new.contains("policy reload failed, keeping the previous policy:"),
                "expected a reload failure in:\n{new}"
            );
            broker.expect_log(&position);
            broker.cat(ALICE, &path).code_is(0).stdout_is("alpha\n");
            broker.cat(BOB, &path).code_is(77);
        }
    }
);

// The broker dropped CAP_DAC_OVERRIDE (and CHOWN) at start because the policy
// only reads; a reload granting write+create cannot work and is refused, naming the
// capability, while the old policy keeps serving and no capability comes back.
itest!(reload_needing_a_dropped_capability_is_refused, |tree| {
    setup(&tree);
    let broker = Broker::start(&tree, &read_policy(&tree, ALICE.uid));
    let caps_before = broker.status_field("CapEff");
    let writer = alice_policy(
        "writer",
        &format!("{}/**", tree.p("data")),
        "read,write,create",
    );
    let new = broker.reload(&writer);
    let refusal = new
        .lines()
        .find(|l| l.contains("policy reload refused"))
        .unwrap_or_else(|| broker.fail("expected `policy reload refused`"));
    assert!(
        refusal.to_uppercase().contains("CAP_DAC_OVERRIDE"),
        "must name the capability: {refusal}"
    );

    let path = tree.p("data/a.txt");
    broker.cat(ALICE, &path).code_is(0).stdout_is("alpha\n");
    let new_file = tree.p("data/new.txt");
    let out = broker
        .fdagent(ALICE)
        .args(["open", "--access", "write,create", &new_file])
        .run();
    out.code_is(77);
    assert!(
        !tree.path("data/new.txt").exists(),
        "the refused policy created a file"
    );
    assert_eq!(broker.status_field("CapEff"), caps_before);
});

// Linux cannot revoke an open regular-file fd: one handed out before a reload keeps
// working after the grant is gone, while new opens are denied. Documented behaviour.
itest!(
    an_fd_handed_out_before_a_revoking_reload_stays_valid,
    |tree| {
        setup(&tree);
        let broker = Broker::start(&tree, &read_policy(&tree, 0));
        let socket = broker.socket().to_path_buf();
        let path = tree.path("data/a.txt");
        let (s, p) = (socket.clone(), path.clone());
        let mut file = within(Duration::from_secs(10), move || {
            Client::connect(&s).expect("connect").open(&p, Access::READ)
        })
        .expect("open before the reload");

        broker.reload(&read_policy(&tree, ALICE.uid));
        let mut text = String::new();
        file.read_to_string(&mut text).expect("read the old fd");
        assert_eq!(text, "alpha\n");
        let denied = within(Duration::from_secs(10), move || {
            Client::connect(&socket)
                .expect("connect")
                .open(&path, Access::READ)
        });
        assert_eq!(
            denied.expect_err("denied after the reload").kind(),
            std::io::ErrorKind::PermissionDenied
        );
    }
);

// The broker confined its own file access (Landlock) to what the policy at start could
// grant: a reload that reaches into another tree is refused and the old policy kept,
// while a reload that narrows what it grants is accepted.
itest!(
    reload_reaching_beyond_the_landlock_ruleset_is_refused,
    |tree| {
        setup(&tree);
        tree.private_file("other/b.txt", b"beta\n");
        let broker = Broker::start(&tree, &read_policy(&tree, ALICE.uid));
        broker.expect_log("Landlock confines file access");
        let elsewhere = alice_policy("other", &format!("{}/**", tree.p("other")), "read");
        let log = broker.reload(&elsewhere);
        let refusal = log
            .lines()
            .find(|l| l.contains("policy reload refused"))
            .unwrap_or_else(|| broker.fail("expected `policy reload refused`"));
        assert!(
            refusal.contains("outside the Landlock ruleset"),
            "{refusal}"
        );
        broker.cat(ALICE, &tree.p("other/b.txt")).code_is(77);
        broker.cat(ALICE, &tree.p("data/a.txt")).code_is(0);

        let narrower = alice_policy("narrow", &tree.p("data/a.txt"), "read");
        broker.reload(&narrower);
        broker.expect_log("policy reloaded from");
        broker
            .cat(ALICE, &tree.p("data/a.txt"))
            .code_is(0)
            .stdout_is("alpha\n");
    }
);

// `fdbroker reload` (the unit's `ExecReload`) waits for the reload and fails, saying why,
// when the new policy does not load; `fdagent status` shows the failed attempt and its
// first error while the old policy stays in force. A good reload then exits 0 and shows.
itest!(
    fdbroker_reload_fails_on_an_invalid_policy_and_status_shows_why,
    |tree| {
        setup(&tree);
        let broker = Broker::start(&tree, &read_policy(&tree, ALICE.uid));
        let path = tree.p("data/a.txt");
        let file = broker.policy_path().display().to_string();
        let loaded = broker.status_line("policy:");
        assert!(
            loaded.contains(" UTC (") && loaded.contains(" ago)"),
            "a human-readable load time: {loaded}"
        );
        assert_eq!(
            broker.status_line("last reload:"),
            "last reload: none since start"
        );

        let syntax = "version = 1\n\n[[rule]]\nname = \"unterminated\nusers = [2002]\n";
        let out = broker.reload_sync(syntax);
        out.code_is(1)
            .stderr_has("policy invalid, the previous policy stays in force")
            .stderr_has(&format!("{file}:4:"));
        let last = broker.status_line("last reload:");
        assert!(
            last.contains(" UTC (")
                && last.contains("invalid")
                && last.contains(&format!("{file}:4:")),
            "{last}"
        );
        // The same load time (what follows it, how long ago, moves on).
        let load_time = |line: &str| line.rsplit_once(" (").map(|(time, _)| time.to_owned());
        assert_eq!(
            load_time(&broker.status_line("policy:")),
            load_time(&loaded),
            "the old policy stays"
        );
        broker.cat(ALICE, &path).code_is(0).stdout_is("alpha\n");

        let out = broker.reload_sync(&read_policy(&tree, BOB.uid));
        out.code_is(0)
            .stdout_is(format!("policy reloaded from {file}: 2 rules in force\n"));
        let last = broker.status_line("last reload:");
        assert!(last.ends_with(": in force"), "{last}");
        broker.cat(ALICE, &path).code_is(77);
        broker.cat(BOB, &path).code_is(0);
    }
);

// A valid policy that needs a capability dropped at start, or a Landlock root outside
// the ruleset set at start, fails `fdbroker reload` with its own exit status and reason,
// and status shows it; the old policy stays in force.
itest!(
    fdbroker_reload_fails_on_a_policy_that_needs_a_restart,
    |tree| {
        setup(&tree);
        tree.private_file("other/b.txt", b"beta\n");
        let broker = Broker::start(&tree, &read_policy(&tree, ALICE.uid));
        broker.expect_log("Landlock confines file access");
        let writer = alice_policy(
            "writer",
            &format!("{}/**", tree.p("data")),
            "read,write,create",
        );
        let elsewhere = alice_policy("other", &format!("{}/**", tree.p("other")), "read");
        for (policy, reason) in [
            (writer, "CAP_DAC_OVERRIDE"),
            (elsewhere, "outside the Landlock ruleset"),
        ] {
            let out = broker.reload_sync(&policy);
            out.code_is(4)
                .stderr_has("policy needs a restart, the previous policy stays in force")
                .stderr_has(reason)
                .stderr_has("restart the broker");
            let last = broker.status_line("last reload:");
            assert!(
                last.contains("needs a restart") && last.contains(reason),
                "{last}"
            );
            broker
                .cat(ALICE, &tree.p("data/a.txt"))
                .code_is(0)
                .stdout_is("alpha\n");
            broker.cat(ALICE, &tree.p("other/b.txt")).code_is(77);
        }
    }
);

// A policy of one rule is counted in the singular wherever the count is shown: the start
// and reload log lines, `fdbroker reload`, and `fdagent status`.
itest!(one_rule_is_counted_in_the_singular, |tree| {
    setup(&tree);
    let one = alice_policy("one", &format!("{}/**", tree.p("data")), "read");
    let broker = Broker::start(&tree, &one);
    let file = broker.policy_path().display().to_string();
    broker.expect_log(&format!("policy loaded from {file}: 1 rule, 0 inactive"));
    broker
        .reload_sync(&one)
        .code_is(0)
        .stdout_is(format!("policy reloaded from {file}: 1 rule in force\n"));
    broker.expect_log(&format!("policy reloaded from {file}: 1 rule\n"));
    let loaded = broker.status_line("policy:");
    assert!(
        loaded.starts_with(&format!("policy: {file} (1 rule), ")),
        "{loaded}"
    );
});

// Reloading is root's: another uid's `fdbroker reload` is denied and reloads nothing.
itest!(fdbroker_reload_is_for_root_only, |tree| {
    setup(&tree);
    let broker = Broker::start(&tree, &read_policy(&tree, ALICE.uid));
    write_policy(broker.policy_path(), &read_policy(&tree, BOB.uid));
    broker
        .client(ALICE, "fdbroker")
        .args(["reload", "--socket", &broker.socket_str()])
        .run()
        .code_is(3)
        .stderr_has("reload is for root");
    assert_eq!(
        broker.status_line("last reload:"),
        "last reload: none since start"
    );
    broker.cat(ALICE, &tree.p("data/a.txt")).code_is(0);
});
