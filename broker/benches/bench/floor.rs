//! The floor: the shortest possible fd broker, the baseline fdbroker is judged against.
//!
//! It is what any SCM_RIGHTS broker must do and nothing else: no policy, no logging, no
//! encoding beyond a byte string out and fixed-size records back, one process, one thread
//! (unless given [`Duties`], which measure what fdbroker's own duties cost the kernel).
//! It is the Rust twin of the C floor behind `perf.md` (same syscalls: `openat2` with
//! `RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`, `fstat`, `sendmsg` with the fds in one
//! `SCM_RIGHTS`), written with the same crate (rustix) as the broker so that the
//! difference between the two is the broker's own work. Where the broker found a cheaper
//! way to ask the kernel for the same work (closing a batch's fds with `close_range`), the
//! floor does it the same way: a floor slower than it need be would flatter the broker.
//!
//! Shape: a single-threaded level-triggered epoll loop over the listener and every
//! connection, reading `SO_PEERCRED` once per connection, which is what a broker serving
//! many clients honestly costs (perf.md: within 2 % of a socketpair server for one client).
//!
//! Wire format (private to the bench):
//! * request: the paths, separated by NUL bytes (one path: just its bytes);
//! * reply: one 16-byte record per path — `errno: i32` (0 = opened), `mode: u32`,
//!   `size: u64`, little-endian — and the fds of the opened ones, in order, in one
//!   `SCM_RIGHTS` message. A batch is therefore one message each way, like `OpenMany`.

use std::io::{self, IoSlice, IoSliceMut, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rustix::event::epoll;
use rustix::fs::{CWD, FileType, Mode, OFlags, ResolveFlags, fstat, openat2};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
    accept_with, bind, connect, listen, recvmsg, sendmsg, socket_with,
};

use crate::tree::FILE_SIZE;

/// Most paths in one message: the broker's `OpenMany` maximum (the kernel's `SCM_MAX_FD`).
pub const MAX_BATCH: usize = fdbroker_wire::MAX_BATCH;
/// Largest request: 253 paths of the bench's length (well under 256 bytes each).
const MAX_REQUEST: usize = MAX_BATCH * 256;
/// One reply record.
const RECORD: usize = 16;
/// Pending connections: more than the 64 clients of the throughput rows.
const BACKLOG: i32 = 256;
/// The epoll key of the listener (connections use their slot index).
const LISTENER: u64 = u64::MAX;

/// What the floor does beyond the bare minimum, to measure what each of fdbroker's duties
/// costs the kernel: none by default.
#[derive(Debug, Default)]
pub struct Duties {
    /// Confine the server with these Landlock rules (`PATH=RIGHT,RIGHT`, as
    /// [`crate::daemon::Broker::landlock_rules`] reads them from the broker).
    pub landlock: Vec<String>,
    /// Append one audit line per file to this file, a request's lines in one `write`
    /// before its reply is sent, as fdbroker does.
    pub audit: Option<std::path::PathBuf>,
    /// Hand out blocking fds: clear the `O_NONBLOCK` the open needed (one `fcntl` per
    /// file), as fdbroker does.
    pub blocking: bool,
    /// Run as a threaded process, as a broker with a worker pool is: one more thread,
    /// idle, sharing the fd table and address space. The kernel then takes a reference
    /// on each file an fd syscall uses, and a context switch does more bookkeeping.
    pub threaded: bool,
}

impl Duties {
    /// The server's command-line arguments for these duties.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(audit) = &self.audit {
            args.extend(["--audit".to_owned(), audit.display().to_string()]);
        }
        if self.blocking {
            args.push("--blocking".to_owned());
        }
        if self.threaded {
            args.push("--threaded".to_owned());
        }
        if !self.landlock.is_empty() {
            args.push("--landlock".to_owned());
            args.extend(self.landlock.iter().cloned());
        }
        args
    }

    fn parse(mut args: &[String]) -> io::Result<Duties> {
        let mut duties = Duties::default();
        while let Some((flag, rest)) = args.split_first() {
            args = rest;
            match flag.as_str() {
                "--audit" => {
                    let (path, rest) = args.split_first().ok_or_else(usage)?;
                    duties.audit = Some(path.into());
                    args = rest;
                }
                "--blocking" => duties.blocking = true,
                "--threaded" => duties.threaded = true,
                // The rules are the rest of the line.
                "--landlock" if !args.is_empty() => {
                    duties.landlock = args.to_vec();
                    args = &[];
                }
                _ => return Err(usage()),
            }
        }
        Ok(duties)
    }
}

fn usage() -> io::Error {
    io::Error::other(
        "usage: __floor SOCKET [--audit FILE] [--blocking] [--threaded] [--landlock PATH=RIGHTS...]",
    )
}

/// `__floor SOCKET [DUTIES]`: binds `SOCKET` (mode 0666, so any uid can connect), takes on
/// the [`Duties`] asked for, prints `ready` and serves until killed.
pub fn server_main(args: &[String]) -> io::Result<()> {
    let (socket, duties) = match args.split_first() {
        Some((socket, rest)) => (socket, Duties::parse(rest)?),
        None => return Err(usage()),
    };
    let audit = match &duties.audit {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)?,
        ),
        None => None,
    };
    // As the broker does: room for connections and for fds in flight.
    crate::sys::soft_nofile_to_hard()?;
    let listener = socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let _ = std::fs::remove_file(socket);
    bind(&listener, &SocketAddrUnix::new(Path::new(socket))?)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666))?;
    listen(&listener, BACKLOG)?;
    if !duties.landlock.is_empty() {
        confine(&duties.landlock)?;
    }
    if duties.threaded {
        std::thread::Builder::new()
            .name("idle".to_owned())
            .spawn(|| {
                loop {
                    std::thread::park();
                }
            })?;
    }
    let mut out = io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    drop(out);
    serve(listener, Server::new(audit, duties.blocking))
}

/// Restricts this process as the broker restricts itself: every file-system right of
/// the Landlock ABI the broker handles denied, except `rules` (`PATH=RIGHT,RIGHT`, the
/// names `--print-privileges` prints).
fn confine(rules: &[String]) -> io::Result<()> {
    use landlock::{
        ABI, Access, AccessFs, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr,
        RulesetCreatedAttr, RulesetStatus,
    };
    let bad = |what: &str| io::Error::other(format!("--landlock: {what}"));
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI::V7))
        .and_then(Ruleset::create)
        .map_err(io::Error::other)?;
    for rule in rules {
        let (path, names) = rule.split_once('=').ok_or_else(|| bad(rule))?;
        let mut rights = BitFlags::<AccessFs>::empty();
        for name in names.split(',') {
            rights |= AccessFs::from_all(ABI::V7)
                .iter()
                .find(|right| format!("{right:?}") == name)
                .ok_or_else(|| bad(&format!("unknown right {name:?}")))?;
        }
        let fd = PathFd::new(path).map_err(io::Error::other)?;
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, rights))
            .map_err(io::Error::other)?;
    }
    match ruleset.restrict_self().map_err(io::Error::other)?.ruleset {
        RulesetStatus::FullyEnforced => Ok(()),
        status => Err(bad(&format!("not enforced by this kernel ({status:?})"))),
    }
}

/// The epoll loop: accept, or answer one request on a readable connection.
fn serve(listener: OwnedFd, mut server: Server) -> io::Result<()> {
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    epoll::add(
        &ep,
        &listener,
        epoll::EventData::new_u64(LISTENER),
        epoll::EventFlags::IN,
    )?;
    let mut conns: Vec<Option<OwnedFd>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Vec::with_capacity(64);
    loop {
        events.clear();
        match epoll::wait(&ep, rustix::buffer::spare_capacity(&mut events), None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        for event in &events {
            let key = event.data.u64();
            if key == LISTENER {
                let conn = accept_with(&listener, SocketFlags::CLOEXEC)?;
                // Credentials once per connection, as a real broker must read them.
                let _creds = rustix::net::sockopt::socket_peercred(&conn)?;
                let slot = free.pop().unwrap_or_else(|| {
                    conns.push(None);
                    conns.len() - 1
                });
                epoll::add(
                    &ep,
                    &conn,
                    epoll::EventData::new_u64(slot as u64),
                    epoll::EventFlags::IN,
                )?;
                conns[slot] = Some(conn);
                continue;
            }
            let slot = key as usize;
            let Some(conn) = conns[slot].as_ref() else {
                continue;
            };
            if !server.answer(conn.as_fd()) {
                if let Some(conn) = conns[slot].take() {
                    epoll::delete(&ep, &conn)?;
                }
                free.push(slot);
            }
        }
    }
}

/// The server's reusable buffers, and its duties.
struct Server {
    request: Vec<u8>,
    reply: Vec<u8>,
    fds: Vec<OwnedFd>,
    space: Vec<MaybeUninit<u8>>,
    audit: Option<std::fs::File>,
    lines: Vec<u8>,
    blocking: bool,
}

impl Server {
    fn new(audit: Option<std::fs::File>, blocking: bool) -> Server {
        Server {
            request: vec![0; MAX_REQUEST],
            reply: Vec::with_capacity(MAX_BATCH * RECORD),
            fds: Vec::with_capacity(MAX_BATCH),
            space: vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_BATCH))],
            audit,
            lines: Vec::with_capacity(MAX_BATCH * 160),
            blocking,
        }
    }

    /// Adds the audit line of one file: about as long as fdbroker's, stamped with `now`
    /// (seconds and milliseconds since the epoch, formatted by `itoa`), which fdbroker too
    /// takes once per request.
    fn audit_line(&mut self, now: std::time::Duration, path: &[u8], errno: i32) {
        let mut number = itoa::Buffer::new();
        self.lines
            .extend_from_slice(number.format(now.as_secs()).as_bytes());
        self.lines.push(b'.');
        self.lines
            .extend_from_slice(number.format(now.subsec_millis()).as_bytes());
        self.lines.extend_from_slice(if errno == 0 {
            b" allow op=open uid=2001 gid=2001 pid=1 access=read path=\""
        } else {
            b" fail op=open uid=2001 gid=2001 pid=1 access=read path=\""
        });
        self.lines.extend_from_slice(path);
        self.lines.extend_from_slice(b"\" rule=\"bench\"\n");
    }

    /// Answers one request on `conn`; false when the connection is done (EOF, error, or a
    /// malformed request).
    fn answer(&mut self, conn: BorrowedFd<'_>) -> bool {
        // No control buffer: a request that carries fds gets MSG_CTRUNC and the kernel
        // closes them.
        let mut no_control = RecvAncillaryBuffer::new(&mut []);
        let received = recvmsg(
            conn,
            &mut [IoSliceMut::new(&mut self.request)],
            &mut no_control,
            RecvFlags::CMSG_CLOEXEC,
        );
        let msg = match received {
            Ok(msg) if msg.bytes > 0 && !msg.flags.contains(ReturnFlags::TRUNC) => msg,
            _ => return false,
        };
        self.reply.clear();
        self.lines.clear();
        // Only with an audit duty: the bare floor reads no clock.
        let now = self.audit.as_ref().map(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
        });
        let request = std::mem::take(&mut self.request);
        for path in request[..msg.bytes].split(|&b| b == 0) {
            let (errno, mode, size) = match open_one(path, self.blocking) {
                Ok((fd, mode, size)) => {
                    self.fds.push(fd);
                    (0, mode, size)
                }
                Err(e) => (e.raw_os_error(), 0, 0),
            };
            if let Some(now) = now {
                self.audit_line(now, path, errno);
            }
            self.reply.extend_from_slice(&errno.to_le_bytes());
            self.reply.extend_from_slice(&mode.to_le_bytes());
            self.reply.extend_from_slice(&size.to_le_bytes());
        }
        self.request = request;
        if let Some(audit) = &mut self.audit
            && audit.write_all(&self.lines).is_err()
        {
            return false;
        }
        let sent = send_with_fds(conn, &self.reply, &self.fds, &mut self.space);
        // The server's copies, closed as fdbroker closes them: one `close_range` per run
        // of consecutive numbers, which costs a batch about 0.2 µs a file less than a
        // `close` each, and a lone fd with `close`, which costs it less than
        // `close_range`. A floor must not be slower at this than the broker it bounds.
        crate::close_runs::close_all(self.fds.drain(..));
        sent.is_ok()
    }
}

/// `openat2` + `fstat`, refusing anything but a regular file; then, if `blocking`, the
/// `fcntl` that clears `O_NONBLOCK`.
fn open_one(path: &[u8], blocking: bool) -> Result<(OwnedFd, u32, u64), Errno> {
    let fd = openat2(
        CWD,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )?;
    let st = fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(Errno::NXIO);
    }
    if blocking {
        rustix::fs::fcntl_setfl(&fd, OFlags::empty())?;
    }
    Ok((fd, st.st_mode, st.st_size as u64))
}

/// Sends `msg` with `fds` in one `SCM_RIGHTS`, `MSG_NOSIGNAL`.
fn send_with_fds(
    sock: BorrowedFd<'_>,
    msg: &[u8],
    fds: &[OwnedFd],
    space: &mut [MaybeUninit<u8>],
) -> io::Result<()> {
    let mut control = SendAncillaryBuffer::new(space);
    // One fd (the common case) needs no allocation; a batch allocates one small vector,
    // noise beside its opens.
    let one;
    let many: Vec<BorrowedFd<'_>>;
    let borrowed: &[BorrowedFd<'_>] = match fds {
        [] => &[],
        [fd] => {
            one = [fd.as_fd()];
            &one
        }
        _ => {
            many = fds.iter().map(AsFd::as_fd).collect();
            &many
        }
    };
    if !borrowed.is_empty() && !control.push(SendAncillaryMessage::ScmRights(borrowed)) {
        return Err(io::Error::other("control buffer too small"));
    }
    let sent = sendmsg(
        sock,
        &[IoSlice::new(msg)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    if sent != msg.len() {
        return Err(io::Error::other("short send"));
    }
    Ok(())
}

/// The client end of a floor connection.
#[derive(Debug)]
pub struct FloorConn {
    sock: OwnedFd,
    request: Vec<u8>,
    reply: Vec<u8>,
    space: Vec<MaybeUninit<u8>>,
    /// Reused by [`FloorConn::open`], so the single-file path allocates nothing.
    one: Vec<OwnedFd>,
}

impl FloorConn {
    pub fn connect(socket: &Path) -> io::Result<FloorConn> {
        let sock = socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        connect(&sock, &SocketAddrUnix::new(socket)?)?;
        Ok(FloorConn {
            sock,
            request: Vec::with_capacity(MAX_REQUEST),
            reply: vec![0; MAX_BATCH * RECORD + 1],
            space: vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_BATCH))],
            one: Vec::with_capacity(1),
        })
    }

    /// Opens one file: one request, one reply with its fd.
    pub fn open(&mut self, path: &[u8]) -> io::Result<OwnedFd> {
        send_all(self.sock.as_fd(), path)?;
        let mut one = std::mem::take(&mut self.one);
        let received = self.receive(1, &mut one);
        let fd = one.pop();
        self.one = one;
        received?;
        fd.ok_or_else(|| io::Error::other("no fd"))
    }

    /// Sends one request for all of `paths` (at most [`MAX_BATCH`]).
    pub fn submit(&mut self, paths: &[&[u8]]) -> io::Result<()> {
        assert!(!paths.is_empty() && paths.len() <= MAX_BATCH);
        self.request.clear();
        for (i, path) in paths.iter().enumerate() {
            if i > 0 {
                self.request.push(0);
            }
            self.request.extend_from_slice(path);
        }
        send_all(self.sock.as_fd(), &self.request)
    }

    /// Receives the reply to a request of `n` paths and appends its fds to `out`. Every
    /// record must say "opened, regular, 4 KiB" and carry its fd: a floor that fails
    /// cannot look fast.
    pub fn receive(&mut self, n: usize, out: &mut Vec<OwnedFd>) -> io::Result<()> {
        let mut control = RecvAncillaryBuffer::new(&mut self.space);
        let msg = recvmsg(
            &self.sock,
            &mut [IoSliceMut::new(&mut self.reply)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )?;
        let before = out.len();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                out.extend(fds);
            }
        }
        if msg
            .flags
            .intersects(ReturnFlags::TRUNC | ReturnFlags::CTRUNC)
        {
            return Err(io::Error::other("floor reply truncated"));
        }
        if msg.bytes != n * RECORD || out.len() - before != n {
            return Err(io::Error::other(format!(
                "floor reply of {} bytes with {} fds for {n} paths",
                msg.bytes,
                out.len() - before
            )));
        }
        for record in self.reply[..msg.bytes].chunks_exact(RECORD) {
            let errno = i32::from_le_bytes(record[0..4].try_into().expect("4 bytes"));
            let mode = u32::from_le_bytes(record[4..8].try_into().expect("4 bytes"));
            let size = u64::from_le_bytes(record[8..16].try_into().expect("8 bytes"));
            if errno != 0
                || FileType::from_raw_mode(mode) != FileType::RegularFile
                || size != FILE_SIZE as u64
            {
                return Err(io::Error::other(format!(
                    "floor record: errno {errno}, mode {mode:o}, size {size}"
                )));
            }
        }
        Ok(())
    }
}

fn send_all(sock: BorrowedFd<'_>, msg: &[u8]) -> io::Result<()> {
    let sent = rustix::net::send(sock, msg, SendFlags::NOSIGNAL)?;
    if sent != msg.len() {
        return Err(io::Error::other("short send"));
    }
    Ok(())
}
