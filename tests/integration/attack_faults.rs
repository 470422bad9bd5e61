//! Faults around the broker: clients killed at random points of a request, the policy
//! file replaced, broken or removed under load, and a storm of reloads. The broker must
//! leak nothing, keep the last good policy (saying why a reload failed), never decide by
//! anything but a policy it loaded, and keep serving.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fdbroker_wire::{Access, ErrorKind, Request};
use rustix::process::{Pid, Signal};

use crate::harness::{
    ALICE, BOB, Broker, CAROL, Policy, RawConn, Tree, User, alice_reads, itest, read, wait_until,
    within, write_policy,
};

/// A small xorshift generator: random enough to scatter kill times, seeded from the clock
/// and printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn from_clock() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64;
        Rng(nanos | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

// 200 times, `fdagent cat` of 300 files (two batches, pipelined) is started as alice and
// SIGKILLed after a random time up to 1.25 times a full run (at most 20 ms, to keep the
// test short): before it connects, with a batch
// unanswered, with a reply (and its fds) unread, or mid-read. The broker's fd count
// returns to its baseline and it still serves.
itest!(clients_killed_at_random_points_leak_nothing, |tree| {
    for n in 0..100 {
        tree.private_file(&format!("data/f{n:03}"), format!("file {n}\n").as_bytes());
    }
    let broker = Broker::start(&tree, &alice_reads(&tree));
    let baseline = broker.fd_count();
    let paths: Vec<String> = (0..300)
        .map(|i| tree.p(&format!("data/f{:03}", i % 100)))
        .collect();
    // Kill times spread over a whole run, however fast this machine is.
    let full = broker.fdagent(ALICE).arg("cat").args(&paths).run();
    full.code_is(0);
    let span = (full.elapsed.as_micros() as u64 * 5 / 4).min(20_000);
    let mut rng = Rng::from_clock();
    let seed = rng.0;
    let (mut killed, mut finished) = (0, 0);
    let started = Instant::now();
    // 200 clients, unless the machine is so loaded that they take over 8 s.
    let deadline = started + Duration::from_secs(8);
    while killed + finished < 200 && Instant::now() < deadline {
        let mut child = broker.fdagent(ALICE).arg("cat").args(&paths).spawn();
        std::thread::sleep(Duration::from_micros(rng.below(span)));
        let pid = Pid::from_raw(child.id() as i32).expect("pid");
        let _ = rustix::process::kill_process(pid, Signal::KILL);
        let status = child.wait().expect("wait for the client");
        if status.success() {
            finished += 1;
        } else {
            killed += 1;
        }
    }
    let opens = broker.log().matches("allow op=open").count();
    println!(
        "killed clients: seed {seed:#x}, kills within {span} us: {killed} killed, {finished} \
         finished first, {opens} files handed out, in {:?}",
        started.elapsed()
    );
    assert!(killed >= 50, "only {killed} clients killed");
    broker.assert_fds_back_to(baseline);
    broker
        .fdagent(ALICE)
        .args(["cat", &paths[7]])
        .run()
        .code_is(0)
        .stdout_is("file 7\n");
});

/// Two policies that differ only in who may read `swing`: alice under A, bob under B.
/// Under both, carol may read `common` and nobody may read `secret` (it has an allow rule
/// for alice, closed by a deny rule for everyone): any other answer for those two means
/// the broker decided by something that is neither policy.
fn policy(tree: &Tree, swing_uid: u32) -> String {
    let d = tree.p("data");
    Policy::new()
        .allow("common")
        .users(&[CAROL])
        .paths(&[format!("{d}/common")])
        .access("read")
        .allow("swing")
        .users(&[swing_uid])
        .paths(&[format!("{d}/swing")])
        .access("read")
        .allow("secret-open")
        .users(&[ALICE])
        .paths(&[format!("{d}/secret")])
        .access("read")
        .deny("secret-closed")
        .everyone()
        .paths(&[format!("{d}/secret")])
        .access("read")
        .to_string()
}

fn policy_tree(tree: &Tree) {
    for name in ["common", "swing", "secret"] {
        tree.private_file(&format!("data/{name}"), name.as_bytes());
    }
}

/// Streams requests on connections of alice, bob and carol until `stop`, checking the
/// invariants both policies share and counting answers in `answered`.
fn load(
    broker: &Broker,
    tree: &Tree,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    let conns: Vec<(User, RawConn)> = [ALICE, BOB, CAROL]
        .into_iter()
        .map(|u| (u, RawConn::connect_as(broker.socket(), u).expect("connect")))
        .collect();
    let (common, swing, secret) = (
        tree.p("data/common"),
        tree.p("data/swing"),
        tree.p("data/secret"),
    );
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) && answered.load(Ordering::Relaxed) < 1_000_000 {
            for (user, conn) in &conns {
                let uid = user.uid;
                if uid == CAROL.uid {
                    let got = conn.request(&read(&common)).file_contents();
                    assert_eq!(got, b"common", "carol's common read");
                } else {
                    let got = conn.request(&read(&secret)).error();
                    assert_eq!(got, (ErrorKind::Denied, libc::EACCES), "uid {uid}: secret");
                    // Allowed or denied depending on the policy in force; either way a
                    // proper answer, and the right bytes if allowed.
                    let reply = conn.request(&read(&swing));
                    if reply.fds.is_empty() {
                        assert_eq!(reply.error(), (ErrorKind::Denied, libc::EACCES));
                    } else {
                        assert_eq!(reply.file_contents(), b"swing");
                    }
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                answered.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

/// Waits until the load has answered at least `more` further requests, so each change of
/// the policy file really happens under load.
#[track_caller]
fn let_load_run(broker: &Broker, answered: &AtomicUsize, more: usize) {
    let target = answered.load(Ordering::Relaxed) + more;
    if wait_until(Duration::from_secs(10), || {
        (answered.load(Ordering::Relaxed) >= target).then_some(())
    })
    .is_none()
    {
        broker.fail("the load stopped (see the panic above)");
    }
}

/// Which of alice and bob may read `swing` now: `ALICE.uid` under A, `BOB.uid` under B.
#[track_caller]
fn swing_reader(broker: &Broker, tree: &Tree) -> u32 {
    let swing = tree.p("data/swing");
    let allowed: Vec<u32> = [ALICE, BOB]
        .into_iter()
        .filter(|&u| {
            let conn = RawConn::connect_as(broker.socket(), u).expect("connect");
            let reply = conn.request(&read(&swing));
            !reply.fds.is_empty()
        })
        .map(|u| u.uid)
        .collect();
    match allowed[..] {
        [uid] => uid,
        _ => broker.fail(&format!(
            "swing readers {allowed:?}: neither policy says so"
        )),
    }
}

/// Replaces the policy file the way an admin's `mv` does: write a sibling, rename it over.
fn replace_atomically(broker: &Broker, text: &str) {
    let next = broker.policy_path().with_extension("next");
    write_policy(&next, text);
    fs::rename(&next, broker.policy_path()).expect("rename over the policy");
}

/// Expects the log since a SIGHUP to say the reload failed and kept the old policy, with
/// one of `reasons` in the message.
#[track_caller]
fn expect_failed_reload(broker: &Broker, log: &str, reasons: &[&str]) {
    let head = "policy reload failed, keeping the previous policy:";
    if !log.contains(head) || !reasons.iter().any(|r| log.contains(r)) {
        broker.fail(&format!(
            "expected {head:?} and one of {reasons:?} in:\n{log}"
        ));
    }
}

// Under a steady load, the policy file goes through what an admin (or a disk) does to
// it, with a SIGHUP after each change: replaced by `rename` (reloaded), truncated in the
// middle of a string, replaced by invalid TOML, replaced by a directory, deleted (each
// failed: logged with the reason, the last good policy kept), and restored (reloaded).
// Making it unreadable cannot be tried: `chmod 000` does not stop the broker, which reads
// it with `CAP_DAC_READ_SEARCH`, so it is shown to load. The load checks the decisions
// both policies share never change; after each step the exact policy in force is checked.
itest!(
    policy_file_broken_or_removed_under_load_keeps_last_good,
    |tree| {
        policy_tree(&tree);
        let (a, b) = (policy(&tree, ALICE.uid), policy(&tree, BOB.uid));
        let broker = Broker::start(&tree, &a);
        let baseline = broker.fd_count();
        let file = broker.policy_path().to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let load = load(&broker, &tree, stop.clone(), answered.clone());
        let step = || let_load_run(&broker, &answered, 100);

        step();
        replace_atomically(&broker, &b);
        assert!(broker.hup().contains("policy reloaded from"));
        assert_eq!(swing_reader(&broker, &tree), BOB.uid);

        step();
        // Truncated inside the second rule's name string.
        let cut = b.find("name = \"swing").expect("swing rule") + 10;
        write_policy(&file, &b[..cut]);
        let log = broker.hup();
        expect_failed_reload(&broker, &log, &[&format!("{}:", file.display())]);
        assert_eq!(swing_reader(&broker, &tree), BOB.uid, "after truncation");

        step();
        write_policy(&file, "version = 1\n[[rule]\nname = \"x\"\n");
        expect_failed_reload(&broker, &broker.hup(), &[&format!("{}:2:", file.display())]);
        assert_eq!(swing_reader(&broker, &tree), BOB.uid, "after invalid TOML");

        step();
        fs::remove_file(&file).expect("rm policy");
        fs::create_dir(&file).expect("mkdir in its place");
        expect_failed_reload(
            &broker,
            &broker.hup(),
            &["Is a directory", "not a regular file"],
        );
        assert_eq!(swing_reader(&broker, &tree), BOB.uid, "after a directory");

        step();
        fs::remove_dir(&file).expect("rmdir");
        expect_failed_reload(&broker, &broker.hup(), &["refusing to load: no such file"]);
        assert_eq!(swing_reader(&broker, &tree), BOB.uid, "after deletion");

        step();
        replace_atomically(&broker, &a);
        assert!(broker.hup().contains("policy reloaded from"));
        assert_eq!(swing_reader(&broker, &tree), ALICE.uid, "restored");

        step();
        write_policy(&file, &b);
        tree.chmod("policy.toml", 0o000);
        assert!(
            broker.hup().contains("policy reloaded from"),
            "mode 000 does not stop root"
        );
        assert_eq!(swing_reader(&broker, &tree), BOB.uid, "mode 000 loads");

        step();
        stop.store(true, Ordering::Relaxed);
        load.join()
            .expect("the load saw a decision neither policy makes");
        println!(
            "policy file faults: {} requests under load, all consistent",
            answered.load(Ordering::Relaxed)
        );
        broker.assert_fds_back_to(baseline);
    }
);

// 500 SIGHUPs (one every half millisecond) while two clients make 2,000 requests: every
// request is answered exactly as the (unchanged) policy says, the broker stays up, and
// every reload it logs succeeded. Signals arriving together merge, so there are usually
// fewer reloads than signals.
itest!(reload_storm_during_requests_changes_nothing, |tree| {
    policy_tree(&tree);
    let broker = Broker::start(&tree, &policy(&tree, ALICE.uid));
    let baseline = broker.fd_count();
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = [ALICE, BOB]
        .into_iter()
        .map(|user| {
            let conn = RawConn::connect_as(broker.socket(), user).expect("connect");
            let (swing, done) = (tree.p("data/swing"), done.clone());
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    let reply = conn.request(&read(&swing));
                    if user.uid == ALICE.uid {
                        assert_eq!(reply.file_contents(), b"swing");
                    } else {
                        assert_eq!(reply.error(), (ErrorKind::Denied, libc::EACCES));
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    for _ in 0..500 {
        broker.signal(Signal::HUP);
        std::thread::sleep(Duration::from_micros(500)); // pacing, not synchronization
    }
    let signalled_in = started.elapsed();
    within(Duration::from_secs(30), move || {
        for client in clients {
            client
                .join()
                .expect("a wrong answer during the reload storm");
        }
    });
    assert_eq!(done.load(Ordering::Relaxed), 2000);
    let conn = RawConn::connect_as(broker.socket(), ALICE).expect("connect");
    let swing = tree.p("data/swing");
    assert_eq!(conn.request(&read(&swing)).file_contents(), b"swing");
    // Let the last reloads land, then count them.
    let log = wait_until(Duration::from_secs(5), || {
        let log = broker.log();
        let reloads = log.matches("policy reloaded from").count();
        std::thread::sleep(Duration::from_millis(50));
        (broker.log().matches("policy reloaded from").count() == reloads).then_some(log)
    })
    .expect("the reloads settle");
    let reloads = log.matches("policy reloaded from").count();
    println!(
        "reload storm: 500 SIGHUPs in {signalled_in:?}, {reloads} reloads, 2000 requests all correct"
    );
    assert!(reloads >= 1, "no reload happened");
    assert!(!log.contains("policy reload failed"), "{log}");
    drop(conn);
    broker.assert_fds_back_to(baseline);
});

// SIGTERM while 8 clients stream batches: the broker answers what it has started, exits
// 0 promptly and removes its socket; no client sees a mangled reply, and every fd the
// audit trail says was handed out reached its client (no allow record without its fd,
// which a reply cut off mid-send would leave).
itest!(sigterm_under_load_loses_no_reply_owed, |tree| {
    for n in 0..16 {
        tree.private_file(&format!("data/f{n:02}"), format!("file {n}\n").as_bytes());
    }
    let broker = Broker::start(&tree, &alice_reads(&tree));
    let socket = broker.socket().to_owned();
    let paths: Vec<String> = (0..16).map(|n| tree.p(&format!("data/f{n:02}"))).collect();
    let received = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (socket, paths, received) = (socket.clone(), paths.clone(), received.clone());
            std::thread::spawn(move || {
                let conn = RawConn::connect_as(&socket, ALICE).expect("connect");
                let batch = Request::OpenMany {
                    paths: fdbroker_wire::Batch(paths.iter().map(|p| p.as_bytes()).collect()),
                    access: Access::READ,
                    create_mode: 0,
                };
                let message = crate::harness::encode(&batch);
                for _ in 0..100_000 {
                    if conn.send(&message).is_err() {
                        return;
                    }
                    let reply = match conn.try_recv() {
                        Ok(reply) if !reply.is_eof() => reply,
                        _ => return, // the broker is gone: end of file or reset
                    };
                    let fdbroker_wire::Response::OpenedMany { results } = reply.response() else {
                        panic!("unexpected reply {:?}", reply.response())
                    };
                    assert_eq!(results.0.len(), 16, "a whole reply");
                    assert_eq!(reply.fds.len(), 16, "every fd of the reply");
                    received.fetch_add(reply.fds.len(), Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = wait_until(Duration::from_secs(5), || {
        (received.load(Ordering::Relaxed) > 1000).then_some(())
    });
    assert!(started.is_some(), "the clients never got going");
    let log_path = tree.path("run/broker.log");
    let stopped_at = Instant::now();
    let status = broker.stop(Signal::TERM);
    let stop_time = stopped_at.elapsed();
    for client in clients {
        client.join().expect("a client saw a mangled reply");
    }
    assert!(status.success(), "exit status {status:?}");
    assert!(
        stop_time < Duration::from_secs(5),
        "took {stop_time:?} to stop"
    );
    assert!(!socket.exists(), "the socket file is removed");
    let log = fs::read_to_string(&log_path).expect("broker log");
    let allowed = log.matches(" allow op=open ").count();
    assert_eq!(
        allowed,
        received.load(Ordering::Relaxed),
        "allow records vs fds received"
    );
});
