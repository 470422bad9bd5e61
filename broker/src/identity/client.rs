//! The broker's side: starting the process reader, and asking it about a connection's
//! peer with a deadline.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::Child;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fdbroker_policy::Process;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, recv, sendmsg};

use super::message::{self, MAX_ANSWER};
use super::{SUBCOMMAND, pidfd};
use crate::startup::helper_process::spawn_helper;
use crate::startup::helper_user::HelperUser;

/// How long the reader may take to answer (or to start). Its reads are of `/proc` and
/// take microseconds; past this it is taken for stuck, and no longer asked.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// The process reader and the broker's end of its socket.
#[derive(Debug)]
pub struct ProcessReader {
    conn: Mutex<Conn>,
}

#[derive(Debug)]
struct Conn {
    socket: OwnedFd,
    child: Child,
    seq: u32,
    /// It failed once: it is not asked again (every answer is then "unknown").
    gone: bool,
}

impl ProcessReader {
    /// Starts the reader (`fdbroker read-peers`) as `user` and waits until it is ready.
    /// Call it while the broker is still root: the reader needs `CAP_SETUID`, `CAP_SETGID`
    /// and the `CAP_SYS_PTRACE` it keeps.
    pub fn spawn(user: HelperUser) -> io::Result<ProcessReader> {
        let (socket, child) = spawn_helper(SUBCOMMAND, user.args())?;
        let mut conn = Conn {
            socket,
            child,
            seq: 0,
            gone: false,
        };
        match conn.receive(0) {
            Ok(None) => Ok(ProcessReader {
                conn: Mutex::new(conn),
            }),
            _ => Err(io::Error::other(
                "it exited or did not answer during start-up (its error is logged above)",
            )),
        }
    }

    /// The pid of the reader process.
    pub fn pid(&self) -> u32 {
        self.lock().child.id()
    }

    /// The process that connected `sock` (a client connection): its unit, executable and
    /// user namespace, or `None` if it has exited or could not be read. `Err` when the
    /// broker has no fd (or memory) left for its pidfd: not known yet.
    pub fn read_peer(&self, sock: BorrowedFd<'_>) -> Result<Option<Process>, Errno> {
        let pidfd = match pidfd::of_peer(sock) {
            Ok(pidfd) => pidfd,
            Err(e) => {
                let errno = Errno::from_io_error(&e).unwrap_or(Errno::INVAL);
                if matches!(errno, Errno::MFILE | Errno::NFILE | Errno::NOMEM) {
                    return Err(errno);
                }
                log::debug!("no pidfd for a client (it has exited?): {e}");
                return Ok(None);
            }
        };
        self.lock().ask(pidfd.as_fd())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Conn {
    /// `Err` for a send the kernel refused for lack of resources (the broker's fds in
    /// flight over its rlimit, memory): a moment's shortage, so the reader stays in service
    /// and the request is refused undecided, as when the pidfd itself cannot be had.
    fn ask(&mut self, pidfd: BorrowedFd<'_>) -> Result<Option<Process>, Errno> {
        if self.gone {
            return Ok(None);
        }
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        let fds = [pidfd];
        control.push(SendAncillaryMessage::ScmRights(&fds));
        let sent = sendmsg(
            &self.socket,
            &[IoSlice::new(&seq.to_le_bytes())],
            &mut control,
            SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
        );
        match sent {
            Ok(_) => {}
            Err(e @ (Errno::TOOMANYREFS | Errno::NOBUFS | Errno::NOMEM)) => return Err(e),
            Err(e) => return Ok(self.fail(&format!("cannot ask it: {e}"))),
        }
        Ok(match self.receive(seq) {
            Ok(process) => process,
            Err(why) => self.fail(why),
        })
    }

    /// Receives the answer `seq` within [`ANSWER_TIMEOUT`].
    fn receive(&mut self, seq: u32) -> Result<Option<Process>, &'static str> {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let mut buf = vec![0u8; MAX_ANSWER];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = Timespec::try_from(left).unwrap_or(Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            });
            let mut fds = [PollFd::new(&self.socket, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => return Err("it did not answer in time"),
                Ok(_) | Err(Errno::INTR) => {}
                Err(_) => return Err("cannot wait for its answer"),
            }
            let flags = RecvFlags::DONTWAIT | RecvFlags::TRUNC;
            match recv(self.socket.as_fd(), &mut buf, flags) {
                Ok((_, 0)) => return Err("it has exited"),
                Ok((_, len)) if len <= buf.len() => {
                    return match message::parse_answer(&buf[..len]) {
                        Ok((got, process)) if got == seq => Ok(process),
                        _ => Err("it sent something that is not the answer"),
                    };
                }
                Ok(_) => return Err("its answer is too long"),
                Err(Errno::AGAIN | Errno::INTR) => {}
                Err(_) => return Err("cannot receive its answer"),
            }
        }
    }

    /// Stops asking the reader after its first failure, which is logged once: from then
    /// on no client's process is known, so every request is denied (a client that may be
    /// in a user namespace is granted nothing) until the broker is restarted.
    fn fail(&mut self, why: &str) -> Option<Process> {
        log::error!(
            "process reader (pid {}): {why}; no client's process can be read any more, so \
             every request is denied until the broker is restarted",
            self.child.id()
        );
        self.gone = true;
        let _ = self.child.try_wait();
        None
    }
}
