//! A raw SEQPACKET connection to the broker, speaking the wire protocol by hand, so tests
//! can send what no well-behaved client would: wrong versions, garbage, attached fds.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use fdbroker_wire::{Access, ErrorKind, FileKind, MAX_RESPONSE, Request, Response};
use rustix::net::{
    AddressFamily, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketAddrUnix,
    SocketFlags, SocketType, sockopt,
};
use rustix::process::{Gid, Uid};

use super::run::User;

/// Any reply must arrive within this time, or the test fails instead of hanging.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A connected `SOCK_SEQPACKET` socket with send and receive timeouts.
#[derive(Debug)]
pub struct RawConn {
    sock: OwnedFd,
}

impl RawConn {
    pub fn connect(socket: &Path) -> io::Result<RawConn> {
        let sock = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        rustix::net::connect(&sock, &SocketAddrUnix::new(socket)?)?;
        RawConn::from_socket(sock)
    }

    /// A connection made elsewhere (by another process, which passed it on): the broker
    /// knows it by that process's identity.
    pub fn from_socket(sock: OwnedFd) -> io::Result<RawConn> {
        sockopt::set_socket_timeout(&sock, sockopt::Timeout::Recv, Some(REPLY_TIMEOUT))?;
        sockopt::set_socket_timeout(&sock, sockopt::Timeout::Send, Some(REPLY_TIMEOUT))?;
        Ok(RawConn { sock })
    }

    /// Connects with the identity of `user`, in-process: a short-lived thread switches its
    /// own credentials (the raw per-thread syscalls, so the rest of the test process stays
    /// root) and connects. The broker takes the identity at `connect()`, so the connection
    /// keeps `user`'s uid, gid and groups whichever thread uses it later. Much cheaper than
    /// a process per client, which is what lets tests open hundreds of connections.
    pub fn connect_as(socket: &Path, user: User) -> io::Result<RawConn> {
        let mut conns = Self::connect_many_as(socket, user, 1)?;
        Ok(conns.pop().expect("one connection"))
    }

    /// `count` connections with the identity of `user`, made by one thread (see
    /// [`RawConn::connect_as`]).
    pub fn connect_many_as(socket: &Path, user: User, count: usize) -> io::Result<Vec<RawConn>> {
        let socket = socket.to_path_buf();
        std::thread::spawn(move || {
            let groups: Vec<Gid> = user.groups.iter().map(|&g| Gid::from_raw(g)).collect();
            rustix::thread::set_thread_groups(&groups)?;
            let gid = Gid::from_raw(user.gid);
            rustix::thread::set_thread_res_gid(gid, gid, gid)?;
            let uid = Uid::from_raw(user.uid);
            rustix::thread::set_thread_res_uid(uid, uid, uid)?;
            (0..count).map(|_| RawConn::connect(&socket)).collect()
        })
        .join()
        .expect("the connecting thread panicked")
    }

    /// Sends `msg` as one record.
    pub fn send(&self, msg: &[u8]) -> io::Result<()> {
        self.send_with_fds(msg, &[])
    }

    /// Sends `msg` as one record with `fds` attached in one `SCM_RIGHTS` message.
    pub fn send_with_fds(&self, msg: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        assert!(fds.len() <= 8, "at most 8 fds");
        if !fds.is_empty() {
            assert!(control.push(SendAncillaryMessage::ScmRights(fds)));
        }
        let sent = rustix::net::sendmsg(
            &self.sock,
            &[IoSlice::new(msg)],
            &mut control,
            SendFlags::NOSIGNAL,
        )?;
        assert_eq!(sent, msg.len(), "short send of a SEQPACKET record");
        Ok(())
    }

    /// Receives one record (with any fds). A receive timeout fails the test.
    pub fn recv(&self) -> Reply {
        self.try_recv()
            .unwrap_or_else(|e| panic!("no reply from the broker within {REPLY_TIMEOUT:?}: {e}"))
    }

    /// Like `recv`, but a receive error (a timeout, `ECONNRESET` when the broker closed
    /// the connection with requests unread) is returned instead of failing the test.
    pub fn try_recv(&self) -> io::Result<Reply> {
        let mut buf = vec![0; MAX_RESPONSE + 1];
        let got = fdbroker_wire::recv(self.sock.as_fd(), &mut buf, fdbroker_wire::MAX_FDS)?;
        assert!(
            !got.truncated,
            "reply longer than MAX_RESPONSE ({} bytes)",
            got.len
        );
        assert!(
            !got.control_truncated,
            "reply carried more than MAX_FDS fds"
        );
        buf.truncate(got.len);
        Ok(Reply {
            bytes: buf,
            fds: got.fds,
        })
    }

    /// Receives every reply already waiting, without waiting for more, and returns how
    /// many fds they carried (closing them): the fds this connection had in flight.
    pub fn drain_fds(&self) -> usize {
        let mut buf = vec![0; MAX_RESPONSE + 1];
        let mut fds = 0;
        rustix::io::ioctl_fionbio(&self.sock, true).expect("make the socket non-blocking");
        loop {
            match fdbroker_wire::recv(self.sock.as_fd(), &mut buf, fdbroker_wire::MAX_FDS) {
                Ok(got) if got.len == 0 && got.fds.is_empty() => break,
                Ok(got) => fds += got.fds.len(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("draining replies: {e}"),
            }
        }
        rustix::io::ioctl_fionbio(&self.sock, false).expect("make the socket blocking");
        fds
    }

    /// Encodes and sends `request`, then receives the reply.
    pub fn request(&self, request: &Request<'_>) -> Reply {
        self.send(&encode(request)).expect("send request");
        self.recv()
    }
}

impl AsFd for RawConn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// `request` as a message (version byte + postcard body).
pub fn encode(request: &Request<'_>) -> Vec<u8> {
    let mut buf = vec![0; 2 * fdbroker_wire::MAX_REQUEST];
    fdbroker_wire::encode_request(request, &mut buf)
        .expect("encode request")
        .to_vec()
}

/// An `Open` of `path` for reading, the request most tests send.
pub fn read<P: AsRef<[u8]> + ?Sized>(path: &P) -> Request<'_> {
    Request::Open {
        path: path.as_ref(),
        access: Access::READ,
        create_mode: 0,
    }
}

/// One record received from the broker. An empty record with no fds is end of file: the
/// broker closed the connection.
#[derive(Debug)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub fds: Vec<OwnedFd>,
}

impl Reply {
    pub fn is_eof(&self) -> bool {
        self.bytes.is_empty() && self.fds.is_empty()
    }

    /// The decoded response; panics if it does not decode.
    #[track_caller]
    pub fn response(&self) -> Response<'_> {
        fdbroker_wire::decode_response(&self.bytes)
            .unwrap_or_else(|e| panic!("undecodable reply {:?}: {e}", self.bytes))
    }

    /// The contents of the one file an `Opened` reply carries; panics on any other reply.
    #[track_caller]
    pub fn file_contents(self) -> Vec<u8> {
        assert!(
            matches!(self.response(), Response::Opened { .. }),
            "expected Opened, got {:?}",
            self.response()
        );
        assert_eq!(self.fds.len(), 1, "Opened must carry exactly one fd");
        let mut contents = Vec::new();
        let fd = self.fds.into_iter().next().expect("one fd");
        io::Read::read_to_end(&mut std::fs::File::from(fd), &mut contents)
            .expect("read the brokered fd");
        contents
    }

    /// Asserts the reply is `Opened` for a regular file of `contents`' size, with exactly
    /// one fd, that reads `contents`.
    #[track_caller]
    pub fn assert_opened(self, contents: &[u8]) {
        assert_eq!(
            self.response(),
            Response::Opened {
                kind: FileKind::Regular,
                size: contents.len() as u64
            }
        );
        assert_eq!(self.file_contents(), contents);
    }

    /// The `(kind, errno)` of an `Error` reply, which must carry no fd; panics otherwise.
    #[track_caller]
    pub fn error(&self) -> (ErrorKind, i32) {
        match self.response() {
            Response::Error { kind, errno, .. } => {
                assert!(self.fds.is_empty(), "an Error reply carried an fd");
                (kind, errno)
            }
            other => panic!("expected an Error reply, got {other:?}"),
        }
    }
}
