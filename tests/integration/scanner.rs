//! The `scanner` example, the ClamAV pattern end to end: an unprivileged uid scans
//! root-only files through brokered fds; a file it may not open is an error, never clean.

use crate::harness::{ALICE, Broker, Tree, require_root};

/// The 68-byte EICAR anti-virus test string.
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

#[test]
fn scanner_finds_eicar_and_reports_denied_files_as_errors() {
    require_root!();
    assert_eq!(EICAR.len(), 68);
    let tree = Tree::new();
    tree.private_file("uploads/eicar.com", EICAR);
    tree.private_file("uploads/clean.txt", b"just text\n");
    tree.private_file("private/denied.txt", b"not for the scanner\n");
    let policy = format!(
        "version = 1\n\n[[rule]]\nname = \"scanner\"\nusers = [2001]\npaths = [\"{}/**\"]\naccess = [\"read\"]\n",
        tree.p("uploads")
    );
    let broker = Broker::start(&tree, &policy);
    let [eicar, clean, denied] = [
        "uploads/eicar.com",
        "uploads/clean.txt",
        "private/denied.txt",
    ]
    .map(|r| tree.p(r));
    let scan = |files: &[&str]| {
        broker
            .client(ALICE, "scanner")
            .args(["--socket", &broker.socket_str()])
            .args(files)
            .run()
    };

    let out = scan(&[&eicar, &clean, &denied]);
    out.code_is(1);
    let stdout = out.stdout_str();
    let lines: Vec<&str> = stdout.lines().collect();
    let expected_head = [
        format!("{eicar}: infected (EICAR)"),
        format!("{clean}: clean"),
    ];
    if lines.len() != 3
        || lines[..2] != expected_head
        || !lines[2].starts_with(&format!("{denied}: error: "))
    {
        out.fail("expected infected, clean, error lines in order");
    }

    scan(&[&clean])
        .code_is(0)
        .stdout_is(format!("{clean}: clean\n"));
}
