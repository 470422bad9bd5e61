//! The connection and request limits of `serve` (docs/commands.md, "Limits"): over a connection
//! limit a client gets `Busy`/`EBUSY` as its first message and is closed, a slot frees
//! when a connection closes, idle connections are closed, and requests over the per-uid
//! limit wait their turn instead of failing.

use std::time::{Duration, Instant};

use fdbroker_wire::{Access, Batch, ErrorKind, Outcome, Request, Response};

use crate::harness::{
    ALICE, BOB, Broker, CAROL, Policy, RawConn, Tree, User, encode, itest, read, wait_until, within,
};

/// Root (in-process clients), alice, bob and carol may read `data/**`.
fn setup(tree: &Tree) -> String {
    tree.private_file("data/a.txt", b"alpha\n");
    Policy::new()
        .allow("readers")
        .users(&[0, ALICE.uid, BOB.uid, CAROL.uid])
        .paths(&[tree.p("data/**")])
        .access("read")
        .to_string()
}

/// A connection the broker admitted: it answers a ping.
#[track_caller]
fn admitted(broker: &Broker, user: User) -> RawConn {
    let conn = RawConn::connect_as(broker.socket(), user).expect("connect");
    assert_eq!(conn.request(&Request::Ping).response(), Response::Pong);
    conn
}

/// Connects as `user` and expects `Busy`/`EBUSY` sent unasked, then end of file.
#[track_caller]
fn expect_busy(broker: &Broker, user: User) {
    let conn = RawConn::connect_as(broker.socket(), user).expect("connect");
    assert_eq!(conn.recv().error(), (ErrorKind::Busy, libc::EBUSY));
    assert!(conn.recv().is_eof(), "the refused connection is closed");
}

/// Polls until a new connection of `user` is admitted again (a closed connection's slot
/// frees asynchronously), failing after a few seconds.
#[track_caller]
fn admitted_eventually(broker: &Broker, user: User) -> RawConn {
    wait_until(Duration::from_secs(5), || {
        let conn = RawConn::connect_as(broker.socket(), user).ok()?;
        conn.send(&encode(&Request::Ping)).ok()?;
        let reply = conn.try_recv().ok()?;
        (reply.bytes.len() > 1 && reply.response() == Response::Pong).then_some(conn)
    })
    .unwrap_or_else(|| broker.fail("no slot freed after closing a connection"))
}

// `--max-connections-per-uid 2`: alice's third connection gets `Busy` as its first
// message and is closed, while bob still connects; closing one of alice's frees a slot.
itest!(per_uid_connection_limit, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start_with(&tree, &policy, &["--max-connections-per-uid", "2"]);
    let baseline = broker.fd_count();
    let first = admitted(&broker, ALICE);
    let second = admitted(&broker, ALICE);
    expect_busy(&broker, ALICE);
    broker.expect_log("refused connection of uid=2001");
    let bob = admitted(&broker, BOB);
    drop(first);
    let third = admitted_eventually(&broker, ALICE);
    let path = tree.p("data/a.txt");
    assert_eq!(third.request(&read(&path)).file_contents(), b"alpha\n");
    drop((second, third, bob));
    broker.assert_fds_back_to(baseline);
});

// `--max-connections 3`: with alice, bob and carol connected, a fourth connection (of
// any of them, or another uid) gets `Busy`; closing one frees a slot for anyone.
itest!(total_connection_limit, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start_with(&tree, &policy, &["--max-connections", "3"]);
    let baseline = broker.fd_count();
    let conns = [
        admitted(&broker, ALICE),
        admitted(&broker, BOB),
        admitted(&broker, CAROL),
    ];
    for user in [ALICE, BOB] {
        expect_busy(&broker, user);
    }
    let root = User {
        uid: 0,
        gid: 0,
        groups: &[],
    };
    expect_busy(&broker, root);
    let [alice, bob, carol] = conns;
    drop(bob);
    let root_conn = admitted_eventually(&broker, root);
    let path = tree.p("data/a.txt");
    assert_eq!(root_conn.request(&read(&path)).file_contents(), b"alpha\n");
    assert_eq!(alice.request(&read(&path)).file_contents(), b"alpha\n");
    drop((alice, carol, root_conn));
    broker.assert_fds_back_to(baseline);
});

// `--idle-timeout 1`: a connection that sends nothing is closed by the broker (the
// client reads end of file) between 1 and about 2 seconds after it last spoke, while one
// that pings every 300 ms over the same time stays open.
itest!(idle_connections_are_closed_busy_ones_kept, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start_with(&tree, &policy, &["--idle-timeout", "1"]);
    let baseline = broker.fd_count();
    let idle = admitted(&broker, ALICE);
    let since = Instant::now();
    let pinger = {
        let conn = admitted(&broker, BOB);
        std::thread::spawn(move || {
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(300)); // pacing, not synchronization
                assert_eq!(
                    conn.request(&Request::Ping).response(),
                    Response::Pong,
                    "the pinging connection was closed"
                );
            }
            conn
        })
    };
    let reply = within(Duration::from_secs(10), move || idle.recv());
    let closed_after = since.elapsed();
    assert!(reply.is_eof(), "expected end of file, got {reply:?}");
    let pinger = pinger.join().expect("pinger");
    println!("idle timeout 1 s: idle connection closed after {closed_after:?}");
    assert!(
        closed_after >= Duration::from_millis(950) && closed_after < Duration::from_millis(2500),
        "closed after {closed_after:?}"
    );
    broker.expect_log("closed connection of uid=2001");
    assert!(
        !broker.log().contains("closed connection of uid=2002"),
        "the pinging connection was swept"
    );
    drop(pinger);
    broker.assert_fds_back_to(baseline);
});

// `--max-requests-per-uid 1 --workers 4`: 16 connections of alice each pipeline 20
// requests (singles and batches) at once, and 4 of them hang up with requests still
// waiting their turn. Every request of the others is answered, correctly and in order
// (parked, never refused), a request of bob is served meanwhile, and nothing leaks.
itest!(requests_over_the_per_uid_limit_wait_their_turn, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start_with(
        &tree,
        &policy,
        &["--max-requests-per-uid", "1", "--workers", "4"],
    );
    let baseline = broker.fd_count();
    let path = tree.p("data/a.txt");
    let conns = RawConn::connect_many_as(broker.socket(), ALICE, 16).expect("connect");
    let single = encode(&read(&path));
    let batch = encode(&Request::OpenMany {
        paths: Batch(vec![path.as_bytes(); 8]),
        access: Access::READ,
        create_mode: 0,
    });
    for conn in &conns {
        for n in 0..20 {
            conn.send(if n % 2 == 0 { &single } else { &batch })
                .expect("pipeline a request");
        }
    }
    let mut conns = conns;
    drop(conns.drain(..4).collect::<Vec<_>>());
    let bob = RawConn::connect_as(broker.socket(), BOB).expect("connect bob");
    assert_eq!(bob.request(&read(&path)).file_contents(), b"alpha\n");
    let started = Instant::now();
    let answered = within(Duration::from_secs(30), move || {
        let mut answered = 0;
        for conn in &conns {
            for n in 0..20 {
                let reply = conn.recv();
                if n % 2 == 0 {
                    assert_eq!(reply.file_contents(), b"alpha\n");
                } else {
                    let Response::OpenedMany { results } = reply.response() else {
                        panic!("expected OpenedMany, got {:?}", reply.response());
                    };
                    assert_eq!(reply.fds.len(), 8);
                    assert!(
                        results
                            .0
                            .iter()
                            .all(|o| matches!(o, Outcome::Opened { .. }))
                    );
                }
                answered += 1;
            }
        }
        answered
    });
    println!(
        "per-uid request limit 1: {answered} pipelined requests of one uid answered in {:?}",
        started.elapsed()
    );
    assert_eq!(answered, 12 * 20);
    drop(bob);
    broker.assert_fds_back_to(baseline);
});

// A client over the per-uid connection cap is told `Busy` every time, never a broken
// pipe: the broker refuses it with an unasked `Busy` and closes, often before fdagent has
// sent its request, and fdagent must read that reply rather than report the failed send.
// 50 tries, each exit 75.
itest!(fdagent_over_the_connection_cap_always_exits_busy, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start_with(&tree, &policy, &["--max-connections-per-uid", "1"]);
    let _held = admitted(&broker, ALICE);
    let path = tree.p("data/a.txt");
    for _ in 0..50 {
        let out = broker.cat(ALICE, &path);
        out.code_is(75)
            .stderr_has("too many connections from this uid");
    }
});
