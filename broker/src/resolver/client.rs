//! The broker's side: starting the resolver process, and asking it questions with a
//! deadline.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::process::Child;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fdbroker_policy::NameResolver;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags, recv, send};

use super::SUBCOMMAND;
use super::message::{self, Answer, LEN, Question};
use crate::startup::helper_process::spawn_helper;
use crate::startup::helper_user::HelperUser;

/// How long the resolver may take to answer one question (or to start). Name services
/// over the network may be slow; past this, a reload fails instead of waiting on.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the resolver gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// It did not answer in time (it may still: the answer is then skipped).
    Timeout,
    /// It has exited, or sent something that is not an answer (and is no longer asked).
    Gone,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => write!(
                f,
                "the name resolver did not answer within {}s (is the name service slow or unreachable?)",
                ANSWER_TIMEOUT.as_secs()
            ),
            Failure::Gone => f.write_str(
                "the name resolver has exited (its error, if any, is logged above); \
                 restart the broker to start a new one",
            ),
        }
    }
}

/// The resolver process and the broker's end of its socket.
#[derive(Debug)]
pub struct Resolver {
    conn: Mutex<Conn>,
}

#[derive(Debug)]
struct Conn {
    socket: OwnedFd,
    child: Child,
    /// The last question's `seq` (0 is the start-up message's).
    seq: u32,
    /// A question that timed out and whose answer has not come yet. The resolver answers
    /// in order, one at a time, so until that answer comes, no other can.
    pending: Option<u32>,
    gone: bool,
}

impl Resolver {
    /// Starts the resolver (`fdbroker resolve-names`, from this very executable) and waits
    /// until it has dropped its privileges and is ready. Call it before the broker drops its
    /// own: the resolver needs `CAP_SETUID` and `CAP_SETGID` to become `user`.
    pub fn spawn(user: HelperUser) -> io::Result<Resolver> {
        let (ours, child) = spawn_helper(SUBCOMMAND, user.args())?;
        let mut conn = Conn {
            socket: ours,
            child,
            seq: 0,
            pending: None,
            gone: false,
        };
        match conn.receive(0, Instant::now() + ANSWER_TIMEOUT) {
            Ok(Answer::Ready) => Ok(Resolver {
                conn: Mutex::new(conn),
            }),
            Ok(_) | Err(Failure::Gone) => Err(io::Error::other(
                "it exited during start-up (its error is logged above)",
            )),
            Err(Failure::Timeout) => Err(io::Error::other(format!(
                "it was not ready within {}s",
                ANSWER_TIMEOUT.as_secs()
            ))),
        }
    }

    /// The pid of the resolver process.
    pub fn pid(&self) -> u32 {
        self.lock().child.id()
    }

    /// A [`NameResolver`] for loading one policy, which remembers the first failure.
    pub fn lookups(&self) -> Lookups<'_> {
        Lookups {
            resolver: self,
            failure: Cell::new(None),
        }
    }

    /// The name of the user with `uid`, if it has one and the resolver answers.
    pub fn user_name(&self, uid: u32) -> Option<String> {
        match self.ask(Question::UserName(uid), Patience::Never) {
            Ok(Answer::Name(name)) => Some(name),
            Ok(_) => None,
            Err(failure) => {
                log::debug!("no user name for uid {uid}: {failure}");
                None
            }
        }
    }

    fn ask(&self, question: Question<'_>, patience: Patience) -> Result<Answer, Failure> {
        self.lock().ask(question, patience)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether a question waits for the late answer to an earlier one that timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Patience {
    /// Up to [`ANSWER_TIMEOUT`]: a policy load, which an administrator waits for, and
    /// which should succeed once a resolver that was stuck answers again.
    Wait,
    /// Not at all: a user name for the audit, asked while a client is being accepted.
    Never,
}

impl Conn {
    fn ask(&mut self, question: Question<'_>, patience: Patience) -> Result<Answer, Failure> {
        if let Some(pending) = self.pending {
            let deadline = match patience {
                Patience::Wait => Instant::now() + ANSWER_TIMEOUT,
                Patience::Never => Instant::now(),
            };
            self.receive(pending, deadline)?;
            self.pending = None;
        }
        if self.gone {
            return Err(Failure::Gone);
        }
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        let Some(msg) = message::question(seq, question) else {
            return Ok(Answer::Unknown);
        };
        match send(
            &self.socket,
            &msg,
            SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
        ) {
            Ok(_) => {}
            // Its queue is full of questions it has not read: it is stuck.
            Err(Errno::AGAIN) => return Err(Failure::Timeout),
            Err(_) => return Err(self.gone()),
        }
        let answer = self.receive(seq, Instant::now() + ANSWER_TIMEOUT);
        if answer == Err(Failure::Timeout) {
            self.pending = Some(seq);
        }
        match (question, answer?) {
            (Question::Uid(_) | Question::Gid(_), answer @ (Answer::Id(_) | Answer::Unknown))
            | (Question::UserName(_), answer @ (Answer::Name(_) | Answer::Unknown)) => Ok(answer),
            _ => Err(self.gone()),
        }
    }

    /// Receives the answer `seq` by `deadline`. At most one question is ever unanswered,
    /// so any other answer is the resolver's error.
    fn receive(&mut self, seq: u32, deadline: Instant) -> Result<Answer, Failure> {
        let mut buf = [0u8; LEN];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = Timespec::try_from(left).unwrap_or(Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            });
            let mut fds = [PollFd::new(&self.socket, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => return Err(Failure::Timeout),
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(_) => return Err(self.gone()),
            }
            let flags = RecvFlags::DONTWAIT | RecvFlags::TRUNC;
            match recv(self.socket.as_fd(), &mut buf, flags) {
                Ok((_, len)) if len == LEN => {}
                Err(Errno::AGAIN | Errno::INTR) => continue,
                // End of file, an error, or a message of the wrong size.
                _ => return Err(self.gone()),
            }
            return match message::parse_answer(&buf) {
                Ok((got, answer)) if got == seq => Ok(answer),
                _ => Err(self.gone()),
            };
        }
    }

    /// Marks the resolver gone, reaping it if it has exited.
    fn gone(&mut self) -> Failure {
        if !self.gone {
            self.gone = true;
            let _ = self.child.try_wait();
        }
        Failure::Gone
    }
}

/// Asks the resolver for the names of one policy load. After the first failure it asks
/// no more (a stuck resolver costs one timeout, not one per name); the caller reports
/// the failure instead of the "unknown user" errors it caused.
#[derive(Debug)]
pub struct Lookups<'a> {
    resolver: &'a Resolver,
    failure: Cell<Option<Failure>>,
}

impl Lookups<'_> {
    /// The first failure, if the resolver failed during these lookups.
    pub fn failure(&self) -> Option<Failure> {
        self.failure.get()
    }

    fn id(&self, question: Question<'_>) -> Option<u32> {
        if self.failure.get().is_some() {
            return None;
        }
        match self.resolver.ask(question, Patience::Wait) {
            Ok(Answer::Id(id)) => Some(id),
            Ok(_) => None,
            Err(failure) => {
                self.failure.set(Some(failure));
                None
            }
        }
    }
}

impl NameResolver for Lookups<'_> {
    fn uid(&self, user: &str) -> Option<u32> {
        self.id(Question::Uid(user))
    }

    fn gid(&self, group: &str) -> Option<u32> {
        self.id(Question::Gid(group))
    }
}
