//! A blocking connection to the broker: one request out, one reply in, in lock-step.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fdbroker_wire::{
    Access, Batch, DEFAULT_SOCKET, ErrorKind, FileKind, MAX_BATCH, MAX_FDS, MAX_PATH, MAX_REQUEST,
    MAX_RESPONSE, Outcome, Request, Response, decode_response, encode_request,
};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType, connect, socket_with};

use crate::BrokerError;

/// The environment variable that overrides the default socket path.
pub const SOCKET_ENV: &str = "FDBROKER_SOCKET";

/// A connection to the broker. The broker knows the client by the credentials of the
/// process that called [`Client::connect`]; requests carry no identity.
#[derive(Debug)]
pub struct Client {
    sock: OwnedFd,
    /// Path counts of the batches sent with [`Client::submit_many`] and not yet received,
    /// oldest first: replies come in request order.
    pending: VecDeque<usize>,
    /// The buffer requests are encoded into, allocated on first use and reused.
    out: Vec<u8>,
}

/// How many batches [`Client::open_many`] keeps in flight: two is enough for the broker to
/// open the next batch while this process takes in the last.
const PIPELINE_DEPTH: usize = 2;

/// Bytes of an `OpenMany` message besides its paths (version, tag, counts, access, mode),
/// and per path besides its bytes (its length varint), with headroom.
const BATCH_OVERHEAD: usize = 32;
const PATH_OVERHEAD: usize = 3;

/// A file the broker opened, with what `fstat` said about it.
#[derive(Debug)]
pub struct Opened {
    /// The open file (a directory for `list`).
    pub file: File,
    /// Regular file or directory.
    pub kind: FileKind,
    /// Its size when it was opened.
    pub size: u64,
}

impl Client {
    /// Connects to the broker listening at `socket`.
    ///
    /// ```no_run
    /// let mut client = fdbroker_agent::Client::connect("/run/fdbroker.sock")?;
    /// client.ping()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect(socket: impl AsRef<Path>) -> io::Result<Client> {
        let socket = socket.as_ref();
        let sock = socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        let connected = SocketAddrUnix::new(socket).and_then(|addr| connect(&sock, &addr));
        connected.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot connect to the broker at {}: {e}", socket.display()),
            )
        })?;
        Ok(Client {
            sock,
            pending: VecDeque::new(),
            out: Vec::new(),
        })
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

    /// The broker's state and counters (counts since its policy was loaded). Only root and
    /// the clients a rule of the policy names may ask; others get `PermissionDenied`.
    ///
    /// ```no_run
    /// let mut client = fdbroker_agent::Client::connect_default()?;
    /// let status = client.status()?;
    /// for rule in &status.rules {
    ///     println!("{}: {} allowed, {} denied", rule.name, rule.allowed, rule.denied);
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn status(&mut self) -> io::Result<BrokerStatus> {
        let mut status: Option<BrokerStatus> = None;
        loop {
            let first_rule = status.as_ref().map_or(0, |s| s.rules.len() as u32);
            let ((page, all), _) = self.call(&Request::Status { first_rule }, |r| match r {
                Response::Status(page) => {
                    let all = page.rule_count as usize;
                    Some((BrokerStatus::from_page(page), all))
                }
                _ => None,
            })?;
            let got = page.rules.len();
            let status = match status.as_mut() {
                Some(status) => {
                    status.rules.extend(page.rules);
                    status
                }
                None => status.insert(page),
            };
            // An empty page means the policy was reloaded with fewer rules meanwhile.
            if status.rules.len() >= all || got == 0 {
                return Ok(status.clone());
            }
        }
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

    /// Like [`Client::open`], with the mode for a file created under [`Access::CREATE`]
    /// (the broker bounds it by `0o666` and the granting rule's `create_mode`), and
    /// returning the file's kind and size as well.
    ///
    /// ```no_run
    /// use std::io::Write;
    /// use fdbroker_agent::{Access, Client};
    ///
    /// let mut client = Client::connect_default()?;
    /// let mut out = client.open_with_mode("/srv/out/result.txt", Access::WRITE | Access::CREATE, 0o640)?;
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
        let ((kind, size), fd) = self.call(&request, |r| match r {
            Response::Opened { kind, size } => Some((kind, size)),
            _ => None,
        })?;
        let fd =
            fd.ok_or_else(|| malformed("the broker's reply to open carried no file descriptor"))?;
        Ok(Opened {
            file: File::from(fd),
            kind,
            size,
        })
    }

    /// Sends `request` and reads its reply: `expect` picks the success value out of it;
    /// an error reply becomes a [`BrokerError`]. Any fd beyond the first is closed.
    fn call<T>(
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
        let mut buf = [0u8; MAX_RESPONSE];
        let received = fdbroker_wire::recv(self.sock.as_fd(), &mut buf, 1)?;
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
            .bytes(&buf)
            .ok_or_else(|| malformed("the broker's reply is too large"))?;
        let response = decode_response(bytes)
            .map_err(|e| malformed(&format!("bad reply from the broker: {e}")))?;
        let fd = received.fds.into_iter().next();
        if let Response::Error {
            kind,
            errno,
            message,
        } = response
        {
            return Err(BrokerError::new(kind, errno, message).into_io());
        }
        let value =
            expect(response).ok_or_else(|| malformed("the broker answered a different request"))?;
        Ok((value, fd))
    }
}

impl Client {
    /// Opens each of `paths` with `access`, in as few round trips as the protocol allows
    /// (batches of up to [`MAX_BATCH`] paths, two in flight at a time). The result has one
    /// entry per path, in order; the outer error is for a failure of the connection itself.
    ///
    /// ```no_run
    /// use fdbroker_agent::{Access, Client};
    ///
    /// let mut client = Client::connect_default()?;
    /// let paths = ["/srv/uploads/a.txt", "/srv/uploads/b.txt"];
    /// for (path, file) in paths.iter().zip(client.open_many(&paths, Access::READ)?) {
    ///     match file {
    ///         Ok(file) => println!("{path}: {} bytes", file.metadata()?.len()),
    ///         Err(e) => println!("{path}: {e}"),
    ///     }
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_many<P: AsRef<Path>>(
        &mut self,
        paths: &[P],
        access: Access,
    ) -> io::Result<Vec<io::Result<File>>> {
        let mut results = Vec::with_capacity(paths.len());
        let mut rest = paths;
        loop {
            if !rest.is_empty() && self.pending.len() < PIPELINE_DEPTH {
                let take = batch_len(rest);
                if take > 0 {
                    self.submit_many(&rest[..take], access)?;
                    rest = &rest[take..];
                    continue;
                }
                // A path too long to send fails on its own, in its place in the order.
                if self.pending.is_empty() {
                    let err = BrokerError::new(
                        ErrorKind::TooLarge,
                        Errno::NAMETOOLONG.raw_os_error(),
                        "path too long",
                    );
                    results.push(Err(err.into_io()));
                    rest = &rest[1..];
                    continue;
                }
            }
            if self.pending.is_empty() {
                return Ok(results);
            }
            results.extend(self.receive_many()?);
        }
    }

    /// Sends one `OpenMany` request for `paths` (at most [`MAX_BATCH`], fitting in one
    /// message: see [`batch_len`]) without waiting for its reply, so a client can overlap
    /// its own work with the broker's. Collect the replies, oldest first, with
    /// [`Client::receive_many`].
    ///
    /// ```no_run
    /// use fdbroker_agent::{Access, Client};
    ///
    /// let mut client = Client::connect_default()?;
    /// client.submit_many(&["/srv/a/1", "/srv/a/2"], Access::READ)?;
    /// client.submit_many(&["/srv/b/1"], Access::READ)?;
    /// let first = client.receive_many()?; // the two files of /srv/a
    /// let second = client.receive_many()?; // the file of /srv/b
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn submit_many<P: AsRef<Path>>(&mut self, paths: &[P], access: Access) -> io::Result<()> {
        if paths.is_empty() || batch_len(paths) < paths.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a batch holds 1 to {MAX_BATCH} paths of at most {MAX_PATH} bytes, fitting in {MAX_REQUEST} bytes"
                ),
            ));
        }
        let paths: Vec<&[u8]> = paths
            .iter()
            .map(|p| p.as_ref().as_os_str().as_bytes())
            .collect();
        let count = paths.len();
        self.send(&Request::OpenMany {
            paths: Batch(paths),
            access,
            create_mode: 0o600,
        })?;
        self.pending.push_back(count);
        Ok(())
    }

    /// Receives the reply to the oldest batch sent with [`Client::submit_many`]: one entry
    /// per path, in order.
    pub fn receive_many(&mut self) -> io::Result<Vec<io::Result<File>>> {
        let Some(count) = self.pending.pop_front() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no batch is waiting for a reply",
            ));
        };
        let mut buf = [0u8; MAX_RESPONSE];
        let received = fdbroker_wire::recv(self.sock.as_fd(), &mut buf, MAX_FDS)?;
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
            .bytes(&buf)
            .ok_or_else(|| malformed("the broker's reply is too large"))?;
        let results = match decode_response(bytes)
            .map_err(|e| malformed(&format!("bad reply from the broker: {e}")))?
        {
            Response::OpenedMany { results } => results.0,
            Response::Error {
                kind,
                errno,
                message,
            } => return Err(BrokerError::new(kind, errno, message).into_io()),
            _ => return Err(malformed("the broker answered a different request")),
        };
        let opened = results
            .iter()
            .filter(|r| matches!(r, Outcome::Opened { .. }))
            .count();
        if results.len() != count || received.fds.len() != opened {
            return Err(malformed("the broker's reply does not match the batch"));
        }
        let mut fds = received.fds.into_iter();
        Ok(results
            .into_iter()
            .map(|outcome| match outcome {
                Outcome::Opened { .. } => Ok(File::from(fds.next().expect("counted above"))),
                Outcome::Failed { kind, errno } => {
                    Err(BrokerError::new(kind, errno, kind.as_str()).into_io())
                }
            })
            .collect())
    }

    fn send(&mut self, request: &Request<'_>) -> io::Result<()> {
        if self.out.is_empty() {
            self.out = vec![0u8; MAX_REQUEST];
        }
        let msg = encode_request(request, &mut self.out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        fdbroker_wire::send(self.sock.as_fd(), msg, &[])
    }
}

/// How many of `paths`, from the first, fit in one `OpenMany` message: at most
/// [`MAX_BATCH`], within [`MAX_REQUEST`] bytes; 0 if the first path is longer than
/// [`MAX_PATH`] (the broker would refuse it anyway).
pub fn batch_len<P: AsRef<Path>>(paths: &[P]) -> usize {
    let mut bytes = BATCH_OVERHEAD;
    let mut count = 0;
    for path in paths.iter().take(MAX_BATCH) {
        let len = path.as_ref().as_os_str().len();
        bytes += len + PATH_OVERHEAD;
        if len > MAX_PATH || bytes > MAX_REQUEST {
            break;
        }
        count += 1;
    }
    count
}

/// The broker's state, as [`Client::status`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerStatus {
    /// How long the broker has been running.
    pub uptime: Duration,
    /// Its policy file.
    pub policy_file: String,
    /// When the policy in force was loaded.
    pub policy_loaded_at: SystemTime,
    /// Connections open now.
    pub connections: u64,
    /// The most connections open at once since start.
    pub peak_connections: u64,
    /// Requests no rule allowed.
    pub default_denied: u64,
    /// Allowed requests whose open failed, and malformed requests.
    pub errors: u64,
    /// Counts per rule, in file order.
    pub rules: Vec<RuleCounts>,
}

/// What one rule decided since the policy was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCounts {
    /// The rule's name.
    pub name: String,
    /// Requests it allowed.
    pub allowed: u64,
    /// Requests it denied.
    pub denied: u64,
}

impl BrokerStatus {
    fn from_page(page: fdbroker_wire::Status<'_>) -> BrokerStatus {
        BrokerStatus {
            uptime: Duration::from_secs(page.uptime_secs),
            policy_file: page.policy_file.to_owned(),
            policy_loaded_at: UNIX_EPOCH + Duration::from_secs(page.policy_loaded_at),
            connections: page.connections,
            peak_connections: page.peak_connections,
            default_denied: page.default_denied,
            errors: page.errors,
            rules: page
                .rules
                .0
                .into_iter()
                .map(|r| RuleCounts {
                    name: r.name.to_owned(),
                    allowed: r.allowed,
                    denied: r.denied,
                })
                .collect(),
        }
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

fn malformed(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}
