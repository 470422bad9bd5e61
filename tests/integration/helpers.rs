//! The broker's helper processes (the name resolver, the process reader and, under
//! `--user`, the file keeper) each run under a seccomp filter of their own, installed
//! after they dropped their privileges: a violation kills the helper, so these tests also
//! show that the work each one does still passes its filter.

use std::time::Duration;

use crate::harness::{ALICE, Broker, Policy, Tree, itest, status_field, wait_until};

/// The helpers' process names, as `ps` shows them.
const HELPERS: [&str; 3] = ["fdbroker-names", "fdbroker-peers", "fdbroker-keep"];

/// ALICE may read `data/**`; the name `nobody` makes every load a question for the resolver.
fn policy(tree: &Tree) -> String {
    Policy::new()
        .allow("alice-reads")
        .users(&[ALICE])
        .paths(&[tree.p("data/**")])
        .access("read")
        .allow("nobody-reads")
        .users(&["nobody"])
        .paths(&[tree.p("data/**")])
        .access("read")
        .to_string()
}

// `Seccomp: 2` is filter mode. The helpers then serve: a client (the reader reads its
// process), a reload (the keeper opens the policy, the resolver resolves `nobody`) and a
// log rotation (the keeper creates the audit file); each helper is still the same
// process afterwards, alive.
itest!(every_helper_serves_under_a_seccomp_filter, |tree| {
    tree.private_file("data/a.txt", b"alpha\n");
    tree.dir("log", 0o750);
    let audit = tree.p("log/audit.log");
    let args = ["--user", "nobody", "--audit-file", &audit];
    let broker = Broker::start_with(&tree, &policy(&tree), &args);
    let pids = HELPERS.map(|name| broker.helper(name));
    for (name, pid) in HELPERS.iter().zip(pids) {
        let field = |f: &str| {
            status_field(pid, f).unwrap_or_else(|| broker.fail(&format!("no {f} for {name}")))
        };
        assert_eq!(field("Seccomp"), "2", "{name} ({pid})");
        assert_eq!(field("NoNewPrivs"), "1", "{name} ({pid})");
    }

    broker
        .cat(ALICE, &tree.p("data/a.txt"))
        .code_is(0)
        .stdout_is("alpha\n");
    let new = broker.reload(&policy(&tree));
    assert!(new.contains("policy reloaded from"), "{new}");
    std::fs::rename(&audit, tree.p("log/audit.log.1")).expect("rotate the audit file");
    broker.hup();
    let reopened = wait_until(Duration::from_secs(5), || {
        std::fs::metadata(&audit).ok().map(|_| ())
    });
    assert!(
        reopened.is_some(),
        "the keeper did not create a new audit file"
    );
    broker
        .cat(ALICE, &tree.p("data/a.txt"))
        .code_is(0)
        .stdout_is("alpha\n");

    for (name, pid) in HELPERS.iter().zip(pids) {
        assert_eq!(broker.helper(name), pid, "{name} was replaced");
        let state = status_field(pid, "State").unwrap_or_default();
        if !state.starts_with('S') && !state.starts_with('R') {
            broker.fail(&format!("{name} ({pid}) is {state:?}"));
        }
    }
});
