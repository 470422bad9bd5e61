//! The programs the `process` section compares `fdagent cat` with, built when it starts:
//! `fdcat`, a minimal C client of the broker ([`FDCAT_C`]), and a hello-world in C and
//! in Rust (what a process of each language costs at all). Their sources are part of the
//! bench and are compiled into the tree's `bin/`, where the client uid can run them.
//!
//! The C compiler is `cc` (`$CC` if set); the Rust one is `rustc` (`$RUSTC` if set), with
//! the options of the workspace's release profile, so that the Rust hello-world is built
//! as fdagent is.

use std::ffi::OsString;
use std::fs::{self, Permissions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tree::Tree;

/// The C client: one Open, the fd, a copy to stdout.
const FDCAT_C: &str = include_str!("c/fdcat.c");
const HELLO_C: &str = include_str!("c/hello.c");
const HELLO_RS: &str = include_str!("rust/hello.rs");

/// What the hello-worlds print.
pub const HELLO_OUTPUT: &[u8] = b"hello, world\n";

/// The built programs.
#[derive(Debug)]
pub struct Baselines {
    pub fdcat: PathBuf,
    pub hello_c: PathBuf,
    pub hello_rust: PathBuf,
}

/// Builds the three programs into `tree`'s `bin/`.
pub fn build(tree: &Tree) -> io::Result<Baselines> {
    let built = Baselines {
        fdcat: tree.path("bin/fdcat"),
        hello_c: tree.path("bin/hello-c"),
        hello_rust: tree.path("bin/hello-rust"),
    };
    let cc = compiler("CC", "cc");
    let c_flags = ["-O2", "-Wall", "-Wextra", "-Werror", "-o"];
    compile(tree, &cc, "fdcat.c", FDCAT_C, &c_flags, &built.fdcat)?;
    compile(tree, &cc, "hello.c", HELLO_C, &c_flags, &built.hello_c)?;
    // The release profile of the workspace (Cargo.toml), and what cargo adds to it.
    let rust_flags = [
        "--edition=2024",
        "-Copt-level=3",
        "-Clto=fat",
        "-Ccodegen-units=1",
        "-Cstrip=debuginfo",
        "-o",
    ];
    let rustc = compiler("RUSTC", "rustc");
    compile(
        tree,
        &rustc,
        "hello.rs",
        HELLO_RS,
        &rust_flags,
        &built.hello_rust,
    )?;
    Ok(built)
}

/// `$VAR`, else `default`.
fn compiler(var: &str, default: &str) -> OsString {
    std::env::var_os(var).unwrap_or_else(|| default.into())
}

/// Writes `source` to `run/NAME` and compiles it to `out` with `compiler FLAGS out SOURCE`.
fn compile(
    tree: &Tree,
    compiler: &OsString,
    name: &str,
    source: &str,
    flags: &[&str],
    out: &Path,
) -> io::Result<()> {
    let src = tree.path(&format!("run/{name}"));
    fs::write(&src, source)?;
    let what = || format!("{} (building {name})", compiler.to_string_lossy());
    let output = Command::new(compiler)
        .args(flags)
        .arg(out)
        .arg(&src)
        .output()
        .map_err(|e| {
            let hint = if e.kind() == io::ErrorKind::NotFound {
                ": not installed? The process section builds its C and Rust baselines \
                 (apt-get install gcc; rustc comes with Rust)"
            } else {
                ""
            };
            io::Error::new(e.kind(), format!("cannot run {}: {e}{hint}", what()))
        })?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "{} failed ({}):\n{}",
            what(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    // Runnable by the client uid whatever the umask.
    fs::set_permissions(out, Permissions::from_mode(0o755))
}
