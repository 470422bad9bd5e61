//! The resolver's side: `fdbroker resolve-names`, run by the broker at start with its
//! end of the socketpair as standard input. It gives up every privilege, confines itself,
//! then answers questions until the broker goes away.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use landlock::AccessFs;
use nix::unistd::{Group, Uid, User};
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags, recv, send};

use super::message::{self, Answer, LEN, Question};
use crate::startup::helper_process;
use crate::startup::helper_user::HelperUser;
use crate::startup::sandbox::{self, Rule};
use crate::startup::syscall_filter;

/// Runs the resolver, as `user` when started by root, until the broker closes its end.
/// Errors end it, and the broker reports it gone at its next question.
pub fn run(user: HelperUser) -> io::Result<()> {
    // SIGHUP reloads the broker; sent to every process of the service, it must not end
    // this one. SIGTERM still does.
    helper_process::begin(c"fdbroker-names", &[nix::sys::signal::Signal::SIGHUP])?;
    let socket = io::stdin();
    let socket = socket.as_fd();
    // No capability at all.
    helper_process::become_user(user, &[])?;
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
