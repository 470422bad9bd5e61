//! The protocol as an attacker speaks it, beyond `protocol.rs`: encodings that are valid
//! postcard but carry absurd values, a full batch of every kind of bad path, a flood of
//! requests whose replies are never read, and forged `SCM_CREDENTIALS`. Each case checks
//! that no fd outside the policy is handed out, that nothing leaks, and that the broker
//! still serves.

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::os::unix::fs::symlink;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fdbroker_wire::{
    Access, Batch, ErrorKind, MAX_BATCH, MAX_PATH, Outcome, Request, Response, VERSION,
};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, UCred, sendmsg};
use rustix::process::{Gid, Uid, getpid};

use crate::harness::{ALICE, Broker, Policy, RawConn, Tree, encode, itest, read, within};

/// Root (in-process clients) may read `data/**`; alice may read `hers/alice.txt`;
/// `secret` is covered by no rule.
fn setup(tree: &Tree) -> String {
    tree.private_file("data/a.txt", b"alpha\n");
    tree.private_file("hers/alice.txt", b"alice\n");
    tree.private_file("secret", b"secret\n");
    Policy::new()
        .allow("root-reads")
        .users(&[0])
        .paths(&[tree.p("data/**")])
        .access("read")
        .allow("alice-reads-hers")
        .users(&[ALICE])
        .paths(&[tree.p("hers/alice.txt")])
        .access("read")
        .to_string()
}

/// The broker's peak resident memory (`VmHWM`), in KiB.
fn peak_rss_kib(broker: &Broker) -> u64 {
    let field = broker.status_field("VmHWM");
    field
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("VmHWM in kB")
}

/// A postcard varint (LEB128) of `n`.
fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

// Messages that are well-formed postcard up to the point where a value is absurd: batch
// counts of 2^32, 2^64-1 and `MAX_BATCH + 1` followed by one path, a full count with one
// path, access bytes with unknown or reserved bits (0x04, 0x80, 0xff, read|0x80), a `create_mode`
// of 0xffffffff and of 2^32 (over `u32`), and path lengths of 255, 65535 and 2^31 before
// two bytes. Each is `InvalidRequest`, the path inside (an allowed file) is never opened,
// and the broker's peak memory does not move: nothing was allocated from a claimed count.
itest!(absurd_values_in_valid_encodings_are_refused, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let peak_before = peak_rss_kib(&broker);
    let path = tree.p("data/a.txt");
    let path_field = [varint(path.len() as u64), path.as_bytes().to_vec()].concat();
    let (open, many) = ([VERSION, 1], [VERSION, 2]);
    let mut messages: Vec<(String, Vec<u8>)> = Vec::new();
    for count in [1 << 32, u64::MAX, MAX_BATCH as u64 + 1, MAX_BATCH as u64] {
        let msg = [&many[..], &varint(count), &path_field, &[1, 0]].concat();
        messages.push((format!("OpenMany count {count} with one path"), msg));
    }
    for access in [0x04, 0x80, 0xff, 0x81] {
        let msg = [&open[..], &path_field, &[access, 0]].concat();
        messages.push((format!("Open access {access:#x}"), msg));
        let msg = [&many[..], &[1], &path_field, &[access, 0]].concat();
        messages.push((format!("OpenMany access {access:#x}"), msg));
    }
    let write_create = (Access::WRITE | Access::CREATE).bits();
    for mode in [0xffff_ffff, 1 << 32, u64::MAX] {
        let msg = [&open[..], &path_field, &[write_create], &varint(mode)].concat();
        messages.push((format!("Open create_mode {mode:#x}"), msg));
    }
    for len in [255, 65535, 1 << 31] {
        let msg = [&open[..], &varint(len), b"/a", &[1, 0]].concat();
        messages.push((format!("Open path length {len} with 2 bytes"), msg));
    }
    for (what, msg) in &messages {
        let conn = RawConn::connect(broker.socket()).expect("connect");
        conn.send(msg).expect("send");
        assert_eq!(
            conn.recv().error(),
            (ErrorKind::InvalidRequest, libc::EINVAL),
            "{what}"
        );
    }
    broker.assert_nothing_opened();
    let grown = peak_rss_kib(&broker).saturating_sub(peak_before);
    assert!(grown < 16 * 1024, "peak memory grew by {grown} KiB");
    broker.assert_fds_back_to(baseline);
    broker.assert_still_serving(&tree.p("data/a.txt"), b"alpha\n");
});

/// What each path of the mixed batch must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Contents(&'static [u8]),
    Error(ErrorKind, i32),
}

// One `OpenMany` of `MAX_BATCH` paths cycling through every kind of bad path (denied,
// missing, relative, `..`, `.`, `//`, trailing `/`, empty, NUL, over `MAX_PATH`, a
// symlink, a FIFO, a 256-byte component, a missing non-UTF-8 name) with good
// ones between them: every path gets its own record, in order, one fd per success and
// only for the good paths, one audit line per decided path.
itest!(mixed_bad_paths_in_a_full_batch_each_answered, |tree| {
    let policy = setup(&tree);
    tree.fifo("data/fifo");
    symlink(tree.path("secret"), tree.path("data/link")).expect("symlink");
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let data = tree.p("data");
    let invalid = Expect::Error(ErrorKind::InvalidRequest, libc::EINVAL);
    let good = (
        format!("{data}/a.txt").into_bytes(),
        Expect::Contents(b"alpha\n"),
    );
    let kinds: Vec<(Vec<u8>, Expect)> = vec![
        good.clone(),
        (
            tree.p("secret").into_bytes(),
            Expect::Error(ErrorKind::Denied, libc::EACCES),
        ),
        (
            format!("{data}/missing").into_bytes(),
            Expect::Error(ErrorKind::NotFound, libc::ENOENT),
        ),
        (b"data/a.txt".to_vec(), invalid),
        (format!("{data}/../secret").into_bytes(), invalid),
        (format!("{data}/./a.txt").into_bytes(), invalid),
        (format!("{data}//a.txt").into_bytes(), invalid),
        (format!("{data}/a.txt/").into_bytes(), invalid),
        (Vec::new(), invalid),
        (format!("{data}/a.txt\0x").into_bytes(), invalid),
        (
            format!("{data}/link").into_bytes(),
            Expect::Error(ErrorKind::Io, libc::ELOOP),
        ),
        (
            format!("{data}/fifo").into_bytes(),
            Expect::Error(ErrorKind::NotRegular, libc::ENXIO),
        ),
        (
            format!("{data}/{}", "n".repeat(256)).into_bytes(),
            Expect::Error(ErrorKind::Io, libc::ENAMETOOLONG),
        ),
        (
            [data.as_bytes(), b"/\xff\xfe\x80"].concat(),
            Expect::Error(ErrorKind::NotFound, libc::ENOENT),
        ),
    ];
    let mut batch: Vec<(Vec<u8>, Expect)> = (0..MAX_BATCH)
        .map(|i| {
            // Every other path is good, the rest cycle through the kinds.
            if i % 2 == 0 {
                good.clone()
            } else {
                kinds[(i / 2) % kinds.len()].clone()
            }
        })
        .collect();
    // One over-long path (more would not fit in a request).
    batch[101] = (vec![b'/'; MAX_PATH + 1], invalid);
    let paths: Vec<&[u8]> = batch.iter().map(|(p, _)| p.as_slice()).collect();
    let conn = RawConn::connect(broker.socket()).expect("connect");
    let reply = conn.request(&Request::OpenMany {
        paths: Batch(paths),
        access: Access::READ,
        create_mode: 0,
    });
    let Response::OpenedMany { results } = reply.response() else {
        broker.fail(&format!("expected OpenedMany, got {:?}", reply.response()));
    };
    assert_eq!(results.0.len(), MAX_BATCH);
    let goods = batch
        .iter()
        .filter(|(_, e)| matches!(e, Expect::Contents(_)))
        .count();
    assert_eq!(reply.fds.len(), goods, "one fd per good path, none other");
    let mut fds = reply.fds.iter();
    for (i, ((path, expected), outcome)) in batch.iter().zip(&results.0).enumerate() {
        let what = format!(
            "path {i} {:?}",
            String::from_utf8_lossy(&path[..path.len().min(60)])
        );
        match (*expected, *outcome) {
            (Expect::Contents(bytes), Outcome::Opened { .. }) => {
                let fd = fds
                    .next()
                    .expect("an fd for each Opened")
                    .try_clone()
                    .expect("dup");
                let mut got = Vec::new();
                std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut got).expect("read");
                assert_eq!(got, bytes, "{what}");
            }
            (
                Expect::Error(kind, errno),
                Outcome::FailedWith {
                    kind: k, errno: e, ..
                },
            ) => {
                assert_eq!((k, e), (kind, errno), "{what}");
            }
            (expected, outcome) => panic!("{what}: expected {expected:?}, got {outcome:?}"),
        }
    }
    let decided = batch.iter().filter(|(_, e)| *e != invalid).count();
    let log = broker.wait_for_count(" op=open uid=0 ", decided);
    assert_eq!(
        log.matches(" op=open uid=0 ").count(),
        decided,
        "audit lines"
    );
    assert_eq!(
        log.matches("refused path from uid=0").count(),
        MAX_BATCH - decided,
        "refusal lines"
    );
    drop((reply, conn));
    broker.assert_fds_back_to(baseline);
    broker.assert_still_serving(&tree.p("data/a.txt"), b"alpha\n");
});

/// Sends pings on `conn` as fast as it can without reading replies (non-blocking sends,
/// waiting briefly for room on `EAGAIN`) until 20,000 are sent or the sends have been
/// blocked for 300 ms: the broker has stopped taking requests. Returns how many were sent.
fn flood(conn: &RawConn) -> usize {
    let ping = encode(&Request::Ping);
    let (mut sent, mut blocked_since) = (0, None::<Instant>);
    while sent < 20_000 {
        match rustix::net::send(conn, &ping, SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
            Ok(_) => {
                sent += 1;
                blocked_since = None;
            }
            Err(Errno::AGAIN) => {
                let since = *blocked_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(300) {
                    break;
                }
                let mut fds = [PollFd::new(conn, PollFlags::OUT)];
                let timeout = Timespec {
                    tv_sec: 0,
                    tv_nsec: 10_000_000,
                };
                let _ = poll(&mut fds, Some(&timeout));
            }
            Err(e) => panic!("unexpected send error after {sent} pings: {e}"),
        }
    }
    sent
}

// A client sends pings as fast as it can and reads no reply. Once its unread replies
// reach its connection's limit, the broker stops taking its requests (the fds in unread
// replies are charged to the broker, so it must not let them pile up): the client's
// sends block, nothing is dropped, and a second client of the same uid pinging every
// 2 ms is answered within a second throughout. When the flooder reads, every ping it
// sent is answered, in order.
itest!(unread_ping_flood_is_held_back_others_served, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let flooding = Arc::new(AtomicBool::new(true));
    let (probes_tx, probes_rx) = std::sync::mpsc::channel();
    let prober = {
        let (socket, flooding) = (broker.socket().to_owned(), flooding.clone());
        std::thread::spawn(move || {
            let conn = RawConn::connect(&socket).expect("connect the prober");
            let (mut probes, mut worst) = (0u32, Duration::ZERO);
            while flooding.load(Ordering::Relaxed) && probes < 100_000 {
                let start = Instant::now();
                assert_eq!(conn.request(&Request::Ping).response(), Response::Pong);
                worst = worst.max(start.elapsed());
                probes += 1;
                let _ = probes_tx.send(());
                std::thread::sleep(Duration::from_millis(2));
            }
            (probes, worst)
        })
    };
    probes_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the prober is served before the flood");

    let conn = RawConn::connect(broker.socket()).expect("connect the flooder");
    let sent = flood(&conn);
    let answered = within(Duration::from_secs(20), move || {
        (0..sent).all(|_| conn.recv().response() == Response::Pong)
    });
    flooding.store(false, Ordering::Relaxed);
    let (probes, worst) = prober.join().expect("prober");
    println!(
        "flood: {sent} pings before the broker held back; prober: {probes} pings, worst {worst:?}"
    );
    assert!(
        sent < 20_000,
        "the broker kept taking requests from a client that reads nothing"
    );
    assert!(answered, "every ping is answered once the flooder reads");
    assert!(
        worst < Duration::from_secs(1),
        "a prober ping took {worst:?}"
    );
    broker.assert_fds_back_to(baseline);
    broker.assert_still_serving(&tree.p("data/a.txt"), b"alpha\n");
});

/// Sends `request` on `conn` with `SCM_CREDENTIALS` claiming `(uid, gid)` and this
/// process's pid (a pid other than the caller's own needs `CAP_SYS_ADMIN`).
fn send_with_creds(conn: &RawConn, request: &Request<'_>, uid: u32, gid: u32) -> Result<(), Errno> {
    let msg = encode(request);
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let creds = UCred {
        pid: getpid(),
        uid: Uid::from_raw(uid),
        gid: Gid::from_raw(gid),
    };
    assert!(control.push(SendAncillaryMessage::ScmCredentials(creds)));
    sendmsg(
        conn.as_fd(),
        &[IoSlice::new(&msg)],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .map(|_| ())
}

// `SCM_CREDENTIALS` are a claim, `SO_PEERCRED` is a fact. Root (which the kernel lets
// attach any credentials) claims to be alice for her own file: denied, audited as uid 0.
// A thread running as alice with a saved uid of 0 (so the kernel lets it claim uid 0)
// claims root for a file only root may read: denied, audited as uid 2001. A plain alice
// cannot even send the forgery: the kernel refuses it with `EPERM`.
itest!(forged_scm_credentials_are_ignored, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let (hers, roots) = (tree.p("hers/alice.txt"), tree.p("data/a.txt"));
    let conn = RawConn::connect(broker.socket()).expect("connect as root");
    send_with_creds(&conn, &read(&hers), ALICE.uid, ALICE.gid).expect("root may attach any creds");
    assert_eq!(conn.recv().error(), (ErrorKind::Denied, libc::EACCES));
    broker.expect_log(&format!(
        "deny op=open uid=0 gid=0 pid={} access=read path={hers:?}",
        std::process::id()
    ));

    let (socket, roots2) = (broker.socket().to_owned(), roots.clone());
    let (half, plain) = within(Duration::from_secs(10), move || {
        std::thread::spawn(move || {
            let request = read(&roots2);
            // alice, keeping 0 as saved uid and gid: what a setuid program that has not
            // yet dropped for good looks like.
            let (a, ag, root) = (Uid::from_raw(2001), Gid::from_raw(2001), Uid::ROOT);
            rustix::thread::set_thread_groups(&[]).expect("setgroups");
            rustix::thread::set_thread_res_gid(ag, ag, Gid::ROOT).expect("setresgid");
            rustix::thread::set_thread_res_uid(a, a, root).expect("setresuid");
            let conn = RawConn::connect(&socket).expect("connect");
            send_with_creds(&conn, &request, 0, 0).expect("a saved uid of 0 may claim 0");
            let half = conn.recv().error();
            // Now drop the saved ids too: the same forgery is refused by the kernel.
            rustix::thread::set_thread_res_gid(ag, ag, ag).expect("setresgid");
            rustix::thread::set_thread_res_uid(a, a, a).expect("setresuid");
            let conn = RawConn::connect(&socket).expect("connect");
            let plain = send_with_creds(&conn, &request, 0, 0);
            (half, plain)
        })
        .join()
        .expect("alice thread")
    });
    assert_eq!(half, (ErrorKind::Denied, libc::EACCES));
    broker.expect_log(&format!(
        "deny op=open uid=2001 gid=2001 pid={} access=read path={roots:?}",
        std::process::id()
    ));
    assert_eq!(
        plain,
        Err(Errno::PERM),
        "the kernel must refuse forged creds"
    );
    broker.assert_nothing_opened();
    drop(conn);
    broker.assert_fds_back_to(baseline);
    broker.assert_still_serving(&tree.p("data/a.txt"), b"alpha\n");
});
