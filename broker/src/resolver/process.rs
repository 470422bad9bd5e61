//! The resolver's side: `fdbroker resolve-names`, run by the broker at start with its
//! end of the socketpair as standard input. It gives up every privilege, confines itself,
//! then answers questions until the broker goes away.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use caps::CapSet;
use landlock::AccessFs;
use nix::unistd::{Gid, Group, Uid, User};
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags, SocketType, recv, send, sockopt};
use rustix::process::{DumpableBehavior, Signal};

use super::message::{self, Answer, LEN, Question};
use crate::startup::helper_user::HelperUser;
use crate::startup::sandbox::{self, Rule};
use crate::startup::syscall_filter;

/// Runs the resolver, as `user` when started by root, until the broker closes its end.
/// Errors end it, and the broker reports it gone at its next question.
pub fn run(user: HelperUser) -> io::Result<()> {
    close_inherited_fds();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let socket = io::stdin();
    let socket = socket.as_fd();
    if sockopt::socket_type(socket).ok() != Some(SocketType::SEQPACKET) {
        return Err(io::Error::other(
            "standard input is not the broker's socket: `fdbroker serve` runs this, not people",
        ));
    }
    settle_in()?;
    drop_privileges(user)?;
    confine()?;
    syscall_filter::install(&syscall_filter::name_resolver()?)?;
    reply(socket, &message::answer(0, &Answer::Ready))?;
    let mut buf = [0u8; LEN];
    loop {
        let len = match recv(socket, &mut buf, RecvFlags::TRUNC) {
            Ok((_, 0)) => return Ok(()),
            Ok((_, len)) => len,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        let (seq, question) = buf
            .get(..len)
            .ok_or(message::Malformed)
            .and_then(message::parse_question)
            .map_err(|_| io::Error::other("malformed question from the broker"))?;
        reply(socket, &message::answer(seq, &answer(question)))?;
    }
}

fn reply(socket: BorrowedFd<'_>, msg: &[u8]) -> io::Result<()> {
    send(socket, msg, SendFlags::NOSIGNAL)?;
    Ok(())
}

/// Looks the question up in the system's databases, through NSS as any program would.
fn answer(question: Question<'_>) -> Answer {
    let found = match question {
        Question::Uid(name) => User::from_name(name).map(|u| u.map(|u| Answer::Id(u.uid.as_raw()))),
        Question::Gid(name) => {
            Group::from_name(name).map(|g| g.map(|g| Answer::Id(g.gid.as_raw())))
        }
        Question::UserName(uid) => {
            User::from_uid(Uid::from_raw(uid)).map(|u| u.map(|u| Answer::Name(u.name)))
        }
    };
    found
        .unwrap_or_else(|e| {
            log::warn!("name service error for {question:?}: {e}");
            None
        })
        .unwrap_or(Answer::Unknown)
}

/// Takes a name of its own (executed as `/proc/self/exe`, it would show as `exe` in `ps`
/// and `top`), and blocks SIGHUP: an administrator sending SIGHUP to every process of the
/// service, to reload the broker, must not end its resolver. SIGTERM still ends it.
fn settle_in() -> io::Result<()> {
    rustix::thread::set_name(c"fdbroker-names")?;
    let mut hup = nix::sys::signal::SigSet::empty();
    hup.add(nix::sys::signal::Signal::SIGHUP);
    hup.thread_block()?;
    Ok(())
}

/// Closes every fd but standard input, output and error: whatever the broker held
/// without close-on-exec (a listening socket passed by the service manager, say) must not
/// reach a process that answers questions for it.
#[allow(unsafe_code)]
pub(crate) fn close_inherited_fds() {
    // SAFETY: this runs first thing in a freshly executed process, before anything opened
    // an fd of its own: no `OwnedFd` or `File` owns any fd from 3 up, so closing them
    // cannot close one from under its owner. No crate in the tree wraps `close_range`.
    unsafe {
        libc::close_range(3, libc::c_uint::MAX, 0);
    }
}

/// Becomes `user` (when started as root) with no supplementary groups, no capabilities
/// in any set, no way to gain any by exec, not dumpable (so another process of that uid,
/// the broker under `--user` included, cannot trace it), and killed if the broker dies
/// while it is stuck in a lookup.
fn drop_privileges(user: HelperUser) -> io::Result<()> {
    let (uid, gid) = (Uid::from_raw(user.uid), Gid::from_raw(user.gid));
    if caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETPCAP)
        .map_err(io::Error::other)?
    {
        caps::clear(None, CapSet::Bounding).map_err(io::Error::other)?;
    }
    let ids = nix::unistd::getresuid()?;
    if [ids.real, ids.effective, ids.saved]
        .iter()
        .any(|u| u.is_root())
    {
        nix::unistd::setgroups(&[])
            .and_then(|()| nix::unistd::setresgid(gid, gid, gid))
            .and_then(|()| nix::unistd::setresuid(uid, uid, uid))
            .map_err(|e| {
                io::Error::other(format!(
                    "cannot switch to uid {uid}: {e} (it needs CAP_SETUID and CAP_SETGID; \
                     under systemd, in CapabilityBoundingSet=)"
                ))
            })?;
    }
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(io::Error::other)?;
    }
    rustix::thread::set_no_new_privs(true)?;
    // Both are reset by a change of uid, so they come after it.
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
    Ok(())
}

/// Landlock: reading files and listing directories anywhere, nothing else (no writing,
/// creating, removing or executing). Reads are not narrowed to a list of paths: what a
/// name service reads depends on its sources (files, systemd, sss, ldap, extrausers) and
/// would fail quietly where a list missed one, and its user (nobody, or the broker's own
/// account) reads only what anyone, or the broker, can.
fn confine() -> io::Result<()> {
    let root = rustix::fs::open(
        "/",
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let read_only = Rule {
        path: "/".into(),
        fd: root,
        rights: AccessFs::ReadFile | AccessFs::ReadDir,
        why: "resolve names".into(),
    };
    match sandbox::restrict(&[read_only])? {
        landlock::RulesetStatus::NotEnforced => {
            log::warn!("Landlock is not available: the name resolver is not confined");
        }
        landlock::RulesetStatus::FullyEnforced | landlock::RulesetStatus::PartiallyEnforced => {}
    }
    Ok(())
}
