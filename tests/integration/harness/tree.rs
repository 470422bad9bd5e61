//! A fresh, root-owned temporary directory tree per test.
//!
//! Layout conventions: the root is 0755 so unprivileged clients can reach the broker's
//! socket and `bin/`; data lives in root-owned 0700 directories as 0600 files, so only the
//! broker (through its capabilities) can open it and a client can only read what it was
//! handed.

use std::fs::{self, Permissions};
use std::os::unix::fs::{PermissionsExt, chown, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::bins;
use super::run::Cmd;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A temporary directory, removed on drop unless the test is failing (then kept for
/// inspection, and its path printed).
#[derive(Debug)]
pub struct Tree {
    root: PathBuf,
}

impl Tree {
    /// Creates `$TMPDIR/fdbroker-it-<test name>-<pid>-<n>`, mode 0755. The path is
    /// canonicalized: the broker refuses symlinks in any component, so a symlinked
    /// `$TMPDIR` must not leak into the paths the tests request.
    pub fn new() -> Tree {
        let thread = std::thread::current();
        // Cut long test names: the socket path inside the tree must fit `sun_path` (107
        // bytes); the pid and counter keep the name unique.
        let test: String = thread
            .name()
            .unwrap_or("test")
            .replace("::", "-")
            .chars()
            .take(48)
            .collect();
        let name = format!(
            "fdbroker-it-{test}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = std::env::temp_dir()
            .canonicalize()
            .expect("canonicalize temp dir");
        let root = tmp.join(name);
        if root.exists() {
            fs::remove_dir_all(&root).expect("remove leftover test tree");
        }
        fs::create_dir(&root).expect("create test tree");
        let tree = Tree { root };
        tree.chmod("", 0o755);
        tree.dir("bin", 0o755);
        tree.dir("run", 0o700);
        tree
    }

    /// `root/rel` (`rel` may be empty for the root itself).
    pub fn path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// `root/rel` as a string, for policies and command lines (test trees are UTF-8).
    pub fn p(&self, rel: &str) -> String {
        self.path(rel).to_str().expect("UTF-8 test path").to_owned()
    }

    /// Creates the directory `rel` (its parent must exist) with exactly `mode`.
    pub fn dir(&self, rel: &str, mode: u32) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        self.chmod(rel, mode);
        path
    }

    /// Creates the file `rel` with `contents` and exactly `mode` (its parent must exist).
    pub fn file(&self, rel: &str, contents: &[u8], mode: u32) -> PathBuf {
        let path = self.path(rel);
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self.chmod(rel, mode);
        path
    }

    /// A root-owned 0600 file that only the broker can read, creating missing parent
    /// directories as root-owned 0700.
    pub fn private_file(&self, rel: &str, contents: &[u8]) -> PathBuf {
        let mut parent = PathBuf::new();
        let rel_path = Path::new(rel);
        for component in rel_path.parent().into_iter().flat_map(Path::components) {
            parent.push(component);
            if !self.root.join(&parent).exists() {
                self.dir(parent.to_str().expect("UTF-8"), 0o700);
            }
        }
        self.file(rel, contents, 0o600)
    }

    /// `chmod mode root/rel`, exactly (unaffected by the umask).
    pub fn chmod(&self, rel: &str, mode: u32) {
        let path = self.path(rel);
        fs::set_permissions(&path, Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    }

    /// `chown uid:gid root/rel`.
    pub fn chown(&self, rel: &str, uid: u32, gid: u32) {
        let path = self.path(rel);
        chown(&path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    }

    /// A symlink at `rel` pointing to `target` (taken literally).
    pub fn symlink(&self, rel: &str, target: impl AsRef<Path>) -> PathBuf {
        let path = self.path(rel);
        symlink(target.as_ref(), &path)
            .unwrap_or_else(|e| panic!("symlink {}: {e}", path.display()));
        path
    }

    /// A FIFO at `rel` (mode 0600), with no reader or writer.
    pub fn fifo(&self, rel: &str) -> PathBuf {
        let path = self.path(rel);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
        path
    }

    /// The contents of `root/rel`.
    pub fn read(&self, rel: &str) -> Vec<u8> {
        let path = self.path(rel);
        fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// A command running `program` as root in the tree root (stdio files in `run/`).
    pub fn cmd(&self, program: &Path) -> Cmd {
        Cmd::new(program, &self.root, &self.path("run"))
    }

    /// A copy of the built binary `name` (workspace binary or example) in `root/bin`, mode
    /// 0755, so that any uid can execute it whatever the permissions of `target/`.
    pub fn bin(&self, name: &str) -> PathBuf {
        let dest = self.path("bin").join(name);
        if !dest.exists() {
            let src = if name == "scanner" {
                bins::example(name)
            } else {
                bins::bin(name)
            };
            fs::copy(&src, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
            fs::set_permissions(&dest, Permissions::from_mode(0o755)).expect("chmod bin");
        }
        dest
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "keeping the test tree for inspection: {}",
                self.root.display()
            );
        } else if let Err(e) = fs::remove_dir_all(&self.root) {
            eprintln!("cannot remove {}: {e}", self.root.display());
        }
    }
}
