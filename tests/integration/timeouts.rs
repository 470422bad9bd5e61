//! A stopped or wedged broker gives a client an error, never a hang: `fdagent --timeout`
//! and `Client::set_timeout` bound each wait for the broker (`SO_SNDTIMEO`/`SO_RCVTIMEO`),
//! connecting included.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use fdbroker_agent::{Access, Client};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use rustix::process::Signal;

use crate::harness::{ALICE, Broker, Tree, itest, scanner_policy, within};

/// Resumes a stopped broker when dropped, so that a failing test still stops it.
struct Resume<'b, 't>(&'b Broker<'t>);

impl Drop for Resume<'_, '_> {
    fn drop(&mut self) {
        self.0.signal(Signal::CONT);
    }
}

// `fdagent --timeout 1` against a broker stopped with SIGSTOP (it accepts nothing and
// answers nothing, though connecting still succeeds into its backlog): exit 69 with a
// message that says so, within the harness's 10 s instead of waiting for ever.
itest!(fdagent_timeout_ends_the_wait_for_a_stopped_broker, |tree| {
    tree.private_file("uploads/a.txt", b"alpha\n");
    let broker = Broker::start(&tree, &scanner_policy(&tree));
    broker.pause();
    let _resume = Resume(&broker);
    for command in [vec!["ping"], vec!["cat", &tree.p("uploads/a.txt")]] {
        broker
            .fdagent(ALICE)
            .args(["--timeout", "1"])
            .args(command)
            .timeout(Duration::from_secs(10))
            .run()
            .code_is(69)
            .stderr_has("the broker did not answer within 1s");
    }
});

/// A listening socket that never accepts: connections beyond its backlog wait in
/// `connect`, and those in the backlog are never answered.
fn wedged_socket(path: &Path, backlog: i32) -> OwnedFd {
    let sock = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socket");
    rustix::net::bind(&sock, &SocketAddrUnix::new(path).expect("address")).expect("bind");
    rustix::net::listen(&sock, backlog).expect("listen");
    sock
}

/// `Client::set_timeout` on a socket that accepts and never answers: a ping and a batch
/// each fail with `TimedOut`; `Client::connect_timeout` on a full backlog fails with
/// `TimedOut` too, where `Client::connect` would wait for ever.
#[test]
fn client_timeouts_end_the_wait_for_a_wedged_broker() {
    let tree = Tree::new();
    let path = tree.path("wedged.sock");
    let _listener = wedged_socket(&path, 4);
    let timeout = Some(Duration::from_millis(200));
    let socket = path.clone();
    let (ping, batch) = within(Duration::from_secs(10), move || {
        let mut client = Client::connect(&socket).expect("connect into the backlog");
        client.set_timeout(timeout).expect("set_timeout");
        let ping = client.ping().expect_err("no answer");
        let mut client = Client::connect_timeout(&socket, timeout).expect("connect");
        let batch = client
            .open_many(&["/a", "/b"], Access::READ)
            .expect_err("no answer");
        (ping, batch)
    });
    for err in [ping, batch] {
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(
            err.to_string().contains("did not answer within 200ms"),
            "{err}"
        );
    }
    let path = tree.path("full.sock");
    let _full = wedged_socket(&path, 0);
    let socket = path.clone();
    let connects = within(Duration::from_secs(10), move || {
        // The backlog fills up after a connection or two; the next waits in connect.
        let mut held = Vec::new();
        loop {
            match Client::connect_timeout(&socket, timeout) {
                Ok(client) if held.len() < 16 => held.push(client),
                other => return other.map(drop),
            }
        }
    });
    let err = connects.expect_err("a full backlog times out");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("cannot connect"), "{err}");
}
