//! User and group names in the policy resolve at every reload, also after `useradd` or
//! `groupadd` replaced `/etc/passwd` or `/etc/group` (by renaming a new file over the old
//! one, which the broker's Landlock rules could not follow): the broker asks its name
//! resolver, an unprivileged process it started before confining itself.

use std::path::Path;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};

use crate::harness::{
    ALICE, Account, BOB, Broker, Policy, Tree, itest, status_field, wait_until, write_policy,
};

/// A policy with one rule reading `data/**`, for the users or groups the caller adds.
fn reading(tree: &Tree) -> Policy {
    Policy::new()
        .allow("reader")
        .paths(&[tree.p("data/**")])
        .access("read")
}

fn setup(tree: &Tree) {
    tree.private_file("data/a.txt", b"alpha\n");
}

/// Fails unless the reload whose log is `new` succeeded.
#[track_caller]
fn assert_reloaded(broker: &Broker<'_>, new: &str) {
    if !new.contains("policy reloaded from") {
        broker.fail(&format!("the reload did not succeed:\n{new}"));
    }
}

/// Asserts that the reload whose new log lines are `new` failed, keeping the previous
/// policy, because `why` (the resolver's failure).
fn assert_reload_failed(new: &str, why: &str) {
    assert!(
        new.contains("policy reload failed, keeping the previous policy") && new.contains(why),
        "{new}"
    );
}

/// The broker's name resolver: its one child process named `fdbroker-names` (the other,
/// `fdbroker-peers`, is its process reader).
fn resolver(broker: &Broker<'_>) -> u32 {
    broker.helper("fdbroker-names")
}

itest!(a_policy_naming_a_user_still_reloads_after_useradd, |tree| {
    setup(&tree);
    let reader = Account::user();
    let text = reading(&tree).users(&[reader.name()]).to_string();
    let broker = Broker::start(&tree, &text);
    let path = tree.p("data/a.txt");

    let _later = Account::user();
    assert_reloaded(&broker, &broker.hup());
    broker
        .fdagent(reader.client())
        .args(["cat", &path])
        .run()
        .code_is(0)
        .stdout_is("alpha\n");
});

// The administrator's common case: add a user, grant it, reload. The JSON audit names
// the new user too (a uid-to-name lookup made after confinement).
itest!(a_user_added_after_start_can_be_granted, |tree| {
    setup(&tree);
    let broker = Broker::start_with(
        &tree,
        &reading(&tree).users(&[ALICE]).to_string(),
        &["--audit-format", "json"],
    );
    let path = tree.p("data/a.txt");
    let added = Account::user();
    broker
        .fdagent(added.client())
        .args(["cat", &path])
        .run()
        .code_is(77);

    let new = broker.reload(&reading(&tree).users(&[added.name()]).to_string());
    assert_reloaded(&broker, &new);
    broker
        .fdagent(added.client())
        .args(["cat", &path])
        .run()
        .code_is(0)
        .stdout_is("alpha\n");
    let named = format!("\"user\":\"{}\"", added.name());
    let log = broker.expect_log(&named);
    assert!(
        log.lines()
            .any(|l| l.contains(&named) && l.contains("\"decision\":\"allow\"")),
        "no allow record naming {}:\n{log}",
        added.name()
    );
});

itest!(a_group_added_after_start_can_be_granted, |tree| {
    setup(&tree);
    let broker = Broker::start(&tree, &reading(&tree).users(&[ALICE]).to_string());
    let path = tree.p("data/a.txt");
    let group = Account::group();
    let member = crate::harness::User {
        uid: BOB.uid,
        gid: group.id(),
        groups: &[],
    };
    broker.cat(member, &path).code_is(77);

    let new = broker.reload(&reading(&tree).groups(&[group.name()]).to_string());
    assert_reloaded(&broker, &new);
    broker.cat(member, &path).code_is(0).stdout_is("alpha\n");
});

// The resolver runs as nobody, with no capability and no supplementary group, and ends
// when the broker does.
itest!(
    the_name_resolver_is_unprivileged_and_ends_with_the_broker,
    |tree| {
        setup(&tree);
        let broker = Broker::start(&tree, &reading(&tree).users(&[ALICE]).to_string());
        let pid = resolver(&broker);
        let field = |name: &str| {
            status_field(pid, name).unwrap_or_else(|| broker.fail(&format!("no {name} for {pid}")))
        };
        assert_eq!(field("Uid"), "65534\t65534\t65534\t65534");
        assert_eq!(field("Gid"), "65534\t65534\t65534\t65534");
        assert_eq!(field("Groups"), "");
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(field(set), "0000000000000000", "{set}");
        }
        assert_eq!(field("NoNewPrivs"), "1");

        broker.stop(Signal::TERM);
        let ended = wait_until(Duration::from_secs(10), || {
            match status_field(pid, "State") {
                None => Some(()),
                Some(state) => state.starts_with('Z').then_some(()),
            }
        });
        assert!(ended.is_some(), "the resolver {pid} outlived the broker");
    }
);

// A SIGHUP sent to every process of the broker's (as `systemctl kill -s HUP` does)
// leaves the resolver alone. A stopped resolver makes a reload fail after a bounded
// wait, and a dead one at once, each with a clear error; the old policy keeps serving.
// Once the stopped resolver goes on, reloads work again (its late answers are not taken
// for later questions).
itest!(
    a_stopped_or_dead_resolver_fails_the_reload_clearly,
    |tree| {
        setup(&tree);
        let reader = Account::user();
        let text = reading(&tree).users(&[reader.name()]).to_string();
        let broker = Broker::start(&tree, &text);
        let path = tree.p("data/a.txt");
        let pid = Pid::from_raw(resolver(&broker) as i32).expect("nonzero pid");
        let cat = || {
            broker
                .fdagent(reader.client())
                .args(["cat", &path])
                .run()
                .code_is(0)
                .stdout_is("alpha\n");
        };

        kill_process(pid, Signal::HUP).expect("SIGHUP the resolver");
        assert_reloaded(&broker, &broker.hup());

        kill_process(pid, Signal::STOP).expect("stop the resolver");
        assert_reload_failed(&broker.hup(), "the name resolver did not answer");
        cat();

        kill_process(pid, Signal::CONT).expect("continue the resolver");
        assert_reloaded(&broker, &broker.hup());
        cat();

        kill_process(pid, Signal::KILL).expect("kill the resolver");
        assert_reload_failed(&broker.hup(), "the name resolver has exited");
        cat();
    }
);

// The resolver must become nobody: without `CAP_SETUID` and `CAP_SETGID` (a unit whose
// bounding set lacks them) the broker refuses to start, saying why, rather than run
// with a resolver that has root's uid.
itest!(without_setuid_the_broker_refuses_to_start, |tree| {
    setup(&tree);
    let policy_path = tree.path("policy.toml");
    write_policy(&policy_path, &reading(&tree).users(&[ALICE]).to_string());
    let fdbroker = tree.bin("fdbroker");
    tree.cmd(Path::new("/usr/bin/setpriv"))
        .args(["--bounding-set", "-setuid,-setgid"])
        .arg(&fdbroker)
        .args(["serve", "--policy"])
        .arg(&policy_path)
        .arg("--socket")
        .arg(tree.path("fdbroker.sock"))
        .timeout(Duration::from_secs(10))
        .run()
        .code_is(3)
        .stderr_has("name resolver: cannot switch to uid 65534")
        .stderr_has("cannot start the name resolver: it exited during start-up");
});

// The broker's own Landlock rules no longer let it read the name databases: the
// resolver does, and `--print-privileges` says so.
itest!(the_broker_itself_reads_no_name_database, |tree| {
    setup(&tree);
    let out = Broker::print_privileges(
        &tree,
        &reading(&tree).users(&["root"]).to_string(),
        &["--socket", &tree.p("never.sock")],
    );
    out.code_is(0);
    let stdout = out.stdout_str();
    let landlock = stdout
        .split_once("landlock:")
        .map(|(_, rules)| rules)
        .unwrap_or_else(|| out.fail("no landlock section"));
    for database in ["/etc/passwd", "/etc/group", "/etc/nsswitch.conf"] {
        assert!(!landlock.contains(database), "{database} in:\n{stdout}");
    }
    assert!(
        stdout.contains("name resolver: a separate process as uid 65534"),
        "{stdout}"
    );
});
