//! Reading through the broker: which identities get a file, with the exact decision and
//! audit line, and that what they get is the file's bytes, which they could not read
//! themselves.

use crate::harness::{
    ALICE, BOB, Broker, CAROL, Policy, SCANNERS, Tree, User, audit_allow, audit_deny, audit_fail,
    itest,
};

/// Bytes that survive no accidental text conversion: a NUL, invalid UTF-8, no final newline.
const REPORT: &[u8] = b"quarterly report\n\x00\xff\xfe binary tail";

/// A tree with root-only files, and a policy where alice reads all of `data/`, the
/// scanners group reads `data/shared/`, a deny rule (listed after the allows) hides
/// secrets from everyone, and a deny rule on `write` only leaves reads alone.
fn setup(tree: &Tree) -> String {
    tree.private_file("data/report.txt", REPORT);
    tree.private_file("data/notes.txt", b"notes\n");
    tree.private_file("data/shared/scan-me.txt", b"shared\n");
    tree.private_file("data/shared/secret.txt", b"do not hand out\n");
    Policy::new()
        .allow("alice-reads-data")
        .users(&[ALICE])
        .paths(&[tree.p("data/**")])
        .access("read")
        .allow("scanners-read-shared")
        .groups(&[SCANNERS])
        .paths(&[tree.p("data/shared/**")])
        .access("read")
        .deny("nobody-reads-secrets")
        .everyone()
        .paths(&[tree.p("data/shared/secret.txt")])
        .access("read")
        .deny("nobody-writes-notes")
        .everyone()
        .paths(&[tree.p("data/notes.txt")])
        .access("write")
        .to_string()
}

itest!(allowed_uid_reads_exact_bytes_and_is_audited, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let path = tree.p("data/report.txt");
    let out = broker.cat(ALICE, &path);
    out.code_is(0).stdout_is(REPORT).no_stderr();
    let line = audit_allow(ALICE, out.pid, "read", &path, "alice-reads-data");
    let log = broker.expect_log(&line);
    assert_eq!(
        log.matches(&format!(" pid={} ", out.pid)).count(),
        1,
        "one audit line per decision:\n{log}"
    );
});

itest!(other_uid_is_denied_by_default, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let path = tree.p("data/report.txt");
    let out = broker.cat(BOB, &path);
    out.code_is(77).stdout_is("");
    if out.stderr.lines().count() != 1 {
        out.fail("expected exactly one error line on stderr");
    }
    broker.expect_log(&audit_deny(BOB, out.pid, "read", &path, None));
});

// An unauthorized client gets the same EACCES whether the path exists or not: the
// policy is decided before the file system is touched, so it is no existence oracle.
itest!(denial_does_not_reveal_whether_a_file_exists, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let missing = tree.p("data/no-such-file");
    broker.cat(BOB, &missing).code_is(77);
    // The same path for an authorized client is a plain "not found", after an allow.
    let out = broker.cat(ALICE, &missing);
    out.code_is(66).stdout_is("");
    broker.expect_log(&audit_fail(
        ALICE,
        out.pid,
        "read",
        &missing,
        "alice-reads-data",
        "ENOENT",
    ));
});

itest!(supplementary_group_grants_access, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let path = tree.p("data/shared/scan-me.txt");
    let out = broker.cat(CAROL, &path);
    out.code_is(0).stdout_is("shared\n");
    broker.expect_log(&audit_allow(
        CAROL,
        out.pid,
        "read",
        &path,
        "scanners-read-shared",
    ));

    // The same uid without the supplementary group is denied: the group made the difference.
    let carol_alone = User {
        groups: &[],
        ..CAROL
    };
    let out = broker.cat(carol_alone, &path);
    out.code_is(77).stdout_is("");

    // The group also counts as a primary group.
    let primary = User {
        uid: 2005,
        gid: SCANNERS,
        groups: &[],
    };
    broker.cat(primary, &path).code_is(0).stdout_is("shared\n");

    // The group's grant stops at its tree.
    broker.cat(CAROL, &tree.p("data/report.txt")).code_is(77);
});

itest!(deny_rule_beats_allow_rules_listed_before_it, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let path = tree.p("data/shared/secret.txt");
    for user in [ALICE, CAROL] {
        let out = broker.cat(user, &path);
        out.code_is(77).stdout_is("");
        broker.expect_log(&audit_deny(
            user,
            out.pid,
            "read",
            &path,
            Some("nobody-reads-secrets"),
        ));
    }
});

// A deny rule only denies requests for the words it names.
itest!(
    deny_rule_for_other_access_words_leaves_reads_allowed,
    |tree| {
        let policy = setup(&tree);
        let broker = Broker::start(&tree, &policy);
        let path = tree.p("data/notes.txt");
        let out = broker.cat(ALICE, &path);
        out.code_is(0).stdout_is("notes\n");
        broker.expect_log(&audit_allow(
            ALICE,
            out.pid,
            "read",
            &path,
            "alice-reads-data",
        ));
    }
);

// The premise of every other test: clients really run as the unprivileged ids, without
// capabilities, and cannot open the data themselves. The bytes they print come from the
// fd the broker handed them.
itest!(
    clients_run_unprivileged_and_cannot_read_the_data_themselves,
    |tree| {
        setup(&tree);
        let status = tree
            .cmd("/bin/cat".as_ref())
            .user(CAROL)
            .arg("/proc/self/status")
            .run();
        status.code_is(0);
        let text = status.stdout_str();
        for expected in [
            "Uid:\t2003\t2003\t2003\t2003",
            "Gid:\t2003\t2003\t2003\t2003",
            "Groups:\t2099 2100",
            "CapEff:\t0000000000000000",
            "CapPrm:\t0000000000000000",
        ] {
            if !text.lines().any(|l| l.trim_end() == expected) {
                status.fail(&format!("expected the line {expected:?}"));
            }
        }
        let direct = tree
            .cmd("/bin/cat".as_ref())
            .user(ALICE)
            .arg(tree.p("data/report.txt"))
            .run();
        direct
            .code_is(1)
            .stdout_is("")
            .stderr_has("Permission denied");
    }
);
