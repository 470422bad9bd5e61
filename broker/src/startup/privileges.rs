//! Least privilege: the broker keeps only the capabilities its policy needs, and sets
//! `PR_SET_NO_NEW_PRIVS` ([`capabilities(7)`]).
//!
//! Capabilities are per thread: this must run before the first thread is spawned, so
//! every worker thread, and the reloader, inherits the reduced set.
//!
//! [`capabilities(7)`]: https://man7.org/linux/man-pages/man7/capabilities.7.html

use std::fmt;
use std::io;

use caps::{CapSet, Capability, CapsHashSet};
use fdbroker_wire::Access;

/// A set of capabilities, printed as `CAP_A,CAP_B` (or `none`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Caps(CapsHashSet);

impl Caps {
    /// The capabilities a policy granting `granted` needs:
    /// `CAP_DAC_READ_SEARCH` to read and list any file; `CAP_DAC_OVERRIDE` to write,
    /// truncate or create; `CAP_CHOWN` to give a created file to its client.
    /// (`CAP_FOWNER` is not needed: the mode is set while the broker still owns the file.)
    pub fn needed_for(granted: Access) -> Caps {
        let mut set = CapsHashSet::new();
        if granted.intersects(Access::READ | Access::LIST) {
            set.insert(Capability::CAP_DAC_READ_SEARCH);
        }
        if granted.intersects(Access::WRITE | Access::TRUNCATE) || granted.creates() {
            set.insert(Capability::CAP_DAC_OVERRIDE);
        }
        if granted.creates() {
            set.insert(Capability::CAP_CHOWN);
        }
        Caps(set)
    }

    /// The capabilities in `self` that `kept` lacks.
    pub fn missing_from(&self, kept: &Caps) -> Caps {
        Caps(self.0.difference(&kept.0).copied().collect())
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The calling thread's permitted set.
    pub fn permitted() -> io::Result<Caps> {
        caps::read(None, CapSet::Permitted)
            .map(Caps)
            .map_err(io::Error::other)
    }
}

impl fmt::Display for Caps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let mut names: Vec<String> = self.0.iter().map(|c| c.to_string()).collect();
        names.sort();
        f.write_str(&names.join(","))
    }
}

/// The unprivileged identity `serve --user` runs as.
#[derive(Debug, Clone, Copy)]
pub struct RunAs {
    /// The uid to switch to.
    pub uid: u32,
    /// Its primary gid; supplementary groups are cleared.
    pub gid: u32,
}

/// Reduces the process to `keep` (intersected with what it has), switching to `run_as` if
/// given, and sets no-new-privs; returns the set actually kept.
///
/// Order matters: the bounding set is dropped first, while `CAP_SETPCAP` is still
/// effective; the ids are switched with keep-caps set, so the permitted set survives the
/// change of uid; effective is narrowed before permitted. The id switch uses the
/// per-thread system calls directly: this runs while the process has its only thread.
pub fn drop_to(keep: &Caps, run_as: Option<RunAs>) -> io::Result<Caps> {
    let have = Caps::permitted()?;
    let keep = Caps(keep.0.intersection(&have.0).copied().collect());
    if have.0.contains(&Capability::CAP_SETPCAP) {
        for cap in caps::runtime::thread_all_supported() {
            if !keep.0.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(io::Error::other)?;
            }
        }
    }
    if let Some(RunAs { uid, gid }) = run_as {
        use rustix::process::{Gid, Uid};
        use rustix::thread::{
            set_keep_capabilities, set_thread_groups, set_thread_res_gid, set_thread_res_uid,
        };
        let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
        set_keep_capabilities(true)?;
        set_thread_groups(&[])?;
        set_thread_res_gid(gid, gid, gid)?;
        set_thread_res_uid(uid, uid, uid)?;
        set_keep_capabilities(false)?;
    }
    caps::clear(None, CapSet::Ambient).map_err(io::Error::other)?;
    caps::clear(None, CapSet::Inheritable).map_err(io::Error::other)?;
    caps::set(None, CapSet::Effective, &keep.0).map_err(io::Error::other)?;
    caps::set(None, CapSet::Permitted, &keep.0).map_err(io::Error::other)?;
    rustix::thread::set_no_new_privs(true)?;
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_follow_the_granted_words() {
        assert_eq!(Caps::needed_for(Access::empty()).to_string(), "none");
        assert_eq!(
            Caps::needed_for(Access::READ).to_string(),
            "CAP_DAC_READ_SEARCH"
        );
        assert_eq!(
            Caps::needed_for(Access::LIST).to_string(),
            "CAP_DAC_READ_SEARCH"
        );
        assert_eq!(
            Caps::needed_for(Access::WRITE).to_string(),
            "CAP_DAC_OVERRIDE"
        );
        assert_eq!(
            Caps::needed_for(Access::WRITE | Access::CREATE_NEW).to_string(),
            "CAP_CHOWN,CAP_DAC_OVERRIDE"
        );
        assert_eq!(
            Caps::needed_for(Access::READ | Access::WRITE | Access::CREATE).to_string(),
            "CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_DAC_READ_SEARCH"
        );
    }

    #[test]
    fn missing_is_the_difference() {
        let read = Caps::needed_for(Access::READ);
        let write = Caps::needed_for(Access::READ | Access::WRITE);
        assert!(read.missing_from(&write).is_empty());
        assert_eq!(write.missing_from(&read).to_string(), "CAP_DAC_OVERRIDE");
    }
}
