//! What `Status` tells whom: root gets everything (policy file, load time, last reload,
//! connections, counters per rule); another uid gets only the names of the allow rules
//! that name it, and a uid that no allow rule names is denied.

use serde_json::Value;

use crate::harness::{ALICE, BOB, Broker, CAROL, Policy, SCANNERS, Tree, itest};

/// Alice reads `data`, the scanners group reads `scans`, and two deny rules name Bob and
/// Alice; all three rules' names, the policy path and the counters are the administrator's.
fn policy(tree: &Tree) -> String {
    let (data, scans) = (tree.p("data"), tree.p("scans"));
    Policy::new()
        .allow("alice-reads")
        .users(&[ALICE])
        .paths(&[format!("{data}/**")])
        .access("read")
        .allow("scanners-read")
        .groups(&[SCANNERS])
        .paths(&[format!("{scans}/**")])
        .access("read")
        .deny("bob-held")
        .users(&[BOB])
        .paths(&[format!("{data}/held/**")])
        .access("read")
        .deny("alice-held")
        .users(&[ALICE])
        .paths(&[format!("{scans}/held/**")])
        .access("read")
        .to_string()
}

fn setup(tree: &Tree) {
    tree.private_file("data/a.txt", b"alpha\n");
    tree.private_file("scans/s.txt", b"scan\n");
}

const RULES: [&str; 4] = ["alice-reads", "scanners-read", "bob-held", "alice-held"];

// A uid named only by a deny rule learns nothing: no rule names, no counters, no policy
// path, in text or JSON.
itest!(a_uid_named_only_by_a_deny_rule_is_told_nothing, |tree| {
    setup(&tree);
    let broker = Broker::start(&tree, &policy(&tree));
    broker.cat(ALICE, &tree.p("data/a.txt")).code_is(0);
    for args in [&["status"][..], &["status", "--json"]] {
        let out = broker.fdagent(BOB).args(args).run();
        out.code_is(77).stdout_is("");
        let said = format!("{}{}", out.stdout_str(), out.stderr);
        for secret in RULES
            .iter()
            .copied()
            .chain([tree.p("policy.toml").as_str()])
        {
            assert!(!said.contains(secret), "{secret:?} told to bob: {said}");
        }
    }
});

// A granted uid sees the names of the allow rules that name it (by uid, or by a
// supplementary group), and nothing else: no deny rules, no other uid's rules, no
// counters, no policy path, no connection counts.
itest!(a_granted_uid_sees_only_its_own_allow_rules, |tree| {
    setup(&tree);
    let broker = Broker::start(&tree, &policy(&tree));
    for (user, own) in [(ALICE, "alice-reads"), (CAROL, "scanners-read")] {
        let out = broker.fdagent(user).arg("status").run();
        out.code_is(0);
        let text = out.stdout_str();
        assert_eq!(
            text,
            format!("rules that grant this user:\n  {own}\n"),
            "uid {}",
            user.uid
        );

        let out = broker.fdagent(user).args(["status", "--json"]).run();
        out.code_is(0);
        let json: Value = serde_json::from_str(&out.stdout_str()).expect("JSON");
        assert_eq!(
            json,
            serde_json::json!({"scope": "granted", "rules": [own]}),
            "uid {}",
            user.uid
        );
    }
});

// Root sees everything: the policy file, human-readable times, connections, counters,
// every rule; and the same as a documented JSON object.
itest!(root_sees_everything_in_text_and_json, |tree| {
    setup(&tree);
    let broker = Broker::start(&tree, &policy(&tree));
    for _ in 0..2 {
        broker.cat(ALICE, &tree.p("data/a.txt")).code_is(0);
    }
    broker.cat(BOB, &tree.p("data/held/x")).code_is(77);

    let out = broker.fdagent_root().arg("status").run();
    out.code_is(0);
    let text = out.stdout_str();
    let policy_line = format!("policy: {} (4 rules), loaded ", tree.p("policy.toml"));
    assert!(text.contains(&policy_line), "{text}");
    for rule in RULES {
        assert!(text.lines().any(|l| l.ends_with(rule)), "{rule}: {text}");
    }
    let alice = text.lines().find(|l| l.ends_with("alice-reads")).unwrap();
    assert_eq!(
        alice.split_whitespace().collect::<Vec<_>>(),
        ["2", "0", "alice-reads"]
    );

    let out = broker.fdagent_root().args(["status", "--json"]).run();
    out.code_is(0);
    let json: Value = serde_json::from_str(&out.stdout_str()).expect("JSON");
    assert_eq!(json["scope"], "full", "{json}");
    assert_eq!(json["policy"]["file"], tree.p("policy.toml"), "{json}");
    assert_eq!(json["policy"]["rule_count"], 4, "{json}");
    assert!(
        json["policy"]["loaded_at"].as_u64().unwrap() > 1_700_000_000,
        "{json}"
    );
    assert_eq!(json["last_reload"], Value::Null, "{json}");
    assert!(json["connections"]["open"].as_u64().unwrap() >= 1, "{json}");
    assert_eq!(json["default_denied"], 0, "{json}");
    assert_eq!(
        json["rules"][0],
        serde_json::json!({"name": "alice-reads", "allowed": 2, "denied": 0, "inactive": null})
    );
    assert_eq!(
        json["rules"][2],
        serde_json::json!({"name": "bob-held", "allowed": 0, "denied": 1, "inactive": null})
    );
});
