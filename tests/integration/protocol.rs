//! The protocol as a hostile or careless client speaks it: the library's fds have exactly
//! the right flags, and wrong versions, garbage, truncations, oversized messages and
//! attached fds get an error reply (or a clean close), leak nothing, and never stop the
//! broker from serving the next client.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::time::Duration;

use fdbroker_agent::{BrokerError, Client};
use fdbroker_wire::{Access, ErrorKind, MAX_PATH, MAX_REQUEST, Request, Response, VERSION};
use rustix::fs::OFlags;
use rustix::io::FdFlags;

use crate::harness::{Broker, Policy, RawConn, Tree, encode, itest, read, within};

/// Tests run in-process as root, which is just uid 0 to the policy: it may read `data/**`
/// and write `data/w.txt`; `secret` is covered by no rule.
fn setup(tree: &Tree) -> String {
    tree.private_file("data/a.txt", b"alpha\n");
    tree.private_file("data/w.txt", b"");
    tree.private_file("secret", b"secret\n");
    Policy::new()
        .allow("root-reads")
        .users(&[0])
        .paths(&[tree.p("data/**")])
        .access("read")
        .allow("root-writes-w")
        .users(&[0])
        .paths(&[tree.p("data/w.txt")])
        .access("read,write")
        .to_string()
}

itest!(library_fds_have_exactly_the_requested_flags, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let socket = broker.socket().to_path_buf();
    let (a, w) = (tree.path("data/a.txt"), tree.path("data/w.txt"));
    let (mut file, wo, rw) = within(Duration::from_secs(10), move || {
        let mut client = Client::connect(&socket).expect("connect");
        client.ping().expect("ping");
        let read = client.open(&a, Access::READ).expect("open for read");
        let wo = client.open(&w, Access::WRITE).expect("open for write");
        let rw = client
            .open(&w, Access::READ | Access::WRITE)
            .expect("open read-write");
        (read, wo, rw)
    });
    for (f, mode) in [
        (&file, OFlags::RDONLY),
        (&wo, OFlags::WRONLY),
        (&rw, OFlags::RDWR),
    ] {
        let fl = rustix::fs::fcntl_getfl(f.as_fd()).expect("F_GETFL");
        assert_eq!(fl & OFlags::ACCMODE, mode, "access mode");
        assert!(
            !fl.intersects(OFlags::PATH | OFlags::NONBLOCK | OFlags::APPEND),
            "flags {fl:?}"
        );
        let fd_flags = rustix::io::fcntl_getfd(f.as_fd()).expect("F_GETFD");
        assert!(
            fd_flags.contains(FdFlags::CLOEXEC),
            "fd must be close-on-exec"
        );
    }
    let mut text = String::new();
    file.read_to_string(&mut text).expect("read");
    assert_eq!(text, "alpha\n");
});

itest!(library_errors_have_the_io_kind_of_a_direct_open, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let socket = broker.socket().to_path_buf();
    let (secret, missing) = (tree.path("secret"), tree.path("data/missing"));
    let (denied, not_found) = within(Duration::from_secs(10), move || {
        let mut client = Client::connect(&socket).expect("connect");
        (
            client.open(&secret, Access::READ).expect_err("denied"),
            client.open(&missing, Access::READ).expect_err("missing"),
        )
    });
    assert_eq!(
        denied.kind(),
        std::io::ErrorKind::PermissionDenied,
        "{denied}"
    );
    let details = BrokerError::from_io(&denied).expect("the broker's error details");
    assert_eq!(
        (details.kind(), details.errno()),
        (ErrorKind::Denied, libc::EACCES)
    );
    assert_eq!(
        not_found.kind(),
        std::io::ErrorKind::NotFound,
        "{not_found}"
    );
    let details = BrokerError::from_io(&not_found).expect("the broker's error details");
    assert_eq!(
        (details.kind(), details.errno()),
        (ErrorKind::NotFound, libc::ENOENT)
    );
});

itest!(ping_gets_pong_without_fds, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let reply = RawConn::connect(broker.socket())
        .expect("connect")
        .request(&Request::Ping);
    assert_eq!(reply.response(), Response::Pong);
    assert!(reply.fds.is_empty());
});

// Another version byte gets `UnsupportedVersion`/EPROTO in the broker's version; after it
// the connection either still works or is closed cleanly.
itest!(wrong_version_gets_unsupported_version, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let mut ping = encode(&Request::Ping);
    for version in [0, VERSION + 1, 0xff] {
        ping[0] = version;
        let conn = RawConn::connect(broker.socket()).expect("connect");
        conn.send(&ping).expect("send");
        let reply = conn.recv();
        assert_eq!(
            reply.bytes[0], VERSION,
            "replies are in the broker's version"
        );
        assert_eq!(reply.error(), (ErrorKind::UnsupportedVersion, libc::EPROTO));
        match conn.send(&encode(&Request::Ping)) {
            Ok(()) => {
                let next = conn.recv();
                assert!(
                    next.is_eof() || next.response() == Response::Pong,
                    "{next:?}"
                );
            }
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EPIPE), "{e}"),
        }
    }
    broker.assert_still_serving(&tree.p("data/a.txt"), b"alpha\n");
});

// Every strict prefix of a valid request, and assorted garbage, is `InvalidRequest`.
itest!(garbage_and_every_truncation_are_invalid_requests, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let path = tree.p("data/a.txt");
    let valid = encode(&read(&path));
    let with_trailing = [valid.as_slice(), &[0]].concat();
    let mut garbage: Vec<Vec<u8>> = (1..valid.len()).map(|len| valid[..len].to_vec()).collect();
    garbage.extend([
        vec![VERSION, 9],                                  // unknown request tag
        vec![VERSION, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // tag varint overflow
        vec![
            VERSION, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, b'/',
        ], // lying length
        vec![VERSION, 1, 2, b'/', b'a', 0x40, 0],          // unknown access bit
        vec![VERSION, 1, 2, b'/', b'a', 0, 0],             // no access
        vec![VERSION, 1, 2, b'/', b'a', 1, 0x80, 0x20],    // create_mode 0o10000
        with_trailing,
        b"\x01GET / HTTP/1.1\r\n\r\n".to_vec(),
    ]);
    for msg in &garbage {
        let conn = RawConn::connect(broker.socket()).expect("connect");
        conn.send(msg).expect("send");
        assert_eq!(
            conn.recv().error(),
            (ErrorKind::InvalidRequest, libc::EINVAL),
            "message {msg:?}"
        );
    }
    broker.assert_nothing_opened();
    broker.assert_still_serving(&tree.p("data/a.txt"), b"alpha\n");
});

// Over `MAX_REQUEST` bytes is `TooLarge`/EMSGSIZE; a path of `MAX_PATH + 1` bytes (in a
// message that fits) is `TooLarge`/ENAMETOOLONG, while `MAX_PATH` bytes is decided.
itest!(oversized_messages_and_paths_are_too_large, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    for len in [MAX_REQUEST + 1, 2 * MAX_REQUEST] {
        let mut msg = vec![b'a'; len];
        msg[..2].copy_from_slice(&[VERSION, 1]);
        let conn = RawConn::connect(broker.socket()).expect("connect");
        conn.send(&msg).expect("send");
        assert_eq!(
            conn.recv().error(),
            (ErrorKind::TooLarge, libc::EMSGSIZE),
            "{len} bytes"
        );
    }
    let long = |len: usize| [b"/".as_slice(), &vec![b'a'; len - 1]].concat();
    let conn = RawConn::connect(broker.socket()).expect("connect");
    let reply = conn.request(&read(&long(MAX_PATH + 1)));
    assert_eq!(reply.error(), (ErrorKind::TooLarge, libc::ENAMETOOLONG));
    let conn = RawConn::connect(broker.socket()).expect("connect");
    let reply = conn.request(&read(&long(MAX_PATH)));
    assert_eq!(
        reply.error(),
        (ErrorKind::Denied, libc::EACCES),
        "a MAX_PATH path is decided"
    );
    broker.assert_still_serving(&tree.p("data/a.txt"), b"alpha\n");
});

// Requests must carry no fds: one that does is refused (even a valid, allowed Open) and
// every fd it carried is closed, including when there are more than the broker's control
// buffer holds.
itest!(attached_fds_are_refused_and_closed, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let path = tree.p("data/a.txt");
    let valid = encode(&read(&path));
    let extra = File::open("/dev/null").expect("open /dev/null");
    for count in [1, 1, 1, 3, 3, 8] {
        let fds = vec![extra.as_fd(); count];
        let conn = RawConn::connect(broker.socket()).expect("connect");
        conn.send_with_fds(&valid, &fds).expect("send with fds");
        assert_eq!(
            conn.recv().error(),
            (ErrorKind::InvalidRequest, libc::EINVAL),
            "{count} fds"
        );
    }
    broker.assert_fds_back_to(baseline);
    broker.assert_still_serving(&tree.p("data/a.txt"), b"alpha\n");
});

// Clients that hang up before reading their reply (which carries an fd) cost nothing:
// no fd leak, no SIGPIPE death.
itest!(clients_hanging_up_before_the_reply_leak_nothing, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let path = tree.p("data/a.txt");
    for _ in 0..20 {
        let conn = RawConn::connect(broker.socket()).expect("connect");
        conn.send(&encode(&read(&path))).expect("send");
        drop(conn);
    }
    broker.assert_still_serving(&tree.p("data/a.txt"), b"alpha\n");
    broker.assert_fds_back_to(baseline);
});

// A client that connects and sends nothing does not hold up anyone else.
itest!(idle_connections_do_not_block_other_clients, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let idle: Vec<RawConn> = (0..10)
        .map(|_| RawConn::connect(broker.socket()).expect("connect"))
        .collect();
    broker.assert_still_serving(&tree.p("data/a.txt"), b"alpha\n");
    drop(idle);
});
