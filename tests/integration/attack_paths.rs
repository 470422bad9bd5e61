//! Attacks through the file system: symlinks out of the allowed tree (static and raced),
//! `/proc` magic links under a grant of everything, hostile path bytes and lengths,
//! non-UTF-8 names, bind mounts and hard links. Every case checks that nothing outside the
//! policy is handed out, that the broker's fd count returns to its baseline, and that it
//! still serves a good request afterwards.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fdbroker_wire::{Access, Batch, ErrorKind, MAX_BATCH, MAX_PATH, Outcome, Request, Response};
use rustix::fs::{CWD, RenameFlags, renameat_with};

use crate::harness::{ALICE, Broker, Policy, RawConn, Tree, audit_allow, itest, read, within};

/// The bytes of the file outside the allowed tree; no answer may ever carry them.
const SECRET: &[u8] = b"SECRET-BYTES\n";
const PUBLIC: &[u8] = b"public\n";

/// `allowed/` holds `a.txt`; `outside/secret` is next to it, root-only, and named by no
/// rule. Root (in-process clients) and alice may read and list `allowed/**`.
fn setup(tree: &Tree) -> String {
    tree.private_file("allowed/a.txt", PUBLIC);
    tree.private_file("outside/secret", SECRET);
    Policy::new()
        .allow("reads-allowed")
        .users(&[0, ALICE.uid])
        .paths(&[tree.p("allowed/**")])
        .access("read,list")
        .to_string()
}

/// What one path of a batch came to: the contents of the handed-out fd, or the error.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Opened(Vec<u8>),
    Failed(ErrorKind, i32),
}

/// Sends one `OpenMany` of `paths` and pairs each outcome with its fd, reading every file
/// handed out; checks the reply carries exactly one fd per `Opened`.
fn open_many(conn: &RawConn, paths: &[&[u8]], access: Access) -> Vec<Answer> {
    let reply = conn.request(&Request::OpenMany {
        paths: Batch(paths.to_vec()),
        access,
        create_mode: 0,
    });
    let Response::OpenedMany { results } = reply.response() else {
        panic!("expected OpenedMany, got {:?}", reply.response());
    };
    assert_eq!(results.0.len(), paths.len(), "one record per path");
    let opened = results
        .0
        .iter()
        .filter(|o| matches!(o, Outcome::Opened { .. }))
        .count();
    assert_eq!(reply.fds.len(), opened, "one fd per Opened record");
    let mut fds = reply.fds.into_iter();
    results
        .0
        .iter()
        .map(|outcome| match *outcome {
            Outcome::Opened { .. } => Answer::Opened(read_fd(fds.next().expect("fd"))),
            Outcome::FailedWith { kind, errno, .. } => Answer::Failed(kind, errno),
            Outcome::Failed { .. } => panic!("the broker gives every failure its reason"),
            Outcome::Created { .. } => panic!("these batches never create"),
        })
        .collect()
}

/// The contents of a handed-out fd, or `<directory>` for a directory fd.
fn read_fd(fd: OwnedFd) -> Vec<u8> {
    let mut file = File::from(fd);
    if file.metadata().expect("fstat").is_dir() {
        return b"<directory>".to_vec();
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).expect("read brokered fd");
    bytes
}

// Symlinks out of the allowed tree in forms `paths.rs` does not try: relative targets
// climbing out with `..`, a chain of links, a link to `/`, a loop, and a relative link as
// a middle component. `RESOLVE_NO_SYMLINKS` refuses every one with `ELOOP`.
itest!(relative_chained_looping_symlinks_are_refused, |tree| {
    let policy = setup(&tree);
    tree.symlink("allowed/leaf", "../outside/secret");
    tree.symlink("allowed/chain1", "chain2");
    tree.symlink("allowed/chain2", "../outside/secret");
    tree.symlink("allowed/root", "/");
    tree.symlink("allowed/loop1", "loop2");
    tree.symlink("allowed/loop2", "loop1");
    tree.symlink("allowed/up", "../outside");
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let secret = tree.p("outside/secret");
    let paths = [
        tree.p("allowed/leaf"),
        tree.p("allowed/chain1"),
        format!("{}{secret}", tree.p("allowed/root")),
        tree.p("allowed/loop1"),
        tree.p("allowed/up/secret"),
    ];
    let conn = RawConn::connect_as(broker.socket(), ALICE).expect("connect as alice");
    let batch: Vec<&[u8]> = paths.iter().map(|p| p.as_bytes()).collect();
    let answers = open_many(&conn, &batch, Access::READ);
    for (path, answer) in paths.iter().zip(&answers) {
        assert_eq!(
            *answer,
            Answer::Failed(ErrorKind::Io, libc::ELOOP),
            "path {path}"
        );
    }
    drop(conn);
    broker.assert_fds_back_to(baseline);
    broker.assert_still_serving_as(ALICE, &tree.p("allowed/a.txt"), PUBLIC);
});

/// Tallies of the race below.
#[derive(Debug, Default)]
struct RaceTally {
    attempts: usize,
    public: usize,
    escapes: usize,
    refusals: BTreeMap<i32, usize>,
}

impl RaceTally {
    fn record(&mut self, answer: Answer) {
        self.attempts += 1;
        match answer {
            Answer::Opened(bytes) if bytes == PUBLIC => self.public += 1,
            Answer::Opened(bytes) => {
                self.escapes += 1;
                eprintln!("ESCAPE: got {:?}", String::from_utf8_lossy(&bytes));
            }
            Answer::Failed(_, errno) => *self.refusals.entry(errno).or_default() += 1,
        }
    }
}

// The document-portal race: while a root thread swaps `allowed/d` between a real
// directory (holding `file` = public) and a symlink to `outside/` (holding `file` =
// secret) with `renameat2(RENAME_EXCHANGE)` as fast as it can, alice streams requests for
// `allowed/d/file` (batches and single opens). The policy check passes every time (the
// path string is inside the tree); only the kernel's path walk stands between her and the
// secret. Zero escapes; both outcomes occur, which shows the race really ran.
itest!(symlink_swap_race_never_escapes, |tree| {
    let policy = setup(&tree);
    tree.private_file("allowed/d/file", PUBLIC);
    tree.private_file("outside/file", SECRET);
    tree.symlink("allowed/x", tree.path("outside"));
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();

    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (d, x, stop) = (tree.path("allowed/d"), tree.path("allowed/x"), stop.clone());
        std::thread::spawn(move || {
            let mut flips = 0u64;
            while !stop.load(Ordering::Relaxed) && flips < 50_000_000 {
                renameat_with(CWD, &d, CWD, &x, RenameFlags::EXCHANGE).expect("exchange");
                flips += 1;
            }
            flips
        })
    };

    let (socket, path) = (broker.socket().to_owned(), tree.p("allowed/d/file"));
    let started = Instant::now();
    let tally = within(Duration::from_secs(30), move || {
        let conn = RawConn::connect_as(&socket, ALICE).expect("connect as alice");
        let mut tally = RaceTally::default();
        let batch = vec![path.as_bytes(); MAX_BATCH];
        // 60 batches, unless the machine is so loaded that they take over 5 s.
        let deadline = Instant::now() + Duration::from_secs(5);
        for _ in 0..60 {
            for answer in open_many(&conn, &batch, Access::READ) {
                tally.record(answer);
            }
            if Instant::now() > deadline {
                break;
            }
        }
        for _ in 0..1000 {
            let reply = conn.request(&read(&path));
            tally.record(match reply.response() {
                Response::Opened { .. } => Answer::Opened(reply.file_contents()),
                _ => {
                    let (kind, errno) = reply.error();
                    Answer::Failed(kind, errno)
                }
            });
        }
        tally
    });
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().expect("flipper thread");
    println!("symlink race: {flips} swaps, {tally:?} in {elapsed:?}");

    assert_eq!(tally.escapes, 0, "secret bytes handed out: {tally:?}");
    assert!(tally.attempts >= 10 * MAX_BATCH + 1000, "{tally:?}");
    assert!(flips >= 1000, "only {flips} swaps: the race did not run");
    assert!(
        tally.public > 0 && tally.refusals.get(&libc::ELOOP).copied().unwrap_or(0) > 0,
        "both outcomes must occur if the swaps really raced the opens: {tally:?}"
    );
    let unexpected: Vec<_> = tally
        .refusals
        .keys()
        .filter(|&&e| e != libc::ELOOP && e != libc::ENOENT && e != libc::EAGAIN)
        .collect();
    assert!(unexpected.is_empty(), "unexpected errnos: {tally:?}");
    broker.assert_fds_back_to(baseline);
    // Put the real directory back in place, then check the broker still serves.
    if tree.path("allowed/d").is_symlink() {
        renameat_with(
            CWD,
            tree.path("allowed/d"),
            CWD,
            tree.path("allowed/x"),
            RenameFlags::EXCHANGE,
        )
        .expect("exchange back");
    }
    broker.assert_still_serving_as(ALICE, &tree.p("allowed/a.txt"), PUBLIC);
});

// Under a grant of *everything* to root (`/**`, read and list), magic links in `/proc`
// would hand out anything: another process's root or cwd, the broker's own log through
// its fd table, a file only the test holds open, the broker's executable. None of them
// resolves: `ELOOP` (`RESOLVE_NO_SYMLINKS` covers magic links too; `/proc/self` and
// `/dev/fd` are plain symlinks), or `ENOTDIR` for a magic link as the last component of a
// `list` (`O_DIRECTORY|O_NOFOLLOW` on a link). The secret's real path is handed out: the
// refusals are the open's doing, not the policy's.
itest!(magic_links_never_resolve_under_a_grant_of_all, |tree| {
    setup(&tree);
    let policy = Policy::new()
        .allow("everything")
        .users(&[0])
        .paths(&["/**"])
        .access("read,list")
        .to_string();
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let held = File::open(tree.path("outside/secret")).expect("hold the secret open");
    let (b, me, secret) = (broker.pid(), std::process::id(), tree.p("outside/secret"));
    let reads = [
        format!("/proc/self/root{secret}"),
        format!("/proc/thread-self/root{secret}"),
        format!("/proc/{b}/root{secret}"),
        format!("/proc/{b}/task/{b}/root{secret}"),
        format!("/proc/{me}/root{secret}"),
        format!("/proc/{b}/fd/2"),
        format!("/proc/{me}/fd/{}", held.as_raw_fd()),
        format!("/proc/{b}/exe"),
        format!("/proc/self/cwd{secret}"),
        "/proc/self/fd/2".to_owned(),
        "/dev/fd/2".to_owned(),
        "/dev/stderr".to_owned(),
    ];
    let lists = [
        format!("/proc/{b}/cwd"),
        format!("/proc/{b}/root"),
        format!("/proc/{me}/cwd"),
    ];
    let conn = RawConn::connect(broker.socket()).expect("connect");
    let mut refusals = BTreeMap::new();
    for (paths, access) in [(&reads[..], Access::READ), (&lists[..], Access::LIST)] {
        let batch: Vec<&[u8]> = paths.iter().map(|p| p.as_bytes()).collect();
        for (path, answer) in paths.iter().zip(open_many(&conn, &batch, access)) {
            match answer {
                Answer::Failed(_, errno @ (libc::ELOOP | libc::EXDEV | libc::ENOTDIR)) => {
                    *refusals.entry(errno).or_insert(0) += 1;
                }
                other => broker.fail(&format!("{path} ({access}) gave {other:?}")),
            }
        }
    }
    println!("magic links: refusals by errno {refusals:?}");
    // Single opens take the same path through the broker as batches; one to be sure.
    let single = conn.request(&read(&reads[2]));
    assert!(matches!(
        single.error(),
        (ErrorKind::Io, libc::ELOOP | libc::EXDEV)
    ));
    // The grant itself works: the real path is handed out.
    assert_eq!(conn.request(&read(&secret)).file_contents(), SECRET);
    drop((conn, held));
    broker.assert_fds_back_to(baseline);
    let fresh = RawConn::connect(broker.socket()).expect("connect");
    let a = tree.p("allowed/a.txt");
    assert_eq!(fresh.request(&read(&a)).file_contents(), PUBLIC);
});

// Hostile path bytes and lengths. A NUL inside is invalid (it would cut the path short
// for the kernel). A component of exactly `NAME_MAX` (255) bytes is opened, one of 256 is
// `ENAMETOOLONG` from the kernel (allowed, then failed, and audited). A path of exactly
// `MAX_PATH` (4095) bytes is decided and walked (`ENOENT`); one byte more, or 8 KiB, is
// `TooLarge` before any decision.
itest!(nul_name_max_and_path_max_boundaries, |tree| {
    let policy = setup(&tree);
    let name255 = "n".repeat(255);
    tree.private_file(&format!("allowed/{name255}"), b"255\n");
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let allowed = tree.p("allowed");
    let long_component = format!("{allowed}/{}", "n".repeat(256));
    let exactly_max = {
        // 100-byte components while far from the limit, then one that ends exactly on it
        // (between 149 and 249 bytes: a legal name).
        let mut p = format!("{allowed}/deep");
        while MAX_PATH - p.len() > 250 {
            p.push_str(&format!("/{}", "d".repeat(100)));
        }
        p.push_str(&format!("/{}", "d".repeat(MAX_PATH - p.len() - 1)));
        p
    };
    assert_eq!(exactly_max.len(), MAX_PATH);
    let over_max = format!("{exactly_max}x");
    let huge = format!("{allowed}/{}", "h".repeat(8192));
    type Expected = Result<&'static [u8], (ErrorKind, i32)>;
    let cases: Vec<(Vec<u8>, Expected)> = vec![
        (
            format!("{allowed}/a.txt\0/../../outside/secret").into_bytes(),
            Err((ErrorKind::InvalidRequest, libc::EINVAL)),
        ),
        (format!("{allowed}/{name255}").into_bytes(), Ok(b"255\n")),
        (
            long_component.clone().into_bytes(),
            Err((ErrorKind::Io, libc::ENAMETOOLONG)),
        ),
        (
            exactly_max.into_bytes(),
            Err((ErrorKind::NotFound, libc::ENOENT)),
        ),
        (
            over_max.clone().into_bytes(),
            Err((ErrorKind::TooLarge, libc::ENAMETOOLONG)),
        ),
        (
            huge.into_bytes(),
            Err((ErrorKind::TooLarge, libc::ENAMETOOLONG)),
        ),
    ];
    let conn = RawConn::connect_as(broker.socket(), ALICE).expect("connect as alice");
    for (path, expected) in &cases {
        let reply = conn.request(&read(path));
        let what = String::from_utf8_lossy(&path[..path.len().min(80)]).into_owned();
        match expected {
            Ok(contents) => assert_eq!(reply.file_contents(), *contents, "{what}"),
            Err(error) => assert_eq!(reply.error(), *error, "{what}..."),
        }
    }
    broker.expect_log(&format!(
        "path={long_component:?} rule=\"reads-allowed\" errno=ENAMETOOLONG"
    ));
    let log = broker.log();
    assert!(
        !log.contains(&format!("path={over_max:?}")),
        "an over-long path must be refused before any decision"
    );
    drop(conn);
    broker.assert_fds_back_to(baseline);
    broker.assert_still_serving_as(ALICE, &tree.p("allowed/a.txt"), PUBLIC);
});

// Linux names are bytes: a real file whose name is not UTF-8 (`0xff 0xfe ... 0x80`) under
// an allowed `**` grant is handed out to `fdagent cat` given the raw bytes, and its audit
// line shows them as `\xNN` escapes (one line, the exact bytes).
itest!(non_utf8_names_are_served_and_audited_escaped, |tree| {
    let policy = setup(&tree);
    let name = b"\xff\xfe name\x80.txt";
    let mut path = tree.path("allowed").into_os_string().into_vec();
    path.push(b'/');
    path.extend_from_slice(name);
    let path = PathBuf::from(OsString::from_vec(path));
    std::fs::write(&path, b"bytes\n").expect("create the non-UTF-8 file");
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let out = broker.fdagent(ALICE).arg("cat").arg(path.as_os_str()).run();
    out.code_is(0).stdout_is("bytes\n");
    let expected = format!(
        "allow op=open uid=2001 gid=2001 pid={} access=read path=\"{}/\\xff\\xfe name\\x80.txt\" rule=\"reads-allowed\"",
        out.pid,
        tree.p("allowed")
    );
    broker.expect_log(&expected);
    broker.assert_fds_back_to(baseline);
    broker.assert_still_serving_as(ALICE, &tree.p("allowed/a.txt"), PUBLIC);
});

/// Unmounts a bind mount when dropped, so a failing test never leaves it behind.
#[derive(Debug)]
struct BindMount(PathBuf);

impl BindMount {
    fn new(source: &Path, target: &Path) -> BindMount {
        let status = Command::new("mount")
            .arg("--bind")
            .arg(source)
            .arg(target)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount --bind failed: {status}");
        BindMount(target.to_owned())
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.0).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            // Busy (an fd still open below it): detach it now, it goes when unused.
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

// A bind mount inside the allowed tree, leading to `outside/`, is followed like any
// directory: this is documented behaviour (only root can create one, and the broker
// does not set `RESOLVE_NO_XDEV`). The mount is removed even if the test fails.
itest!(bind_mount_in_the_tree_is_followed, |tree| {
    let policy = setup(&tree);
    tree.dir("allowed/mnt", 0o700);
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let mount = BindMount::new(&tree.path("outside"), &tree.path("allowed/mnt"));
    let path = tree.p("allowed/mnt/secret");
    let out = broker.cat(ALICE, &path);
    out.code_is(0).stdout_is(SECRET);
    broker.expect_log(&audit_allow(ALICE, out.pid, "read", &path, "reads-allowed"));
    drop(mount);
    assert!(
        !tree.path("allowed/mnt/secret").exists(),
        "the bind mount is gone"
    );
    broker.cat(ALICE, &path).code_is(66);
    broker.assert_fds_back_to(baseline);
    broker.assert_still_serving_as(ALICE, &tree.p("allowed/a.txt"), PUBLIC);
});

// The hard-link attack needs the client to make the link. With
// `fs.protected_hardlinks = 1` (Debian's default) an unprivileged uid cannot link a file
// it neither owns nor can read and write: alice's `ln` from a directory she owns inside
// the allowed tree to a root-only file outside fails with `EPERM`, so the broker, asked
// for the link, finds nothing (`ENOENT`).
itest!(protected_hardlinks_stop_link_into_the_tree, |tree| {
    let protected = std::fs::read_to_string("/proc/sys/fs/protected_hardlinks")
        .expect("read /proc/sys/fs/protected_hardlinks");
    if protected.trim() != "1" {
        eprintln!("SKIP protected_hardlinks test: fs.protected_hardlinks is {protected}");
        return;
    }
    let policy = setup(&tree);
    // alice may walk to the secret (so the refusal is protected_hardlinks, not a
    // directory's permissions) but not read it; she owns a directory in the allowed tree.
    tree.chmod("outside", 0o755);
    tree.chmod("allowed", 0o755);
    tree.dir("allowed/drop", 0o700);
    tree.chown("allowed/drop", ALICE.uid, ALICE.gid);
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let link = tree.p("allowed/drop/link");
    let ln = tree
        .cmd(Path::new("/usr/bin/ln"))
        .user(ALICE)
        .args([&tree.p("outside/secret"), &link])
        .run();
    ln.code_is(1).stderr_has("Operation not permitted");
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the link must not exist"
    );
    let out = broker.cat(ALICE, &link);
    out.code_is(66).stdout_is("");
    // The same file under its real path is still refused by the policy.
    let secret = tree.p("outside/secret");
    broker.cat(ALICE, &secret).code_is(77);
    assert_eq!(
        std::fs::metadata(&secret).expect("stat").nlink(),
        1,
        "no link was made"
    );
    broker.assert_fds_back_to(baseline);
    broker.assert_still_serving_as(ALICE, &tree.p("allowed/a.txt"), PUBLIC);
});

// A directory is never handed out for `read`, and the spec says how it is refused:
// allowed by the policy, then `NotRegular`/`EISDIR` (not an `EACCES` that reads like a
// denial), also when the policy grants only `read` (no `list` anywhere).
itest!(directory_for_read_under_a_read_grant_is_eisdir, |tree| {
    tree.private_file("allowed/sub/b.txt", b"beta\n");
    let policy = Policy::new()
        .allow("reads")
        .users(&[ALICE])
        .paths(&[tree.p("allowed/**")])
        .access("read")
        .to_string();
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let conn = RawConn::connect_as(broker.socket(), ALICE).expect("connect as alice");
    for dir in [tree.p("allowed"), tree.p("allowed/sub")] {
        let reply = conn.request(&read(&dir));
        assert_eq!(
            reply.error(),
            (ErrorKind::NotRegular, libc::EISDIR),
            "{dir}"
        );
    }
    let b = tree.p("allowed/sub/b.txt");
    assert_eq!(conn.request(&read(&b)).file_contents(), b"beta\n");
    drop(conn);
    broker.assert_fds_back_to(baseline);
});
