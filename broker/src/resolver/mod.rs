//! The name resolver: a small unprivileged process that resolves user and group names for
//! the broker after the broker has confined itself.
//!
//! Why it exists: the policy's names are resolved again at every reload, and the JSON
//! audit names each client's user, long after Landlock confined the broker. Landlock
//! grants access to inodes, not to paths, and `useradd`, `usermod`, `groupadd`, `passwd`
//! and `vipw` replace `/etc/passwd` and `/etc/group` by renaming a new file over the old
//! one: a rule on those files would cover only the replaced inodes, and a rule on `/etc`
//! would let a compromised broker read all of it. So the broker keeps no access to the
//! name databases at all, and asks this process instead, over a socketpair, in the tiny
//! fixed format of [`message`].
//!
//! The broker starts it first thing, while still root: it is this executable run again
//! with the hidden subcommand [`SUBCOMMAND`] (a fresh process, rather than a fork of the
//! broker, so it holds none of the broker's state). It becomes the `--user` account
//! (nobody without it: see [`crate::startup::helper_user`]) with no capabilities and
//! confines itself read-only ([`process`]); it ends when the broker
//! closes the socket, or dies. The broker waits a bounded time for each answer
//! ([`client`]): a stuck or dead resolver fails a reload with an error that says so, and
//! never hangs the broker. Admin commands (`check`, `explain`) are not confined and
//! resolve names in their own process ([`system`]).

pub(crate) mod client;
pub mod message;
pub(crate) mod process;
pub mod system;

pub use client::Resolver;
pub use process::run;

/// The hidden subcommand that runs the resolver.
pub const SUBCOMMAND: &str = "resolve-names";
