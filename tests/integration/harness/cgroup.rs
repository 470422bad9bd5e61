//! A cgroup v2 directory named like a systemd unit, for tests of `units` rules: a client
//! started in it ([`super::run::Cmd::cgroup`]) has that "unit" in `/proc/PID/cgroup`,
//! exactly as a process systemd started in `NAME.service` would.
//!
//! A plain directory in the unified hierarchy, not a transient unit: CI machines and
//! containers often run no systemd, and the broker reads only the cgroup path, which is
//! the same either way.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::wait_until;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A cgroup directory, removed (once empty) when dropped.
#[derive(Debug)]
pub struct TestCgroup {
    dir: PathBuf,
    unit: String,
}

impl TestCgroup {
    /// A new cgroup `fdbt-PID-N.service` at the root of the unified hierarchy.
    pub fn service() -> TestCgroup {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let unit = format!("fdbt-{}-{n}.service", std::process::id());
        let dir = unified_mount().join(&unit);
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("create cgroup {}: {e}", dir.display()));
        TestCgroup { dir, unit }
    }

    /// Its directory, for [`super::run::Cmd::cgroup`].
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The unit name the broker reads for a process in it.
    pub fn unit(&self) -> &str {
        &self.unit
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // A cgroup can be removed once its last process has exited and been reaped.
        let _ = wait_until(Duration::from_secs(5), || fs::remove_dir(&self.dir).ok());
    }
}

/// Where the cgroup v2 (unified) hierarchy is mounted: `/sys/fs/cgroup` on a pure v2
/// system, `/sys/fs/cgroup/unified` on a hybrid one.
fn unified_mount() -> PathBuf {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    mountinfo
        .lines()
        .find_map(|line| {
            let (mount, fs_type) = line.split_once(" - ")?;
            let point = mount.split(' ').nth(4)?;
            fs_type
                .starts_with("cgroup2 ")
                .then(|| PathBuf::from(point))
        })
        .expect("a cgroup v2 hierarchy is mounted (the unified hierarchy)")
}
