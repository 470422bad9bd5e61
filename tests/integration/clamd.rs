//! The scanner pattern end to end with a real, unmodified ClamAV `clamd`: files only root
//! can open, a broker that hands them to an unprivileged uid, and clamd, running as
//! `clamav`, scanning the fds it is passed (`zFILDES`), through our scanner and through the
//! stock `clamdscan --fdpass` under `fdagent exec`.
//!
//! Each test starts a private clamd (see `examples/scanner/private_clamd.rs`) in its
//! tree. Without clamd installed they print SKIP, unless `FDBROKER_REQUIRE_ROOT` is set
//! (CI, which installs it), where that is a failure.

#[path = "../../examples/scanner/private_clamd.rs"]
mod private_clamd;

use std::io::{Read, Write};
use std::ops::Deref;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use private_clamd::{PrivateClamd, find_program};

use crate::harness::{ALICE, Broker, Tree, audit_allow, itest, scanner_policy, wait_until};

/// The 68-byte EICAR anti-virus test file.
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The clamd program, or `None` after printing SKIP when clamd or clamdscan is missing;
/// with `FDBROKER_REQUIRE_ROOT` set (CI), a missing clamd fails the test instead.
pub(crate) fn clamd_or_skip() -> Option<PathBuf> {
    let missing = PrivateClamd::find().and_then(|clamd| {
        find_program("clamdscan")
            .map(|_| clamd)
            .ok_or_else(|| "clamdscan is not installed (apt-get install clamdscan)".to_owned())
    });
    let why = match missing {
        Ok(clamd) => return Some(clamd),
        Err(why) => why,
    };
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("clamd test");
    if std::env::var_os("FDBROKER_REQUIRE_ROOT").is_some() {
        panic!("{test}: FDBROKER_REQUIRE_ROOT is set but {why}");
    }
    // Straight to the stderr handle: the test runner hides `eprintln!` of passing tests.
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
    None
}

/// A private clamd in `tree/clamd` that shows its log if the test fails.
pub(crate) struct Clamd(PrivateClamd);

impl Clamd {
    pub(crate) fn start(program: &Path, tree: &Tree, extra_config: &str) -> Clamd {
        PrivateClamd::start(program, &tree.path("clamd"), extra_config)
            .map(Clamd)
            .unwrap_or_else(|e| panic!("cannot start clamd: {e}"))
    }

    pub(crate) fn socket_str(&self) -> String {
        self.socket().to_str().expect("UTF-8").to_owned()
    }
}

impl Deref for Clamd {
    type Target = PrivateClamd;
    fn deref(&self) -> &PrivateClamd {
        &self.0
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- clamd log:\n{}----", self.log());
        }
    }
}

/// Root-only uploads (an EICAR file, a clean one, EICAR inside a larger file, a held
/// subtree) and a root-only private file; returns the policy: uid 2001 may read and list
/// the uploads but not the held subtree, and nothing else.
fn uploads(tree: &Tree) -> String {
    tree.private_file("uploads/eicar.com", EICAR);
    tree.private_file("uploads/clean.txt", b"just text\n");
    let mut mail = b"From: someone\n\nattached: ".to_vec();
    mail.extend_from_slice(EICAR);
    tree.private_file("uploads/in/mail.eml", &mail);
    tree.private_file("uploads/held/h.txt", b"held back\n");
    tree.private_file("private/denied.txt", b"not for the scanner\n");
    scanner_policy(tree)
}

// The scanner, unprivileged, walks the root-only uploads through the broker and clamd
// finds both EICAR files by the fds; the clean file is clean; the held subtree and the
// file outside the policy are error lines, never clean.
itest!(scanner_with_clamd_finds_eicar, |tree| {
    let Some(program) = clamd_or_skip() else {
        return;
    };
    let broker = Broker::start(&tree, &uploads(&tree));
    let clamd = Clamd::start(&program, &tree, "");
    let out = broker
        .scanner(ALICE)
        .args(["--clamd", &clamd.socket_str()])
        .args([tree.p("uploads"), tree.p("private/denied.txt")])
        .run();
    out.code_is(1);
    // In walk order: the roots' batch, the listings (the held one fails), then the files.
    // Each line: how it starts, and what it contains.
    let expected = [
        (
            format!("{}: error: ", tree.p("private/denied.txt")),
            "denied",
        ),
        (format!("{}: error: ", tree.p("uploads/held")), "denied"),
        (format!("{}: clean", tree.p("uploads/clean.txt")), ""),
        (
            format!("{}: infected (Test.EICAR.", tree.p("uploads/eicar.com")),
            ".UNOFFICIAL)",
        ),
        (
            format!(
                "{}: infected (Test.EICAR.NDB",
                tree.p("uploads/in/mail.eml")
            ),
            ".UNOFFICIAL)",
        ),
        ("done: 5 files, 2 infected, 2 errors".to_owned(), ""),
    ];
    let stdout = out.stdout_str();
    let lines: Vec<&str> = stdout.lines().collect();
    let as_expected = lines.len() == expected.len()
        && (lines.iter().zip(&expected))
            .all(|(line, (start, part))| line.starts_with(start.as_str()) && line.contains(part));
    if !as_expected {
        out.fail(&format!("expected lines like {expected:#?}"));
    }
    // The files reached clamd through the broker, opened for uid 2001.
    let eicar = tree.p("uploads/eicar.com");
    broker.expect_log(&audit_allow(ALICE, out.pid, "read", &eicar, "scanner"));
});

// A clean file alone is clean (exit 0); a refused file alone is an error (exit 2), never
// clean, and never reaches clamd.
itest!(clamd_clean_is_clean_denied_is_error, |tree| {
    let Some(program) = clamd_or_skip() else {
        return;
    };
    let broker = Broker::start(&tree, &uploads(&tree));
    let clamd = Clamd::start(&program, &tree, "");
    let scan = |path: &str| {
        broker
            .scanner(ALICE)
            .args(["--clamd", &clamd.socket_str()])
            .arg(path)
            .run()
    };
    let clean = tree.p("uploads/clean.txt");
    scan(&clean).code_is(0).stdout_is(format!(
        "{clean}: clean\ndone: 1 file, 0 infected, 0 errors\n"
    ));
    let log_before = clamd.log().len();
    let denied = tree.p("private/denied.txt");
    let out = scan(&denied);
    out.code_is(2);
    let stdout = out.stdout_str();
    if !stdout.starts_with(&format!(
        "{denied}: error: permission denied by the fdbroker policy"
    )) || !stdout.ends_with("\ndone: 1 file, 0 infected, 1 error\n")
    {
        out.fail("expected one denied error line");
    }
    assert_eq!(clamd.log().len(), log_before, "clamd scanned something");
});

// clamd has no access of its own to the root-only tree: asked to scan the EICAR file by
// path, it cannot open it. The same file where clamav can read it is found, so the
// refusal is about access, not about `zSCAN`.
itest!(clamd_cannot_open_the_tree_by_path, |tree| {
    let Some(program) = clamd_or_skip() else {
        return;
    };
    uploads(&tree);
    tree.dir("public", 0o755);
    tree.file("public/eicar.com", EICAR, 0o644);
    let clamd = Clamd::start(&program, &tree, "");
    let scan = |rel: &str| {
        clamd
            .command(format!("zSCAN {}\0", tree.p(rel)).as_bytes())
            .expect("zSCAN reply")
    };
    let private = scan("uploads/eicar.com");
    assert!(
        private.ends_with("ERROR") && private.contains("Permission denied"),
        "clamd opened the root-only file itself: {private}"
    );
    let public = scan("public/eicar.com");
    assert!(public.ends_with("FOUND"), "{public}");
});

// The stock client, with no code of ours in the scan: `fdagent exec PATH -- clamdscan
// --fdpass -` as an unprivileged uid reports the EICAR file FOUND (exit 1) and the clean
// one OK (exit 0); for a denied file fdagent exits 77 and clamdscan never runs (it would
// have scanned its inherited stdin and said OK).
itest!(stock_clamdscan_under_fdagent_exec, |tree| {
    let Some(program) = clamd_or_skip() else {
        return;
    };
    let broker = Broker::start(&tree, &uploads(&tree));
    let clamd = Clamd::start(&program, &tree, "");
    let config = format!("--config-file={}", clamd.config().display());
    let clamdscan = |rel: &str| {
        broker
            .fdagent(ALICE)
            .args([
                "exec",
                &tree.p(rel),
                "--",
                "clamdscan",
                &config,
                "--fdpass",
                "-",
            ])
            .run()
    };
    let found = clamdscan("uploads/eicar.com");
    found.code_is(1);
    if !found.stdout_str().contains("Test.EICAR.") || !found.stdout_str().contains(" FOUND") {
        found.fail("expected clamdscan to report FOUND");
    }
    let clean = clamdscan("uploads/clean.txt");
    clean.code_is(0);
    if !clean.stdout_str().contains(": OK") {
        clean.fail("expected clamdscan to report OK");
    }
    let denied = clamdscan("private/denied.txt");
    denied.code_is(77).stdout_is("");
    denied.stderr_has("denied");
});

// The scanner as a daemon: `--listen` creates its job socket 0600, owned by the
// scanner's uid; two jobs on one connection are answered in order, each with its file
// lines and a `done:` line.
itest!(scanner_listen_answers_jobs, |tree| {
    let Some(program) = clamd_or_skip() else {
        return;
    };
    let broker = Broker::start(&tree, &uploads(&tree));
    let clamd = Clamd::start(&program, &tree, "");
    tree.dir("jobs", 0o700);
    tree.chown("jobs", ALICE.uid, ALICE.gid);
    let job_socket = tree.path("jobs/scan.sock");
    let daemon = Daemon(
        broker
            .scanner(ALICE)
            .args(["--clamd", &clamd.socket_str()])
            .args(["--listen", &tree.p("jobs/scan.sock")])
            .spawn(),
    );
    let mut conn = wait_until(Duration::from_secs(5), || {
        UnixStream::connect(&job_socket).ok()
    })
    .expect("the scanner did not listen on its job socket");
    let meta = std::fs::metadata(&job_socket).expect("stat the job socket");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!((meta.uid(), meta.gid()), (ALICE.uid, ALICE.gid));

    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let jobs = format!(
        "{}\n\n{}\n",
        tree.p("uploads/in"),
        tree.p("private/denied.txt")
    );
    conn.write_all(jobs.as_bytes()).expect("send the jobs");
    conn.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut answers = String::new();
    conn.read_to_string(&mut answers).expect("read the answers");
    drop(daemon);
    let mail = tree.p("uploads/in/mail.eml");
    let denied = tree.p("private/denied.txt");
    let lines: Vec<&str> = answers.lines().collect();
    let as_expected = lines.len() == 4
        && lines[0] == format!("{mail}: infected (Test.EICAR.NDB.UNOFFICIAL)")
        && lines[1] == "done: 1 file, 1 infected, 0 errors"
        && lines[2].starts_with(&format!("{denied}: error: "))
        && lines[2].contains("denied")
        && lines[3] == "done: 1 file, 0 infected, 1 error";
    assert!(
        as_expected,
        "unexpected answers:\n{answers}\n{}",
        broker.log()
    );
});

// A file over clamd's size limit is not scanned by clamd; with `AlertExceedsMax` it says
// so, and the scanner reports an error, not an infection and never clean.
itest!(clamd_oversized_file_is_error, |tree| {
    let Some(program) = clamd_or_skip() else {
        return;
    };
    let broker = Broker::start(&tree, &uploads(&tree));
    tree.private_file("uploads/big.bin", &vec![b'x'; 8192]);
    let clamd = Clamd::start(&program, &tree, "MaxFileSize 4096");
    let big = tree.p("uploads/big.bin");
    let out = broker
        .scanner(ALICE)
        .args(["--clamd", &clamd.socket_str(), &big])
        .run();
    out.code_is(2);
    if !out.stdout_str().starts_with(&format!(
        "{big}: error: not scanned: over a clamd limit (Heuristics.Limits.Exceeded"
    )) {
        out.fail("expected a not-scanned error line");
    }
});

/// The scanner daemon, killed and reaped when the test ends.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
