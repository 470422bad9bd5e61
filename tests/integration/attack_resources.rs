//! Attacks on the broker's resources: a thousand idle connections, running out of file
//! descriptors, and many clients of many uids at once. Real clients must still be served
//! promptly and correctly, nothing may leak, and an exhausted broker must answer with
//! errors and recover instead of crashing, hanging or spinning.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fdbroker_wire::{Access, Batch, ErrorKind, MAX_BATCH, Outcome, Reason, Request, Response};
use rustix::io::Errno;
use rustix::net::SendFlags;
use rustix::process::Signal;

use crate::harness::{
    ALICE, BOB, Broker, CAROL, Policy, RawConn, SCANNERS, Tree, User, audit_allow, audit_fail,
    encode, itest, read, wait_until, within,
};

/// Root (in-process clients) and alice may read `data/**`.
fn setup(tree: &Tree) -> String {
    tree.private_file("data/a.txt", b"alpha\n");
    Policy::new()
        .allow("readers")
        .users(&[0, ALICE.uid])
        .paths(&[format!("{}/**", tree.p("data"))])
        .access("read")
        .to_string()
}

/// A user with no supplementary groups, for tests that only need many distinct uids.
fn plain_user(uid: u32) -> User {
    User {
        uid,
        gid: uid,
        groups: &[],
    }
}

// 1000 idle connections, spread over 20 uids so the default limits (1024 in all, 64 per
// uid) admit them all (each answers one ping, then sits idle), cost the broker one fd
// each and nobody any time: a real `fdagent cat` is served in under a second. Closing
// them frees every fd.
itest!(thousand_idle_connections_do_not_delay, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let started = Instant::now();
    let idle: Vec<RawConn> = (0..20)
        .flat_map(|i| {
            RawConn::connect_many_as(broker.socket(), plain_user(3000 + i), 50).expect("connect")
        })
        .collect();
    let opened_in = started.elapsed();
    // Each was admitted (not refused as over a limit): a ping is answered on every one.
    for conn in &idle {
        assert_eq!(conn.request(&Request::Ping).response(), Response::Pong);
    }
    let out = broker.cat(ALICE, &tree.p("data/a.txt"));
    out.code_is(0).stdout_is("alpha\n");
    println!(
        "1000 idle connections opened in {opened_in:?}; fdagent cat served in {:?}",
        out.elapsed
    );
    assert!(
        out.elapsed < Duration::from_secs(1),
        "fdagent took {:?}",
        out.elapsed
    );
    assert!(
        broker.fd_count() >= baseline + 999,
        "one fd per idle connection"
    );
    drop(idle);
    broker.assert_fds_back_to(baseline);
    let conn = RawConn::connect(broker.socket()).expect("connect");
    assert_eq!(
        conn.request(&read(&tree.p("data/a.txt"))).file_contents(),
        b"alpha\n"
    );
});

/// The broker's limits on open files, as `prlimit` prints them (`SOFT:HARD`).
fn nofile_limits(pid: u32) -> String {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let fields: Vec<&str> = line.split_whitespace().collect();
    format!("{}:{}", fields[3], fields[4])
}

fn prlimit(pid: u32, nofile: &str) {
    let status = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={nofile}"))
        .status()
        .expect("run prlimit");
    assert!(status.success(), "prlimit --nofile={nofile}: {status}");
}

/// Restores the broker's open-files limit when dropped, even if the test fails.
struct RestoreLimit(u32, String);

impl Drop for RestoreLimit {
    fn drop(&mut self) {
        let _ = Command::new("prlimit")
            .arg(format!("--pid={}", self.0))
            .arg(format!("--nofile={}", self.1))
            .status();
    }
}

/// Receives what the broker said first on a fresh connection, if anything: an unasked
/// `Busy` on a refused connection (after an `ECONNRESET`, if our ping was still unread
/// when it closed), or `Pong` on an admitted one.
fn first_reply(conn: &RawConn) -> Response<'static> {
    let _ = conn.send(&encode(&Request::Ping));
    let reply = match conn.try_recv() {
        Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => conn.try_recv(),
        other => other,
    }
    .unwrap_or_else(|e| panic!("no answer within the timeout: {e}"));
    match reply.response() {
        Response::Pong => Response::Pong,
        Response::Error { kind, errno, .. } => {
            assert_eq!((kind, errno), (ErrorKind::Busy, libc::EBUSY));
            Response::Error {
                kind,
                errno,
                message: "",
            }
        }
        other => panic!("unexpected first reply {other:?}"),
    }
}

// Out of file descriptors (its soft limit lowered to 40 with `prlimit` while it runs, then
// 60 connections opened): the connections it cannot hold get `Busy` at once and are
// closed (it keeps a reserve fd to accept and refuse them), instead of waiting in the
// listen backlog; requests on the connections it has get `EMFILE` errors (no crash, no
// hang), and it does not spin (its CPU time over 1 s stays low). Closing some connections
// lets new ones in, and raising the limit back lets it serve everyone again; closing
// everything returns the fd count to its baseline.
itest!(running_out_of_fds_gives_errors_not_a_spin, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let pid = broker.pid();
    // Only the soft limit: raising a hard limit back needs CAP_SYS_RESOURCE, which the
    // test may not have (containers often drop it).
    let limits = nofile_limits(pid);
    let hard = limits.split_once(':').expect("SOFT:HARD").1.to_owned();
    let restore = RestoreLimit(pid, limits);
    prlimit(pid, &format!("40:{hard}"));
    let conns: Vec<RawConn> = (0..60)
        .map(|_| RawConn::connect(broker.socket()).expect("connect"))
        .collect();
    // Each is answered within the reply timeout: a `Pong`, or `Busy` and closed.
    let (mut conns, refused): (Vec<RawConn>, Vec<RawConn>) = conns
        .into_iter()
        .partition(|conn| first_reply(conn) == Response::Pong);
    println!(
        "fd exhaustion: {} connections admitted, {} refused",
        conns.len(),
        refused.len()
    );
    assert!(
        conns.len() < 40 && conns.len() > 10,
        "{} admitted",
        conns.len()
    );
    broker.wait_for_log(0, "out of file descriptors");
    for conn in &refused {
        // `ECONNRESET` first if the broker closed it with our ping unread.
        let end = match conn.try_recv() {
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => conn.try_recv(),
            other => other,
        };
        assert!(
            end.is_ok_and(|r| r.is_eof()),
            "a refused connection is closed"
        );
    }
    drop(refused);
    // An fd the broker held for a moment (the start-up ping's connection) may have freed
    // a slot since: fill it, so that the broker is out of fds for what follows.
    for _ in 0..5 {
        let conn = RawConn::connect(broker.socket()).expect("connect");
        if first_reply(&conn) != Response::Pong {
            break;
        }
        conns.push(conn);
    }
    let admitted = conns.len();

    let path = tree.p("data/a.txt");
    let (kind, errno) = conns[0].request(&read(&path)).error();
    assert_eq!(errno, libc::EMFILE, "{kind:?}");
    assert!(
        matches!(kind, ErrorKind::Io | ErrorKind::Internal),
        "{kind:?}"
    );
    let reply = conns[1].request(&Request::OpenMany {
        paths: Batch(vec![path.as_bytes(); 3]),
        access: Access::READ,
        create_mode: 0,
    });
    match reply.response() {
        Response::OpenedMany { results } => {
            assert!(reply.fds.is_empty());
            for outcome in results.0 {
                assert!(
                    matches!(
                        outcome,
                        Outcome::FailedWith {
                            errno: libc::EMFILE,
                            reason: Reason::OutOfResources,
                            ..
                        }
                    ),
                    "{outcome:?}"
                );
            }
        }
        other => panic!("expected OpenedMany, got {other:?}"),
    }
    assert_eq!(conns[2].request(&Request::Ping).response(), Response::Pong);

    let cpu_before = broker.cpu_time();
    std::thread::sleep(Duration::from_secs(1)); // measuring, not synchronizing
    let cpu = broker.cpu_time() - cpu_before;
    println!("fd exhaustion: broker CPU over 1 s: {cpu:?}");
    assert!(
        cpu < Duration::from_millis(200),
        "the broker spins: {cpu:?} of CPU in 1 s"
    );

    // Once some fds are freed, a new connection is admitted again.
    conns.truncate(admitted - 5);
    let newcomer = wait_until(Duration::from_secs(10), || {
        let conn = RawConn::connect(broker.socket()).ok()?;
        (first_reply(&conn) == Response::Pong).then_some(conn)
    })
    .unwrap_or_else(|| broker.fail("no connection admitted after closing some"));
    conns.push(newcomer);

    drop(restore);
    for conn in &conns {
        assert_eq!(conn.request(&Request::Ping).response(), Response::Pong);
    }
    assert_eq!(conns[0].request(&read(&path)).file_contents(), b"alpha\n");
    drop(conns);
    broker.assert_fds_back_to(baseline);
});

/// The team group of the mixed policy, and a group a deny rule names.
const TEAM: u32 = 3100;
const OPS: u32 = 3101;
const BANNED: u32 = 3102;

/// Eight identities: team by supplementary or primary group, ops, both, neither, a team
/// member a deny rule names by uid, one in a group that is denied the public area, and
/// the one uid an allow rule names for the secret area (which a deny rule for everyone
/// still closes).
const USERS: [User; 8] = [
    User {
        uid: 3001,
        gid: 3001,
        groups: &[TEAM],
    },
    User {
        uid: 3002,
        gid: 3002,
        groups: &[TEAM, OPS],
    },
    User {
        uid: 3003,
        gid: 3003,
        groups: &[],
    },
    User {
        uid: 3004,
        gid: TEAM,
        groups: &[],
    },
    User {
        uid: 3005,
        gid: 3005,
        groups: &[OPS],
    },
    User {
        uid: 3006,
        gid: 3006,
        groups: &[TEAM],
    },
    User {
        uid: 3007,
        gid: 3007,
        groups: &[BANNED],
    },
    User {
        uid: 3008,
        gid: 3008,
        groups: &[7],
    },
];

/// The policy under test: allow by `*`, by group, by uid (a home per uid); deny by uid,
/// by group and for everyone.
fn mixed_policy(tree: &Tree) -> String {
    let d = tree.p("data");
    let mut policy = Policy::new()
        .allow("public")
        .everyone()
        .paths(&[format!("{d}/pub/**")])
        .access("read")
        .allow("team")
        .groups(&[TEAM])
        .paths(&[format!("{d}/team/**")])
        .access("read")
        .allow("ops")
        .groups(&[OPS])
        .paths(&[format!("{d}/ops/**")])
        .access("read")
        .deny("3006-off-team")
        .users(&[3006])
        .paths(&[format!("{d}/team/**")])
        .access("read")
        .deny("banned-off-public")
        .groups(&[BANNED])
        .paths(&[format!("{d}/pub/**")])
        .access("read")
        .allow("keeper")
        .users(&[3003])
        .paths(&[format!("{d}/secret/**")])
        .access("read")
        .deny("secret-closed")
        .everyone()
        .paths(&[format!("{d}/secret/**")])
        .access("read,list");
    for user in USERS {
        policy = policy
            .allow(&format!("home-{}", user.uid))
            .users(&[user])
            .paths(&[format!("{d}/home/{}/**", user.uid)])
            .access("read");
    }
    policy.to_string()
}

/// The areas of the tree, each with 4 files.
fn areas() -> Vec<String> {
    let mut areas: Vec<String> = ["pub", "team", "ops", "secret"].map(String::from).to_vec();
    areas.extend(USERS.iter().map(|u| format!("home/{}", u.uid)));
    areas
}

/// The decision, worked out by hand from the rules above (not by the policy crate).
fn expected_allowed(user: &User, area: &str) -> bool {
    let in_group = |g: u32| user.gid == g || user.groups.contains(&g);
    match area {
        "pub" => !in_group(BANNED),
        "team" => in_group(TEAM) && user.uid != 3006,
        "ops" => in_group(OPS),
        "secret" => false,
        home => home == format!("home/{}", user.uid),
    }
}

// 64 clients (8 connections for each of 8 uids, each connected under its own identity)
// send 10,000 requests in all, in parallel, over a policy mixing allow and deny rules by
// uid, primary group, supplementary group and `*`. Every answer is checked against the
// decision worked out independently in the test: allowed means exactly that file's bytes,
// denied means `EACCES` and no fd.
itest!(mixed_policy_64_clients_of_8_uids, |tree| {
    let areas = areas();
    for area in &areas {
        for n in 0..4 {
            let rel = format!("data/{area}/f{n}");
            tree.private_file(&rel, rel.as_bytes());
        }
    }
    let broker = Broker::start(&tree, &mixed_policy(&tree));
    let baseline = broker.fd_count();
    let data = tree.p("data");
    let started = Instant::now();
    let clients: Vec<_> = (0..64usize)
        .map(|i| {
            let user = USERS[i % 8];
            let conn = RawConn::connect_as(broker.socket(), user).expect("connect");
            let (areas, data) = (areas.clone(), data.clone());
            let requests = 156 + usize::from(i < 16); // 10,000 in all
            std::thread::spawn(move || {
                let (mut allowed, mut denied) = (0, 0);
                for n in 0..requests {
                    let area = &areas[(i * 7 + n * 13) % areas.len()];
                    let rel = format!("data/{area}/f{}", n % 4);
                    let path = format!("{data}/{}", &rel["data/".len()..]);
                    let reply = conn.request(&read(&path));
                    if expected_allowed(&user, area) {
                        assert_eq!(
                            reply.file_contents(),
                            rel.as_bytes(),
                            "uid {} {rel}",
                            user.uid
                        );
                        allowed += 1;
                    } else {
                        let got = reply.error();
                        assert_eq!(
                            got,
                            (ErrorKind::Denied, libc::EACCES),
                            "uid {} {rel}",
                            user.uid
                        );
                        denied += 1;
                    }
                }
                (allowed, denied)
            })
        })
        .collect();
    let (allowed, denied) = within(Duration::from_secs(60), move || {
        clients
            .into_iter()
            .map(|c| c.join().expect("a client's answer was wrong"))
            .fold((0, 0), |(a, d), (ca, cd)| (a + ca, d + cd))
    });
    let elapsed = started.elapsed();
    println!("64 clients, 8 uids: {allowed} allowed + {denied} denied in {elapsed:?}");
    assert_eq!(allowed + denied, 10_000);
    assert!(allowed > 1000 && denied > 1000, "both decisions exercised");
    broker.assert_fds_back_to(baseline);
    let conn = RawConn::connect_as(broker.socket(), USERS[0]).expect("connect");
    let path = tree.p("data/pub/f0");
    assert_eq!(conn.request(&read(&path)).file_contents(), b"data/pub/f0");
});

// A client of alice pipelines full `OpenMany` batches of a file she may read and never
// reads a reply, then holds its socket open. Every fd in its unread replies is "in
// flight", and the kernel counts fds in flight against the *sender's* user (root, the
// broker) and refuses further `SCM_RIGHTS` sends with `ETOOMANYREFS` once they exceed
// the broker's open-files limit (the broker has no `CAP_SYS_RESOURCE` to lift it). The
// broker must not let one client's unread replies pin that many: another client (root,
// another uid) must still get its file while the attacker holds its socket.
itest!(unread_fd_replies_do_not_starve_other_clients, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let path = tree.p("data/a.txt");
    let batch = encode(&Request::OpenMany {
        paths: Batch(vec![path.as_bytes(); MAX_BATCH]),
        access: Access::READ,
        create_mode: 0,
    });
    let attacker = RawConn::connect_as(broker.socket(), ALICE).expect("connect");
    let (mut sent, started) = (0, Instant::now());
    let cut_off = loop {
        match rustix::net::send(&attacker, &batch, SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
            Ok(_) => sent += 1,
            // Our send buffer is full until the broker reads: pacing, not synchronization.
            Err(Errno::AGAIN) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => break Some(e),
        }
        if started.elapsed() > Duration::from_secs(5) {
            break None;
        }
    };
    println!(
        "unread fd replies: {sent} full batches ({} opens) sent in {:?}, then {cut_off:?}",
        sent * MAX_BATCH,
        started.elapsed()
    );
    let victim = RawConn::connect(broker.socket()).expect("connect the victim");
    let served = victim
        .send(&encode(&read(&path)))
        .and_then(|()| victim.try_recv());
    match served {
        Ok(reply) if !reply.is_eof() => assert_eq!(reply.file_contents(), b"alpha\n"),
        other => broker.fail(&format!(
            "another client is not served while alice's unread replies are in flight: {other:?}"
        )),
    }
    drop((attacker, victim));
    broker.assert_fds_back_to(baseline);
});

// As many clients as the broker has serving workers stream full batches, each keeping
// three in flight, so that a worker always finds its client's next request waiting. A
// worker goes on with the same client only while nobody else waits: another client's
// single opens, sent meanwhile, are each answered within a fraction of a second, not
// once the streams end.
itest!(clients_streaming_batches_do_not_hold_the_workers, |tree| {
    tree.private_file("data/a.txt", b"alpha\n");
    let policy = Policy::new()
        .allow("everyone-reads")
        .everyone()
        .paths(&[format!("{}/**", tree.p("data"))])
        .access("read")
        .to_string();
    let broker = Broker::start(&tree, &policy);
    let path = tree.p("data/a.txt");
    let batch = encode(&Request::OpenMany {
        paths: Batch(vec![path.as_bytes(); MAX_BATCH]),
        access: Access::READ,
        create_mode: 0,
    });
    // One stream per worker the broker serves with while none is stuck: one per CPU.
    const IN_FLIGHT: usize = 3;
    let streams = std::thread::available_parallelism().map_or(2, |n| n.get());
    let stop = Arc::new(AtomicBool::new(false));
    let streamers: Vec<_> = (0..streams)
        .map(|i| {
            // Distinct uids, so that no per-uid limit paces the streams.
            let conn = RawConn::connect_as(broker.socket(), plain_user(3100 + i as u32))
                .expect("connect a streamer");
            let (batch, stop) = (batch.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut answered = 0usize;
                for _ in 1..IN_FLIGHT {
                    conn.send(&batch).expect("send a batch");
                }
                while !stop.load(Ordering::Relaxed) {
                    conn.send(&batch).expect("send a batch");
                    drop(conn.recv()); // closes its fds
                    answered += 1;
                }
                for _ in 1..IN_FLIGHT {
                    drop(conn.recv());
                }
                answered + IN_FLIGHT - 1
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let prober = RawConn::connect(broker.socket()).expect("connect the prober");
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let asked = Instant::now();
        assert_eq!(prober.request(&read(&path)).file_contents(), b"alpha\n");
        worst = worst.max(asked.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let batches: Vec<usize> = streamers
        .into_iter()
        .map(|s| s.join().expect("a streamer panicked"))
        .collect();
    println!(
        "{streams} streams answered {batches:?} batches; a single open waited {worst:?} at worst"
    );
    assert!(
        batches.iter().all(|&n| n >= 2),
        "every stream was served throughout: {batches:?}"
    );
    assert!(
        worst < Duration::from_millis(500),
        "a single open waited {worst:?} behind the streams"
    );
});

/// Alice and bob may read `data/**`.
fn two_readers(tree: &Tree) -> String {
    Policy::new()
        .allow("readers")
        .users(&[ALICE, BOB])
        .paths(&[format!("{}/**", tree.p("data"))])
        .access("read")
        .to_string()
}

/// Sends `batch` on every connection, round robin, without reading a reply, until the
/// broker takes no more (no send succeeded for a while) or 10 s have passed; returns
/// how many were sent.
fn flood(conns: &[RawConn], batch: &[u8]) -> usize {
    let (mut sent, started, mut last) = (0, Instant::now(), Instant::now());
    while last.elapsed() < Duration::from_millis(500) && started.elapsed() < Duration::from_secs(10)
    {
        let mut any = false;
        for conn in conns {
            match rustix::net::send(conn, batch, SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
                Ok(_) => (sent, any) = (sent + 1, true),
                Err(Errno::AGAIN) => {}
                Err(e) => panic!("flooding: {e}"),
            }
        }
        if any {
            last = Instant::now();
        } else {
            // Every send buffer is full until the broker reads: pacing, not synchronization.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    sent
}

// Twelve connections of alice pipeline full batches and never read a reply. The kernel
// charges fds in flight to the sender's user and refuses `SCM_RIGHTS` beyond the
// sender's open-files limit, so the broker must bound one uid's unread fds over all its
// connections: bob's `fdagent cat` is served meanwhile, and with the broker stopped,
// alice's sockets hold no more fds than the documented bound (`--max-unread-fds-per-uid`,
// plus one batch per request of hers that may be in progress).
itest!(
    one_uid_with_unread_fds_cannot_stop_delivery_to_others,
    |tree| {
        tree.private_file("data/a.txt", b"alpha\n");
        let broker = Broker::start(&tree, &two_readers(&tree));
        let baseline = broker.fd_count();
        let path = tree.p("data/a.txt");
        let batch = encode(&Request::OpenMany {
            paths: Batch(vec![path.as_bytes(); MAX_BATCH]),
            access: Access::READ,
            create_mode: 0,
        });
        let flooders = RawConn::connect_many_as(broker.socket(), ALICE, 12).expect("connect");
        let sent = flood(&flooders, &batch);
        broker.expect_log(&format!("uid={} has ", ALICE.uid));
        broker.cat(BOB, &path).code_is(0).stdout_is("alpha\n");

        broker.pause();
        let in_flight: usize = flooders.iter().map(RawConn::drain_fds).sum();
        broker.signal(Signal::CONT);
        println!("{sent} batches sent on 12 connections; {in_flight} fds were in flight");
        let bound = 4096 + 4 * MAX_BATCH;
        if in_flight > bound {
            broker.fail(&format!(
                "alice had {in_flight} fds in flight, over the bound of {bound}"
            ));
        }
        drop(flooders);
        broker.assert_fds_back_to(baseline);
    }
);

// A reply that cannot be sent delivers no fd, so its record says `fail` with the send's
// errno, never `allow`: alice's request is queued while the broker is stopped and her
// connection closed before it is answered (`EPIPE`).
itest!(
    an_fd_that_cannot_be_delivered_is_audited_as_a_failure,
    |tree| {
        let policy = setup(&tree);
        let broker = Broker::start(&tree, &policy);
        let path = tree.p("data/a.txt");
        let conn = RawConn::connect_as(broker.socket(), ALICE).expect("connect");
        broker.pause();
        conn.send(&encode(&read(&path))).expect("send");
        drop(conn);
        broker.signal(Signal::CONT);
        let pid = std::process::id();
        let log = broker.expect_log(&audit_fail(ALICE, pid, "read", &path, "readers", "EPIPE"));
        assert!(
            !log.contains(&audit_allow(ALICE, pid, "read", &path, "readers")),
            "an undelivered fd was audited as allowed:\n{log}"
        );
    }
);

/// The most supplementary groups a process may have is 65,536; this client has 65,535,
/// `MANY_GROUPS_FIRST` onwards. The last of them is the only one a rule names.
const MANY_GROUPS_FIRST: u32 = 100_000;
const MANY_GROUPS: u32 = 65_535;
const LAST_GROUP: u32 = MANY_GROUPS_FIRST + MANY_GROUPS - 1;

/// The broker's resident memory in KiB (`VmRSS`).
fn rss_kib(broker: &Broker) -> u64 {
    let field = broker.status_field("VmRSS");
    field
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("VmRSS in kB")
}

// A client in 65,535 supplementary groups costs the broker bounded memory and time: it
// keeps of a connection's groups only those the policy names, so that 60 such
// connections hold no more memory than a few KiB each, and batches decided by 50 group
// rules cost it no more CPU than the same batches from a client in one group. And the
// one rule that names the client's last group grants it its files.
itest!(
    a_client_in_65535_groups_costs_bounded_memory_and_time,
    |tree| {
        tree.private_file("data/a.txt", b"alpha\n");
        let data = format!("{}/**", tree.p("data"));
        let mut policy = Policy::new();
        for i in 0..50 {
            policy = policy
                .allow(&format!("other-group-{i}"))
                .groups(&[300_000 + i])
                .paths(&[&data])
                .access("read");
        }
        let policy = policy
            .allow("last-group")
            .groups(&[LAST_GROUP])
            .paths(&[&data])
            .access("read");
        let broker = Broker::start(&tree, &policy.to_string());
        let groups: Vec<u32> = (MANY_GROUPS_FIRST..=LAST_GROUP).collect();
        let many = User {
            uid: 3500,
            gid: 3500,
            groups: groups.leak(),
        };
        let one = User {
            uid: 3501,
            gid: 3501,
            groups: &[LAST_GROUP],
        };
        let path = tree.p("data/a.txt");
        let batch = Request::OpenMany {
            paths: Batch(vec![path.as_bytes(); MAX_BATCH]),
            access: Access::READ,
            create_mode: 0,
        };
        // Broker CPU time for 20 full batches on a connection of `user`, each file granted.
        let cpu_for = |user: User| {
            let conn = RawConn::connect_as(broker.socket(), user).expect("connect");
            let before = broker.cpu_time();
            for _ in 0..20 {
                let reply = conn.request(&batch);
                assert_eq!(reply.fds.len(), MAX_BATCH, "{:?}", reply.response());
            }
            broker.cpu_time() - before
        };
        let (plain, crowded) = (cpu_for(one), cpu_for(many));
        let rss_before = rss_kib(&broker);
        let conns = RawConn::connect_many_as(broker.socket(), many, 60).expect("connect");
        for conn in &conns {
            assert_eq!(conn.request(&Request::Ping).response(), Response::Pong);
        }
        let grown = rss_kib(&broker).saturating_sub(rss_before);
        println!(
            "20 batches: {plain:?} of broker CPU from a client in one group, {crowded:?} from one \
         in {MANY_GROUPS}; 60 connections of the latter grew its RSS by {grown} KiB"
        );
        assert!(
            crowded <= plain * 2 + Duration::from_millis(200),
            "batches from a client in {MANY_GROUPS} groups took {crowded:?} of CPU, against {plain:?}"
        );
        assert!(
            grown < 4 * 1024,
            "60 connections grew the broker by {grown} KiB"
        );
    }
);

// A connection keeps only the groups its policy names, so a reload whose policy names
// another of the client's groups must see it: carol, connected before the reload, is
// refused by a new deny rule on her group 2099, and granted again by a rule on 2099 once
// the grant to `SCANNERS` is gone.
itest!(
    a_reload_naming_other_groups_applies_to_open_connections,
    |tree| {
        tree.private_file("data/a.txt", b"alpha\n");
        let data = format!("{}/**", tree.p("data"));
        let scanners = || {
            Policy::new()
                .allow("scanners")
                .groups(&[SCANNERS])
                .paths(&[&data])
                .access("read")
        };
        let broker = Broker::start(&tree, &scanners().to_string());
        let path = tree.p("data/a.txt");
        let conn = RawConn::connect_as(broker.socket(), CAROL).expect("connect");
        assert_eq!(conn.request(&read(&path)).file_contents(), b"alpha\n");
        broker.reload(
            &scanners()
                .deny("no-2099")
                .groups(&[2099])
                .paths(&[&data])
                .access("read")
                .to_string(),
        );
        assert_eq!(conn.request(&read(&path)).error().0, ErrorKind::Denied);
        let by_2099 = Policy::new()
            .allow("by-2099")
            .groups(&[2099])
            .paths(&[&data])
            .access("read");
        broker.reload(&by_2099.to_string());
        assert_eq!(conn.request(&read(&path)).file_contents(), b"alpha\n");
    }
);
