//! Who a client is beyond its uid: the systemd unit, the executable and the user namespace
//! of the process that connected, for rules that name `units` or `executables`, and for
//! deciding clients in user namespaces as their owner too.
//!
//! The kernel names that process race-free: a connected socket holds a reference to the
//! connecting process (its `struct pid`, not its number), and `SO_PEERPIDFD` turns it into
//! a pidfd ([`pidfd`]). That pidfd can never come to mean another process: if the client
//! exits, it refers to a dead process, even once its pid number is reused.
//!
//! What the policy needs is read from `/proc/PID/cgroup` and `/proc/PID/exe` for the
//! pidfd's pid, and then confirmed: the pidfd still refers to a running process with that
//! pid, so the reads were of the client's process and not of a successor that took its pid
//! in between. A process that exited is never matched ([`reader`]).
//!
//! The broker cannot do these reads itself: Landlock denies a confined process every
//! ptrace access check on a process outside its domain (which `/proc/PID/exe` needs, of any
//! uid), and as `--user fdbroker` it could not read another user's `/proc/PID/exe` anyway.
//! So a separate process started with the name resolver, `fdbroker read-peers`, does them:
//! the `--user` account (or nobody), holding `CAP_SYS_PTRACE` alone, not confined by
//! Landlock (which would deny the very reads it exists for) but by a seccomp filter that
//! leaves it reading ([`crate::startup::syscall_filter::process_reader`]). The broker sends it a pidfd and waits a bounded time for the
//! answer ([`client`]); whatever goes wrong, the answer is "unknown", which matches no rule
//! naming a unit or an executable.
//!
//! The same reader tells the client's user namespace (see [`fdbroker_policy::Namespace`]):
//! whether it is the broker's, and if not, which user owns it ([`namespace`]). As every
//! policy needs that, the read happens for every connection, once, at its first request.
//! A client whose process cannot be read (it exited, and its connection is used by
//! another process) is then decided as in a namespace whose owner is unknown: no allow
//! rule grants it anything.

mod client;
mod message;
mod namespace;
pub mod pidfd;
mod reader;

pub use client::ProcessReader;
pub use reader::{read_pid, run};

/// The hidden subcommand that runs the process reader.
pub const SUBCOMMAND: &str = "read-peers";
