//! The `scanner` example with its built-in EICAR scan (no clamd: see `clamd.rs` for the
//! real one): an unprivileged uid scans root-only files through brokered fds; a file it
//! may not open is an error, never clean.

use crate::harness::{ALICE, Broker, Policy, Tree, audit_allow, itest, scanner_policy};

/// The 68-byte EICAR anti-virus test string.
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The scanner (alice) may read `uploads/**`.
fn reads_uploads(tree: &Tree) -> String {
    Policy::new()
        .allow("scanner")
        .users(&[ALICE])
        .paths(&[tree.p("uploads/**")])
        .access("read")
        .to_string()
}

itest!(
    scanner_finds_eicar_and_reports_denied_files_as_errors,
    |tree| {
        assert_eq!(EICAR.len(), 68);
        tree.private_file("uploads/eicar.com", EICAR);
        tree.private_file("uploads/clean.txt", b"just text\n");
        tree.private_file("private/denied.txt", b"not for the scanner\n");
        let broker = Broker::start(&tree, &reads_uploads(&tree));
        let [eicar, clean, denied] = [
            "uploads/eicar.com",
            "uploads/clean.txt",
            "private/denied.txt",
        ]
        .map(|r| tree.p(r));
        let scan = |files: &[&str]| broker.scanner(ALICE).args(files).run();

        let out = scan(&[&eicar, &clean, &denied]);
        out.code_is(1);
        let stdout = out.stdout_str();
        let lines: Vec<&str> = stdout.lines().collect();
        let expected_head = [
            format!("{eicar}: infected (EICAR)"),
            format!("{clean}: clean"),
        ];
        if lines.len() != 4
            || lines[..2] != expected_head
            || !lines[2].starts_with(&format!("{denied}: error: "))
            || lines[3] != "done: 3 files, 1 infected, 1 error"
        {
            out.fail("expected infected, clean, error and done lines in order");
        }

        scan(&[&clean]).code_is(0).stdout_is(format!(
            "{clean}: clean\ndone: 1 file, 0 infected, 0 errors\n"
        ));
    }
);

// The scanner walks a tree it cannot even search, through `list` fds and batches: every
// file is reported once, the infected one deep inside is found, a denied subtree is an
// error (never clean), and a symbolic link is not followed.
itest!(scanner_walks_a_root_only_tree_through_list_fds, |tree| {
    tree.private_file("uploads/a.txt", b"clean\n");
    for i in 0..300 {
        tree.private_file(&format!("uploads/many/f{i:03}"), b"clean\n");
    }
    tree.private_file("uploads/deep/er/x.bin", EICAR);
    tree.private_file("uploads/held/h.txt", b"held\n");
    tree.symlink("uploads/link", "/etc/passwd");
    let broker = Broker::start(&tree, &scanner_policy(&tree));
    let out = broker.scanner(ALICE).arg(tree.p("uploads")).run();
    out.code_is(1).stderr_has(&format!(
        "{}: symbolic link, not followed",
        tree.p("uploads/link")
    ));
    let stdout = out.stdout_str();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1 + 300 + 1 + 1 + 1, "{stdout}");
    assert_eq!(lines.last(), Some(&"done: 303 files, 1 infected, 1 error"));
    assert!(
        lines.contains(&format!("{}: infected (EICAR)", tree.p("uploads/deep/er/x.bin")).as_str())
    );
    assert!(lines.contains(&format!("{}: clean", tree.p("uploads/many/f299")).as_str()));
    let held = format!("{}: error: ", tree.p("uploads/held"));
    assert!(lines.iter().any(|l| l.starts_with(&held)), "{stdout}");
    assert_eq!(lines.iter().filter(|l| l.ends_with(": clean")).count(), 301);
});

// A root named as a directory (a trailing `/`) is listed at once: the broker's audit shows
// the `list` and the file, and no `read` of the directory failing with EISDIR.
itest!(scanner_lists_a_root_named_as_a_directory, |tree| {
    tree.private_file("uploads/a.txt", b"clean\n");
    let broker = Broker::start(&tree, &scanner_policy(&tree));
    let (uploads, file) = (tree.p("uploads"), tree.p("uploads/a.txt"));
    let out = broker.scanner(ALICE).arg(format!("{uploads}/")).run();
    out.code_is(0).stdout_is(format!(
        "{file}: clean\ndone: 1 file, 0 infected, 0 errors\n"
    ));
    broker.expect_log(&audit_allow(ALICE, out.pid, "read", &file, "scanner"));
    let opens: Vec<String> = broker
        .audit_lines()
        .into_iter()
        .filter(|audit| audit.contains(" op=open "))
        .collect();
    assert_eq!(
        opens,
        [
            audit_allow(ALICE, out.pid, "list", &uploads, "scanner"),
            audit_allow(ALICE, out.pid, "read", &file, "scanner"),
        ],
        "{}",
        broker.log()
    );
});

// Told to use a clamd that does not answer, the scanner stops before asking the broker
// for anything (exit 2): it never falls back to reporting files unscanned as clean.
itest!(scanner_without_its_clamd_scans_nothing, |tree| {
    tree.private_file("uploads/clean.txt", b"just text\n");
    let broker = Broker::start(&tree, &reads_uploads(&tree));
    let out = broker
        .scanner(ALICE)
        .args(["--clamd", &tree.p("no-clamd.sock")])
        .arg(tree.p("uploads/clean.txt"))
        .run();
    out.code_is(2).stdout_is("").stderr_has("does not answer");
    assert!(!broker.log().contains("op=open"), "{}", broker.log());
});
