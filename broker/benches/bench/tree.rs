//! The bench's scratch tree, laid out like a real deployment:
//!
//! ```text
//! /tmp/fdbroker-bench-PID/      0755  sockets live here, so uid 2001 can connect
//!   bin/                        0755  copies of the bench and fdagent, executable by any uid
//!   data/                       0700  root-owned: only the broker (and root) can open below
//!     f000 .. f255              0600  4 KiB each, root-owned
//!   run/                        0700  policies and broker logs
//! ```
//!
//! The path is canonical: the broker refuses a symlink in any component, so a symlinked
//! `$TMPDIR` must not leak into the paths requested.

use std::fs::{self, Permissions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// How many data files: more than the largest batch (253), so a batch never names a
/// file twice and the direct baseline walks the same set.
pub const FILES: usize = 256;
/// Size of each data file: the 4 KiB of the issue and of perf.md.
pub const FILE_SIZE: usize = 4096;
/// Directory prefix of the trees, for cleaning up after a bench that was killed.
const PREFIX: &str = "fdbroker-bench-";

/// The scratch tree; removed on drop.
#[derive(Debug)]
pub struct Tree {
    root: PathBuf,
    /// Set when the bench fails: the tree (logs, policies) is kept for inspection.
    pub keep: bool,
    /// The bench executable, copied where any uid can run it.
    pub bench_exe: PathBuf,
    /// `fdagent`, copied likewise.
    pub fdagent: PathBuf,
}

impl Tree {
    /// Creates the tree. `fdagent` is the built CLI to copy.
    pub fn create(fdagent: &Path) -> io::Result<Tree> {
        let tmp = std::env::temp_dir().canonicalize()?;
        remove_stale(&tmp);
        let root = tmp.join(format!("{PREFIX}{}", std::process::id()));
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        mkdir(&root, 0o755)?;
        let tree = Tree {
            keep: false,
            bench_exe: root.join("bin/bench"),
            fdagent: root.join("bin/fdagent"),
            root,
        };
        mkdir(&tree.path("bin"), 0o755)?;
        mkdir(&tree.path("data"), 0o700)?;
        mkdir(&tree.path("run"), 0o700)?;
        copy_exe(&std::env::current_exe()?, &tree.bench_exe)?;
        copy_exe(fdagent, &tree.fdagent)?;
        for i in 0..FILES {
            let path = tree.data_file(i);
            fs::write(&path, file_contents(i))?;
            fs::set_permissions(&path, Permissions::from_mode(0o600))?;
        }
        Ok(tree)
    }

    /// `root/rel`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The data directory (0700, root-owned).
    pub fn data_dir(&self) -> PathBuf {
        self.path("data")
    }

    /// Data file `i` (0600, root-owned, [`FILE_SIZE`] bytes).
    pub fn data_file(&self, i: usize) -> PathBuf {
        data_file_in(&self.data_dir(), i)
    }
}

/// Data file `i` of the data directory `dir` (the client children rebuild the names).
pub fn data_file_in(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("f{i:03}"))
}

/// The contents of data file `i`: one byte value repeated, so a client that is handed the
/// wrong file notices.
pub fn file_contents(i: usize) -> Vec<u8> {
    vec![b'a' + (i % 26) as u8; FILE_SIZE]
}

impl Drop for Tree {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("bench: keeping {} for inspection", self.root.display());
        } else if let Err(e) = fs::remove_dir_all(&self.root) {
            eprintln!("bench: cannot remove {}: {e}", self.root.display());
        }
    }
}

fn mkdir(path: &Path, mode: u32) -> io::Result<()> {
    fs::create_dir(path)?;
    fs::set_permissions(path, Permissions::from_mode(mode))
}

fn copy_exe(from: &Path, to: &Path) -> io::Result<()> {
    fs::copy(from, to)
        .map_err(|e| io::Error::new(e.kind(), format!("copy {}: {e}", from.display())))?;
    fs::set_permissions(to, Permissions::from_mode(0o755))
}

/// Removes trees left by benches that were killed (their pid no longer exists).
fn remove_stale(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|pid| !crate::sys::alive(pid)) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}
