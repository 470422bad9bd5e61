//! The Python client (`clients/python`): its pytest suite, run by `cargo test` so that CI
//! runs it, and its installation with pip into a fresh venv.
//!
//! The suite starts its own brokers (the `fdbroker` built here) and runs its clients as
//! [`ALICE`] and [`BOB`] in forked children; it scans through a private clamd started
//! here. It runs with `FDBROKER_REQUIRE_ROOT=1`, so a test of it that would skip fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::clamd::{Clamd, clamd_or_skip};
use crate::harness::{ALICE, BOB, Broker, Cmd, Policy, Tree, itest, tools_or_skip};

/// The client's source directory.
const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/python");

/// The pytest suite and the pip install each take seconds, longer on a loaded machine.
const PYTHON_TIMEOUT: Duration = Duration::from_secs(300);

/// The interpreter `python3` on the test's `PATH` really is (not a pyenv shim, which
/// needs the environment the harness clears), if it can import `module`; otherwise
/// prints SKIP (or fails, under `FDBROKER_REQUIRE_ROOT`).
fn python_with(test: &str, module: &str) -> Option<PathBuf> {
    let found = Command::new("python3")
        .args([
            "-c",
            &format!("import sys, {module}; print(sys.executable)"),
        ])
        .output();
    let missing = match found {
        Ok(out) if out.status.success() => {
            let exe = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            return Some(PathBuf::from(exe));
        }
        Ok(_) => format!(
            "python3 cannot import {module} (python3 -m pip install {module}, as .ci/run does)"
        ),
        Err(e) => format!("python3 cannot be run: {e}"),
    };
    tools_or_skip(test, Some(missing));
    None
}

/// A python command run as root in the tree, without writing bytecode into the source
/// tree.
fn python(tree: &Tree, interpreter: &Path) -> Cmd {
    tree.cmd(interpreter)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .timeout(PYTHON_TIMEOUT)
}

// Every test of clients/python/tests passes, none skipped: the golden vectors, the fake
// brokers' malformed replies, and a real broker with clients under two uids (allowed,
// denied, not found, 600-path batches, non-UTF-8 names, a broker killed mid-batch), and
// the example scanner with a real clamd.
itest!(pytest, |tree| {
    let Some(interpreter) = python_with("python::pytest", "pytest") else {
        return;
    };
    let Some(clamd) = clamd_or_skip() else {
        return;
    };
    let clamd = Clamd::start(&clamd, &tree, "");
    let trees = tree.dir("py", 0o755);
    let users = format!("{}:{},{}:{}", ALICE.uid, ALICE.gid, BOB.uid, BOB.gid);
    let out = python(&tree, &interpreter)
        .args(["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"])
        .arg(format!("{CLIENT}/tests"))
        .env("FDBROKER_REQUIRE_ROOT", "1")
        .env(
            "FDBROKER_BIN",
            tree.bin("fdbroker").to_str().expect("UTF-8"),
        )
        .env("FDBROKER_TEST_DIR", trees.to_str().expect("UTF-8"))
        .env("FDBROKER_TEST_USERS", &users)
        .env("FDBROKER_TEST_CLAMD", &clamd.socket_str())
        .run();
    out.code_is(0);
    let summary = out.stdout_str().to_lowercase();
    if summary.contains("skipped") || !summary.contains(" passed") {
        out.fail("expected every test to pass, none skipped");
    }
});

/// Copies the directory `from` to `to`, leaving out Python's caches.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name == "__pycache__" || name == ".pytest_cache" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

// `pip install ./clients/python` into a fresh venv, as the docs say: offline when the
// venv has a build backend that builds wheels, else with pip fetching setuptools from
// PyPI (build isolation); then the installed package (not the source tree) reaches a
// broker.
itest!(pip_install, |tree| {
    let Some(interpreter) = python_with("python::pip_install", "venv") else {
        return;
    };
    // A copy: pip's in-tree build writes build/ and *.egg-info next to the sources.
    let source = tree.path("clients-python");
    copy_tree(Path::new(CLIENT), &source);
    let venv = tree.path("venv");
    python(&tree, &interpreter)
        .args(["-m", "venv"])
        .arg(&venv)
        .run()
        .code_is(0);
    let venv_python = venv.join("bin/python");
    // The backend must build wheels: setuptools 70.1 and later does, an older one only
    // with the `wheel` package beside it (which a venv does not have).
    let backend = "import setuptools\ntry:\n    import wheel\nexcept ImportError:\n    \
                   from setuptools.command import bdist_wheel";
    let offline = python(&tree, &venv_python)
        .args(["-c", backend])
        .run()
        .code()
        == Some(0);
    let mut install = python(&tree, &venv_python).args(["-m", "pip", "install", "-q"]);
    if offline {
        install = install.args(["--no-index", "--no-build-isolation"]);
    }
    install.arg(&source).run().code_is(0);

    tree.private_file("data/a.txt", b"alpha\n");
    let policy = Policy::new()
        .allow("root-reads")
        .users(&[0])
        .paths(&[tree.p("data/**")])
        .access("read")
        .to_string();
    let broker = Broker::start(&tree, &policy);
    let script = "import sys, fdbroker_client as f\n\
                  with f.Client(sys.argv[1]) as c:\n    c.ping()\n    \
                  sys.stdout.write(c.open(sys.argv[2]).read().decode())\n\
                  print(f.__file__)";
    let out = python(&tree, &venv_python)
        .args(["-c", script, &broker.socket_str(), &tree.p("data/a.txt")])
        .run();
    out.code_is(0);
    let expected_module = format!("{}/lib/", venv.display());
    let stdout = out.stdout_str();
    if !stdout.starts_with("alpha\n") || !stdout.contains(&expected_module) {
        out.fail("expected the file's contents, read through the package installed in the venv");
    }
});
