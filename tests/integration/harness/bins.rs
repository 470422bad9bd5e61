//! Finding the binaries under test, and refusing stale ones.
//!
//! `CARGO_BIN_EXE_*` only exists for binaries of the package that owns the test, and
//! fdbroker/fdagent live in other workspace members, so they are found next to the test
//! executable: `target/<profile>/deps/integration-xxxx` → `target/<profile>/NAME`.
//!
//! `cargo test` rebuilds the test executable but not those binaries, so after an edit the
//! suite could test yesterday's broker. Cargo writes, next to each binary, a dep-info file
//! (`NAME.d`) listing every source file it was built from: a binary older than any of them,
//! or built from one that is gone, fails the test with the command that rebuilds it.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

/// What rebuilds every binary the suite runs.
const BUILD: &str = "cargo build --workspace --bins --examples";

/// `target/<profile>`, the directory holding the workspace's binaries.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable has a parent");
    deps.parent().expect("deps/ has a parent").to_path_buf()
}

/// A workspace binary (`fdbroker`, `fdagent`) where cargo built it. Panics with what to
/// run if it is missing or older than its sources. For daemons run as root: clients run
/// [`super::Tree::bin`]'s copies, which any uid can execute, but a copy just made can fail
/// to exec with `ETXTBSY` while a child another test forks still holds its write fd.
pub fn bin(name: &str) -> PathBuf {
    fresh(profile_dir().join(name))
}

/// An example of the root package (`scanner`). Panics with what to run if it is missing
/// or older than its sources.
pub fn example(name: &str) -> PathBuf {
    fresh(profile_dir().join("examples").join(name))
}

/// Where cargo puts the C library `libfdagent.so` and `libfdagent.a` (`clients/c`) when it
/// builds them as a dependency of this suite: `target/<profile>/deps/`. They are built with
/// the test executable, so never older than it; panics with what to run if missing.
pub fn c_lib_dir() -> PathBuf {
    let deps = profile_dir().join("deps");
    for lib in ["libfdagent.so", "libfdagent.a"] {
        if !deps.join(lib).is_file() {
            panic!(
                "{}: not found: run `{BUILD}` first",
                deps.join(lib).display()
            );
        }
    }
    deps
}

/// Binaries already checked by this test process: each is checked once, not per test.
static CHECKED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// `path`, if it exists and is at least as new as every source its dep-info file lists.
#[track_caller]
fn fresh(path: PathBuf) -> PathBuf {
    let mut checked = CHECKED.lock().unwrap_or_else(PoisonError::into_inner);
    if !checked.contains(&path) {
        if let Err(why) = stale(&path) {
            panic!("{}: {why}: run `{BUILD}` first", path.display());
        }
        checked.push(path.clone());
    }
    path
}

/// Why the binary at `path` must not be run, if it must not.
fn stale(path: &Path) -> Result<(), String> {
    let built = modified(path).map_err(|e| format!("not found ({e})"))?;
    let dep_info = path.with_extension("d");
    let deps = fs::read_to_string(&dep_info)
        .map_err(|e| format!("no dep-info file {} ({e})", dep_info.display()))?;
    for source in sources(&deps) {
        match modified(Path::new(&source)) {
            Ok(changed) if changed > built => {
                return Err(format!("older than its source {source}"));
            }
            Ok(_) => {}
            Err(e) => return Err(format!("built from {source}, which is gone ({e})")),
        }
    }
    Ok(())
}

fn modified(path: &Path) -> std::io::Result<SystemTime> {
    fs::metadata(path)?.modified()
}

/// The prerequisites of a Makefile-style dep-info file (`target: src src ...`, spaces in
/// names escaped as `\ `).
fn sources(dep_info: &str) -> Vec<String> {
    let mut sources = Vec::new();
    for line in dep_info.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, prerequisites)) = line.split_once(": ") else {
            continue;
        };
        let mut current = String::new();
        let mut chars = prerequisites.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => current.extend(chars.next()),
                ' ' if !current.is_empty() => sources.push(std::mem::take(&mut current)),
                ' ' => {}
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            sources.push(current);
        }
    }
    sources
}

#[test]
fn dep_info_prerequisites_are_split_on_unescaped_spaces() {
    let dep_info = "/t/fdbroker: /w/a.rs /w/my\\ dir/b.rs\n\n/w/a.rs:\n";
    assert_eq!(sources(dep_info), ["/w/a.rs", "/w/my dir/b.rs"]);
}
