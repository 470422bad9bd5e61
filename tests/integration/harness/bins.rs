//! Finding the binaries under test.
//!
//! `CARGO_BIN_EXE_*` only exists for binaries of the package that owns the test, and
//! fdbroker/fdagent live in other workspace members, so they are found next to the test
//! executable: `target/<profile>/deps/integration-xxxx` → `target/<profile>/NAME`.

use std::path::PathBuf;

/// `target/<profile>`, the directory holding the workspace's binaries.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable has a parent");
    deps.parent().expect("deps/ has a parent").to_path_buf()
}

/// A workspace binary (`fdbroker`, `fdagent`) where cargo built it. Panics with what to
/// run if it is missing. For daemons run as root: clients run [`super::Tree::bin`]'s copies,
/// which any uid can execute, but a copy just made can fail to exec with `ETXTBSY` while a
/// child another test forks still holds its write fd.
pub fn bin(name: &str) -> PathBuf {
    existing(profile_dir().join(name))
}

/// An example of the root package (`scanner`). Panics with what to run if it is missing.
pub fn example(name: &str) -> PathBuf {
    existing(profile_dir().join("examples").join(name))
}

fn existing(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "{} not found: run `cargo build --workspace --bins --examples` first",
        path.display()
    );
    path
}
