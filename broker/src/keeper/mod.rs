//! The file keeper: a small process that stays root for a broker run as another user
//! (`serve --user`), to do for the broker's own files what only root may do in root's
//! directories: open the audit file anew after log rotation, read the policy file (and
//! the shadow policy file) for a reload, and remove the socket at exit.
//!
//! Why it exists: the socket (in `/run`) and the audit file (in `/var/log/fdbroker`) are
//! created while the broker is root; once it has switched users, the kernel checks every
//! `openat` and `unlinkat` against its new credentials, so a directory fd kept from
//! before the switch does not help. Giving the directories to the broker's user would: but
//! then root's logrotate would work in a directory that user can plant symbolic links in,
//! and an administrator running `serve --user` by hand would have to re-own `/run`. So the
//! directories stay root's, and this process does those things, and nothing else. The
//! policy file is root's and mode 0600, as it must be: a broker that kept no capability
//! (its policy grants nothing yet) could not read it for a reload, and one that kept
//! `CAP_DAC_READ_SEARCH` should not need it for its own files.
//!
//! The broker starts it while still root, after binding, as this executable run again
//! with the hidden subcommand [`SUBCOMMAND`] and the paths as arguments (a fresh
//! process, like the name resolver, holding none of the broker's state). It keeps uid 0,
//! which owns the directories, but no capability in any set, no supplementary group, no
//! way to gain any by exec, and is not dumpable; Landlock confines it to writing and
//! creating files in the audit file's directory, reading files in the policy files'
//! directories and removing files in the socket's ([`process`]). The broker cannot name a
//! path to it: its protocol has one question per file, "the audit file", "the policy
//! file", "the shadow policy file", each answered with the fd or why not ([`client`]).
//! The keeper opens the policy files read-only and never through a symbolic link; the
//! broker checks the file it gets as it checks one it opens itself
//! ([`crate::policy::file`]). When the broker's end
//! of the socketpair closes (it exits, or dies), the keeper removes the socket, if the
//! name still holds the very socket the broker bound, and exits. It ignores SIGHUP,
//! SIGTERM and SIGINT, so a signal to every process of the service (`systemctl stop`)
//! cannot end it before the broker.
//!
//! Under socket activation the socket is the service manager's and the keeper only
//! reopens the audit file; without `--user` the broker is root and does both itself.

mod client;
mod process;

pub use client::{Keeper, KeptPolicy};
pub use process::{Paths, run};

/// The hidden subcommand that runs the keeper.
pub const SUBCOMMAND: &str = "keep-files";

/// Keeper to broker, once confined: ready.
const READY: u8 = b'R';
/// Broker to keeper: open the audit file, and send it.
const OPEN_AUDIT: u8 = b'A';
/// Broker to keeper: open the policy file for reading, and send it.
const OPEN_POLICY: u8 = b'P';
/// Broker to keeper: open the shadow policy file for reading, and send it.
const OPEN_SHADOW_POLICY: u8 = b'S';
/// Keeper to broker: the file asked for, attached.
const FILE: u8 = b'F';
/// Keeper to broker: the file could not be opened; the rest is why (UTF-8).
const ERROR: u8 = b'E';
/// The longest message either side sends.
const MAX_MESSAGE: usize = 512;
