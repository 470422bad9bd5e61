//! What the C interface sends is the wire spec's golden bytes: every `request.open*` and
//! `request.ping` vector of `wire/tests/golden/vectors.txt` is made by a call of the C
//! functions, captured by a fake broker on a socket, and compared byte for byte; the fake
//! answers with golden replies, and the C results must be what those replies say. A
//! change of the format, or of how the C layer maps its arguments, fails here.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_char, c_int};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use fdagent::{
    fdagent_close, fdagent_connect, fdagent_last_errno, fdagent_last_error, fdagent_open,
    fdagent_open_many, fdagent_ping,
};
use rustix::net::{
    AddressFamily, SocketAddrUnix, SocketFlags, SocketType, accept, bind, listen, socket_with,
};

const READ: u32 = 0x01;
const WRITE: u32 = 0x02;
const CREATE: u32 = 0x08;
const TRUNCATE: u32 = 0x10;
const LIST: u32 = 0x20;
const CREATE_NEW: u32 = 0x40;

/// The golden vectors, by name.
fn vectors() -> BTreeMap<String, Vec<u8>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../wire/tests/golden/vectors.txt"
    );
    let text = std::fs::read_to_string(path).expect("read the golden vectors");
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.splitn(3, ' ');
            let name = fields.next().expect("a name").to_owned();
            let hex = fields.next().expect("the bytes");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            (name, bytes)
        })
        .collect()
}

/// A fake broker: a listening SOCK_SEQPACKET socket in a fresh temp directory.
struct FakeBroker {
    listener: OwnedFd,
    socket: CString,
    dir: PathBuf,
}

impl FakeBroker {
    fn new() -> FakeBroker {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fdagent-c-golden-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        let path = dir.join("sock");
        let listener = socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .expect("socket");
        bind(&listener, &SocketAddrUnix::new(&path).expect("address")).expect("bind");
        listen(&listener, 8).expect("listen");
        let socket = CString::new(path.into_os_string().into_encoded_bytes()).expect("no NUL");
        FakeBroker {
            listener,
            socket,
            dir,
        }
    }

    /// Runs `call` (C calls on a new connection) while this fake takes the one request it
    /// sends and answers `reply`; returns `call`'s value and the request's bytes.
    fn exchange<T: Send>(
        &self,
        reply: &[u8],
        call: impl FnOnce(&CStr) -> T + Send,
    ) -> (T, Vec<u8>) {
        std::thread::scope(|scope| {
            let client = scope.spawn(|| call(&self.socket));
            let conn = accept(&self.listener).expect("accept");
            let mut buf = vec![0u8; fdbroker_wire::MAX_REQUEST + 1];
            let received = fdbroker_wire::recv(conn.as_fd(), &mut buf, 0).expect("recv");
            assert!(!received.truncated, "an over-long request");
            buf.truncate(received.len);
            fdbroker_wire::send(conn.as_fd(), reply, &[]).expect("reply");
            (client.join().expect("the C calls"), buf)
        })
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The errno and message of the calling thread's last error.
fn last_error() -> (c_int, String) {
    // SAFETY: `fdagent_last_error` returns a NUL-terminated string, never NULL, valid
    // until this thread's next failed call.
    let text = unsafe { CStr::from_ptr(fdagent_last_error()) };
    (fdagent_last_errno(), text.to_string_lossy().into_owned())
}

/// One `fdagent_open` of `path` on a new connection: its result and its last error.
fn open(socket: &CStr, path: &[u8], access: u32, mode: u32) -> (c_int, (c_int, String)) {
    let path = CString::new(path).expect("no NUL");
    // SAFETY: valid NUL-terminated strings; the handle is closed once, here.
    unsafe {
        let agent = fdagent_connect(socket.as_ptr(), 10_000);
        assert!(!agent.is_null(), "connect: {:?}", last_error());
        let fd = fdagent_open(agent, path.as_ptr(), access, mode);
        fdagent_close(agent);
        (fd, last_error())
    }
}

/// One `fdagent_open_many` of `paths` on a new connection: its result, the errnos, and
/// its last error.
fn open_many(
    socket: &CStr,
    paths: &[&[u8]],
    access: u32,
    mode: u32,
) -> (c_int, Vec<c_int>, (c_int, String)) {
    let paths: Vec<CString> = paths
        .iter()
        .map(|p| CString::new(*p).expect("no NUL"))
        .collect();
    let pointers: Vec<*const c_char> = paths.iter().map(|p| p.as_ptr()).collect();
    let mut fds = vec![0; paths.len()];
    let mut errnos = vec![0; paths.len()];
    // SAFETY: arrays of paths.len() valid strings and ints; the handle is closed once.
    unsafe {
        let agent = fdagent_connect(socket.as_ptr(), 10_000);
        assert!(!agent.is_null(), "connect: {:?}", last_error());
        let rc = fdagent_open_many(
            agent,
            pointers.as_ptr(),
            pointers.len(),
            access,
            mode,
            fds.as_mut_ptr(),
            errnos.as_mut_ptr(),
        );
        fdagent_close(agent);
        assert!(fds.iter().all(|&fd| fd == -1), "no fd for a refused batch");
        (rc, errnos, last_error())
    }
}

#[test]
fn the_c_calls_send_the_golden_request_bytes() {
    let vectors = vectors();
    let golden = |name: &str| -> &[u8] {
        vectors
            .get(name)
            .unwrap_or_else(|| panic!("no golden vector {name}"))
    };
    let fake = FakeBroker::new();
    // Every refusal answered with the golden denial: the C results must carry its errno
    // and message.
    let denied = golden("response.error.Denied");
    let denial = (13, "permission denied by the fdbroker policy".to_owned());
    let mut covered = Vec::new();
    let mut check = |name: &'static str, sent: Vec<u8>| {
        assert_eq!(sent, golden(name), "the C call for {name} sent other bytes");
        covered.push(name);
    };

    let (pinged, sent) = fake.exchange(golden("response.pong"), |socket| {
        // SAFETY: a valid NUL-terminated string; the handle is closed once.
        unsafe {
            let agent = fdagent_connect(socket.as_ptr(), 10_000);
            let rc = fdagent_ping(agent);
            fdagent_close(agent);
            rc
        }
    });
    assert_eq!(pinged, 0, "{:?}", last_error());
    check("request.ping", sent);

    let longest = [b"/".as_slice(), &[b'a'; 4094]].concat();
    let opens: [(&str, &[u8], u32, u32); 6] = [
        ("request.open.read", b"/srv/uploads/a.txt", READ, 0),
        ("request.open.root_list", b"/", LIST, 0),
        (
            "request.open.create",
            b"/srv/out/report.csv",
            WRITE | CREATE | TRUNCATE,
            0o644,
        ),
        (
            "request.open.create_new_max_mode",
            b"/srv/out/new",
            READ | WRITE | CREATE_NEW,
            0o7777,
        ),
        (
            "request.open.non_utf8_path",
            b"/srv/\xff\xfe/caf\xc3\xa9 \n\\x",
            READ,
            0,
        ),
        ("request.open.longest_path", &longest, READ, 0),
    ];
    for (name, path, access, mode) in opens {
        let ((fd, error), sent) = fake.exchange(denied, |socket| open(socket, path, access, mode));
        assert_eq!((fd, error), (-1, denial.clone()), "{name}");
        check(name, sent);
    }

    let full = vec![b"/a".as_slice(); fdbroker_wire::MAX_BATCH];
    let batches: [(&str, &[&[u8]], u32, u32); 4] = [
        ("request.open_many.one", &[b"/srv/a"], READ, 0),
        (
            "request.open_many.create",
            &[b"/srv/out/1", b"/srv/out/2"],
            WRITE | CREATE,
            0o600,
        ),
        (
            "request.open_many.unchecked_paths",
            &[b"", b"relative", b"/srv/./x", b"/\xff"],
            READ,
            0,
        ),
        ("request.open_many.full", &full, READ, 0),
    ];
    for (name, paths, access, mode) in batches {
        let ((rc, errnos, error), sent) =
            fake.exchange(denied, |socket| open_many(socket, paths, access, mode));
        assert_eq!((rc, error), (-1, denial.clone()), "{name}");
        assert!(
            errnos.iter().all(|&e| e == 13),
            "{name}: each path has the call's errno"
        );
        check(name, sent);
    }

    // A request vector added to the spec must be added here too.
    let requests: Vec<&str> = vectors
        .keys()
        .map(String::as_str)
        .filter(|name| name.starts_with("request.open") || *name == "request.ping")
        .collect();
    covered.sort_unstable();
    assert_eq!(
        covered, requests,
        "the C calls cover every open and ping vector"
    );
}

#[test]
fn the_c_results_follow_the_golden_batch_reply() {
    // Each outcome of `response.opened_many.full_of_failures`: 253 failures, errno
    // i32::MIN, which the C layer cannot pass on as an errno and reports as EIO.
    let vectors = vectors();
    let fake = FakeBroker::new();
    let full = vec![b"/a".as_slice(); fdbroker_wire::MAX_BATCH];
    let ((rc, errnos, _), _) = fake.exchange(
        &vectors["response.opened_many.full_of_failures"],
        |socket| open_many(socket, &full, READ, 0),
    );
    assert_eq!(rc, 0, "{:?}", last_error());
    assert!(
        errnos.iter().all(|&e| e == 5),
        "EIO for a failure without a usable errno: {errnos:?}"
    );
}
