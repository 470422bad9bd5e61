//! A blocking connection to the broker: one request out, one reply in, in lock-step.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fdbroker_wire::{
    Access, DEFAULT_SOCKET, FileKind, MAX_REQUEST, MAX_RESPONSE, Request, Response,
    decode_response, encode_request,
};
use rustix::io::Errno;
use rustix::net::sockopt::{Timeout, set_socket_timeout};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType, connect, socket_with};

use crate::BrokerError;

/// The environment variable that overrides the default socket path.
pub const SOCKET_ENV: &str = "FDBROKER_SOCKET";

/// A connection to the broker. The broker knows the client by the credentials of the
/// process that called [`Client::connect`]; requests carry no identity.
/// The size of the request buffer until a request needs more: a page, which holds a
/// request for one path of up to 4 KiB. Zeroing a [`MAX_REQUEST`] buffer (64 KiB, 16
/// pages to fault in) for a one-path request cost a run of `fdagent cat` more than its
/// request did.
const SMALL_REQUEST: usize = 4096;

#[derive(Debug)]
pub struct Client {
    pub(crate) sock: OwnedFd,
    /// Path counts of the batches sent with [`Client::submit_many`] and not yet received,
    /// oldest first: replies come in request order.
    pub(crate) pending: VecDeque<usize>,
    /// The buffer requests are encoded into, allocated on first use and reused: of
    /// [`SMALL_REQUEST`] bytes, grown to [`MAX_REQUEST`] for the first request that needs
    /// more.
    out: Vec<u8>,
    /// The buffer replies are received into, likewise: zeroing a fresh 4 KiB per reply
    /// was a measurable part of a client's cost per open.
    replies: Box<[u8]>,
    /// How long one send or receive may wait for the broker (see [`Client::set_timeout`]).
    timeout: Option<Duration>,
}

/// A file the broker opened, with what `fstat` said about it.
#[derive(Debug)]
pub struct Opened {
    /// The open file (a directory for `list`).
    pub file: File,
    /// Regular file or directory.
    pub kind: FileKind,
    /// Its size when it was opened.
    pub size: u64,
    /// True when the broker created the file for this request (`create` or `create_new`);
    /// false when it opened a file that was there, which `create` does and `create_new`
    /// never does.
    pub created: bool,
}

impl Client {
    /// Connects to the broker listening at `socket`.
    ///
    /// ```no_run
    /// let mut client = fdbroker_agent::Client::connect("/run/fdbroker.sock")?;
    /// client.ping()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// It waits as long as it takes, here and for every reply: to bound the waits, use
    /// [`Client::connect_timeout`], or [`Client::set_timeout`] once connected.
    pub fn connect(socket: impl AsRef<Path>) -> io::Result<Client> {
        Client::connect_timeout(socket, None)
    }

    /// Connects like [`Client::connect`], waiting at most `timeout` (`None`: as long as it
    /// takes) to connect (a broker whose listen backlog is full keeps new clients waiting
    /// in `connect`), and then for each send and receive, as [`Client::set_timeout`] sets.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let timeout = Some(Duration::from_secs(5));
    /// let mut client = fdbroker_agent::Client::connect_timeout("/run/fdbroker.sock", timeout)?;
    /// client.ping()?; // an error of kind TimedOut if the broker does not answer in time
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_timeout(
        socket: impl AsRef<Path>,
        timeout: Option<Duration>,
    ) -> io::Result<Client> {
        let socket = socket.as_ref();
        let sock = socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        let mut client = Client {
            sock,
            pending: VecDeque::new(),
            out: Vec::new(),
            replies: Box::default(),
            timeout: None,
        };
        client.set_timeout(timeout)?;
        let connected = SocketAddrUnix::new(socket).and_then(|addr| connect(&client.sock, &addr));
        connected.map_err(|e| {
            let (kind, e) = match e {
                // A blocking connect that ran out of time.
                Errno::AGAIN | Errno::INPROGRESS => (
                    io::ErrorKind::TimedOut,
                    client.timed_out("accept the connection"),
                ),
                e => (io::Error::from(e).kind(), e.to_string()),
            };
            io::Error::new(
                kind,
                format!("cannot connect to the broker at {}: {e}", socket.display()),
            )
        })?;
        Ok(client)
    }

    /// Bounds each wait for the broker on this connection to `timeout` (`None`: no bound,
    /// the default): a send that the broker does not take in time, or a reply that does
    /// not come in time, is an error of kind [`io::ErrorKind::TimedOut`], so a stopped or
    /// wedged broker gives an error, never a hang. The connection is of no further use
    /// after a timeout: a late reply would be taken for the next request's. A zero
    /// duration is refused (`InvalidInput`).
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let mut client = fdbroker_agent::Client::connect_default()?;
    /// client.set_timeout(Some(Duration::from_secs(30)))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a timeout must be longer than zero (None for no timeout)",
            ));
        }
        set_socket_timeout(&self.sock, Timeout::Recv, timeout)?;
        set_socket_timeout(&self.sock, Timeout::Send, timeout)?;
        self.timeout = timeout;
        Ok(())
    }

    /// What a wait that ran out of time was for, as an error message.
    fn timed_out(&self, what: &str) -> String {
        let within = self
            .timeout
            .map_or_else(String::new, |t| format!(" within {t:?}"));
        format!("the broker did not {what}{within}")
    }

    /// `err` from a send or receive: a timeout (`EAGAIN` on a blocking socket) becomes a
    /// [`io::ErrorKind::TimedOut`] that says so.
    fn waited(&self, err: io::Error, what: &str) -> io::Error {
        if err.kind() == io::ErrorKind::WouldBlock {
            io::Error::new(io::ErrorKind::TimedOut, self.timed_out(what))
        } else {
            err
        }
    }

    /// Connects to `$FDBROKER_SOCKET`, or to `/run/fdbroker.sock` when it is not set.
    ///
    /// ```no_run
    /// let mut client = fdbroker_agent::Client::connect_default()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_default() -> io::Result<Client> {
        Client::connect(default_socket())
    }

    /// Asks the broker whether it is there and speaks this protocol version.
    ///
    /// ```no_run
    /// # let mut client = fdbroker_agent::Client::connect_default()?;
    /// client.ping()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ping(&mut self) -> io::Result<()> {
        let (response, _) = self.call(&Request::Ping, |r| {
            matches!(r, Response::Pong).then_some(())
        })?;
        Ok(response)
    }

    /// Opens `path` (absolute and normalized) with `access` through the broker.
    ///
    /// A denial is an error of kind `PermissionDenied`; [`BrokerError::from_io`] gives the
    /// broker's own kind, errno and message.
    ///
    /// ```no_run
    /// use std::io::Read;
    /// use fdbroker_agent::{Access, Client};
    ///
    /// let mut client = Client::connect_default()?;
    /// let mut text = String::new();
    /// client.open("/srv/uploads/report.txt", Access::READ)?.read_to_string(&mut text)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open(&mut self, path: impl AsRef<Path>, access: Access) -> io::Result<File> {
        self.open_with_mode(path, access, 0o600)
            .map(|opened| opened.file)
    }

    /// Like [`Client::open`], with the mode for a file created under [`Access::CREATE`] or
    /// [`Access::CREATE_NEW`] (the broker bounds it by `0o666` and the granting rule's
    /// `create_mode`), and returning the file's kind and size, and whether it was created,
    /// as well.
    ///
    /// ```no_run
    /// use std::io::Write;
    /// use fdbroker_agent::{Access, Client};
    ///
    /// let mut client = Client::connect_default()?;
    /// let access = Access::WRITE | Access::CREATE_NEW;
    /// let mut out = client.open_with_mode("/srv/out/result.txt", access, 0o640)?;
    /// assert!(out.created, "create_new never opens a file that was there");
    /// out.file.write_all(b"done\n")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_with_mode(
        &mut self,
        path: impl AsRef<Path>,
        access: Access,
        create_mode: u32,
    ) -> io::Result<Opened> {
        let path = path.as_ref().as_os_str().as_bytes();
        let request = Request::Open {
            path,
            access,
            create_mode,
        };
        let ((kind, size, created), fd) = self.call(&request, |r| match r {
            Response::Opened { kind, size } => Some((kind, size, false)),
            Response::Created { kind, size } => Some((kind, size, true)),
            _ => None,
        })?;
        let fd =
            fd.ok_or_else(|| malformed("the broker's reply to open carried no file descriptor"))?;
        Ok(Opened {
            file: File::from(fd),
            kind,
            size,
            created,
        })
    }

    /// Sends `request` and reads its reply: `expect` picks the success value out of it;
    /// an error reply becomes a [`BrokerError`]. Any fd beyond the first is closed.
    pub(crate) fn call<T>(
        &mut self,
        request: &Request<'_>,
        expect: impl FnOnce(Response<'_>) -> Option<T>,
    ) -> io::Result<(T, Option<OwnedFd>)> {
        if !self.pending.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "receive the submitted batches before sending another request",
            ));
        }
        self.send(request)?;
        self.with_reply_buffer(|client, buf| {
            let (response, fds) = client.receive(buf, 1)?;
            let value = expect(response)
                .ok_or_else(|| malformed("the broker answered a different request"))?;
            Ok((value, fds.into_iter().next()))
        })
    }

    /// Runs `f` with the reply buffer (of [`MAX_RESPONSE`] bytes), lent out of `self` so
    /// that `f` may also use the connection.
    pub(crate) fn with_reply_buffer<T>(
        &mut self,
        f: impl FnOnce(&Self, &mut [u8]) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut buf = std::mem::take(&mut self.replies);
        if buf.is_empty() {
            buf = vec![0u8; MAX_RESPONSE].into_boxed_slice();
        }
        let result = f(self, &mut buf);
        self.replies = buf;
        result
    }

    /// Receives one reply into `buf`, with at most `max_fds` fds. End of file, an
    /// over-long, truncated or undecodable reply are errors, and an error reply becomes a
    /// [`BrokerError`]; otherwise the reply and its fds.
    pub(crate) fn receive<'b>(
        &self,
        buf: &'b mut [u8],
        max_fds: usize,
    ) -> io::Result<(Response<'b>, Vec<OwnedFd>)> {
        let received = match fdbroker_wire::recv(self.sock.as_fd(), buf, max_fds) {
            // The broker closed the connection with our request unread: after this error
            // comes what it sent before closing, such as `Busy`.
            Err(e) if e.raw_os_error() == Some(Errno::CONNRESET.raw_os_error()) => {
                fdbroker_wire::recv(self.sock.as_fd(), buf, max_fds).map_err(|_| e)?
            }
            received => received.map_err(|e| self.waited(e, "answer"))?,
        };
        if received.len == 0 && received.fds.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the broker closed the connection",
            ));
        }
        if received.control_truncated {
            return Err(malformed(
                "the broker's reply carried too many file descriptors",
            ));
        }
        let bytes = received
            .bytes(buf)
            .ok_or_else(|| malformed("the broker's reply is too large"))?;
        let response = decode_response(bytes)
            .map_err(|e| malformed(&format!("bad reply from the broker: {e}")))?;
        if let Response::Error {
            kind,
            errno,
            message,
        } = response
        {
            return Err(BrokerError::new(kind, errno, message).into_io());
        }
        Ok((response, received.fds))
    }

    pub(crate) fn send(&mut self, request: &Request<'_>) -> io::Result<()> {
        if self.out.is_empty() {
            self.out = vec![0u8; SMALL_REQUEST];
        }
        // A request that does not fit the small buffer is encoded again into a full-size
        // one; only an error there is the request's.
        let small = self.out.len() < MAX_REQUEST;
        let len = match encode_request(request, &mut self.out) {
            Ok(msg) => Some(msg.len()),
            Err(_) if small => None,
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidInput, e)),
        };
        let len = match len {
            Some(len) => len,
            None => {
                self.out = vec![0u8; MAX_REQUEST];
                encode_request(request, &mut self.out)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
                    .len()
            }
        };
        let msg = &self.out[..len];
        match fdbroker_wire::send(self.sock.as_fd(), msg, &[]) {
            Ok(()) => Ok(()),
            // The broker refuses a connection over a limit with an unasked `Busy`, then
            // closes it, often before the first request is sent: that reply, not the
            // broken pipe, says why.
            Err(e) if e.raw_os_error() == Some(Errno::PIPE.raw_os_error()) => {
                Err(self.unasked_reply().unwrap_or(e))
            }
            Err(e) => Err(self.waited(e, "take the request")),
        }
    }

    /// The error reply the broker sent before it closed the connection, if there is one.
    /// (The connection is closed, so the receive cannot block.)
    fn unasked_reply(&mut self) -> Option<io::Error> {
        self.with_reply_buffer(|client, buf| match client.receive(buf, 0) {
            Err(e) if BrokerError::from_io(&e).is_some() => Ok(e),
            _ => Err(io::Error::other("no reply")),
        })
        .ok()
    }
}

/// The socket path [`Client::connect_default`] uses: `$FDBROKER_SOCKET`, else
/// `/run/fdbroker.sock`.
///
/// ```
/// use std::path::PathBuf;
///
/// let expected = std::env::var_os(fdbroker_agent::SOCKET_ENV)
///     .map_or_else(|| PathBuf::from("/run/fdbroker.sock"), PathBuf::from);
/// assert_eq!(fdbroker_agent::default_socket(), expected);
/// ```
pub fn default_socket() -> PathBuf {
    std::env::var_os(SOCKET_ENV).map_or_else(|| PathBuf::from(DEFAULT_SOCKET), PathBuf::from)
}

pub(crate) fn malformed(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}
