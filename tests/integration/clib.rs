//! The C library (`clients/c`) as a C programmer gets it: installed by
//! `clients/c/install.sh` into a prefix of the test tree, its header checked against what
//! the shared library exports and compiled as C99 and C++, and the C test and example
//! compiled against the installed files with `pkg-config`, linked shared and static, and
//! run as unprivileged uids against a real broker.
//!
//! The library is the one cargo built for this suite (a dependency of it, see
//! [`c_lib_dir`]), installed with `--from`: no release build here.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rustix::process::Signal;

use crate::harness::{
    ALICE, BOB, Broker, Output, Policy, Tree, User, c_lib_dir, itest, tools_or_skip, wait_until,
};

/// The C tools the tests run, with the package a fresh Debian lacks them in.
const TOOLS: [(&str, &str); 5] = [
    ("cc", "gcc"),
    ("g++", "g++"),
    ("pkg-config", "pkg-config"),
    ("nm", "binutils"),
    ("readelf", "binutils"),
];

/// What the tests need and is missing, if anything (`.ci/run` installs it).
fn missing_tools() -> Option<String> {
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|(tool, _)| {
            !Command::new(tool)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|(tool, package)| format!("{tool} is not installed (apt-get install {package})"))
        .collect();
    (!missing.is_empty()).then(|| missing.join("; "))
}

/// The C sources, in the repository.
fn c_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/c")
}

/// How a program is linked to libfdagent.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Link {
    /// `$(pkg-config --cflags --libs fdagent)`, with an rpath to the test prefix.
    Shared,
    /// `$(pkg-config --variable=static_libs fdagent)`: the archive and its system libraries.
    Static,
}

/// libfdagent installed in `tree/usr` by `clients/c/install.sh`.
struct Installed<'t> {
    tree: &'t Tree,
}

impl<'t> Installed<'t> {
    /// Installs it, or returns `None` (the test skips) when a C tool is missing.
    fn new(tree: &'t Tree, test: &str) -> Option<Installed<'t>> {
        if !tools_or_skip(test, missing_tools()) {
            return None;
        }
        let script = c_dir().join("install.sh");
        tree.cmd(Path::new("/bin/sh"))
            .arg(&script)
            .args(["--prefix", &tree.p("usr")])
            .arg("--from")
            .arg(c_lib_dir())
            .run()
            .code_is(0);
        Some(Installed { tree })
    }

    /// `script` run by `sh` as root in the tree, with pkg-config finding the installed
    /// `fdagent.pc` (and only it: not a system-wide one).
    fn sh(&self, script: &str) -> Output {
        self.tree
            .cmd(Path::new("/bin/sh"))
            .args(["-c", script])
            .env("PKG_CONFIG_LIBDIR", &self.tree.p("usr/lib/pkgconfig"))
            .run()
    }

    /// Compiles `source` (in `clients/c`) into `bin/NAME`, which any uid may run.
    fn build(&self, source: &str, name: &str, link: Link) -> PathBuf {
        let libs = match link {
            Link::Shared => {
                "$(pkg-config --cflags --libs fdagent) \
                 -Wl,-rpath,$(pkg-config --variable=libdir fdagent)"
            }
            Link::Static => {
                "$(pkg-config --cflags fdagent) $(pkg-config --variable=static_libs fdagent)"
            }
        };
        let out = self.tree.path("bin").join(name);
        self.sh(&format!(
            "cc -Wall -Wextra -Werror -o '{}' '{}' {libs}",
            out.display(),
            c_dir().join(source).display()
        ))
        .code_is(0);
        out
    }
}

/// `fdagent_test SOCKET MODE` (`clients/c/tests/fdagent_test.c`) run as `user`, with the
/// expectations on its stdin; it exits 0 and prints `ok` when they all hold.
fn c_test(broker: &Broker, program: &Path, user: User, mode: &str, expected: &[u8]) -> Output {
    let out = broker
        .program(user, program)
        .arg(broker.socket())
        .arg(mode)
        .stdin(expected)
        .run();
    out.code_is(0).stdout_is("ok\n");
    out
}

const EACCES: i32 = 13;
const ENOENT: i32 = 2;
const EINVAL: i32 = 22;

/// A broker granting ALICE (only) `data/**`, and files there and in `secret/` whose
/// contents are their own paths, as the C test checks.
fn serving(tree: &Tree) -> Broker<'_> {
    tree.dir("data", 0o700);
    tree.dir("secret", 0o700);
    for i in 0..150 {
        for dir in ["data", "secret"] {
            let rel = format!("{dir}/f{i}");
            tree.file(&rel, tree.p(&rel).as_bytes(), 0o600);
        }
    }
    // A name that is no UTF-8.
    let odd = non_utf8(tree);
    std::fs::write(&odd, odd.as_os_str().as_bytes()).expect("write the non-UTF-8 file");
    let policy = Policy::new()
        .allow("alice-reads-data")
        .users(&[ALICE])
        .paths(&[tree.p("data/**")])
        .access("read")
        .to_string();
    Broker::start(tree, &policy)
}

/// `data/caf\xe9-\xff`, a file name that is not UTF-8.
fn non_utf8(tree: &Tree) -> PathBuf {
    tree.path("data").join(OsStr::from_bytes(b"caf\xe9-\xff"))
}

/// `n` paths mixing every outcome, with the errno `user` must get for each, as the C
/// test reads them: "ERRNO PATH" lines.
fn expectations(tree: &Tree, user: User, n: usize) -> Vec<u8> {
    let alice = user.uid == ALICE.uid;
    let mut lines = Vec::new();
    for i in 0..n {
        let (errno, path): (i32, Vec<u8>) = match i % 6 {
            0 => (
                if alice { 0 } else { EACCES },
                tree.p(&format!("data/f{}", i % 150)).into(),
            ),
            1 => (EACCES, tree.p(&format!("secret/f{}", i % 150)).into()),
            2 => (
                if alice { ENOENT } else { EACCES },
                tree.p(&format!("data/missing{i}")).into(),
            ),
            3 => (
                if alice { 0 } else { EACCES },
                non_utf8(tree).as_os_str().as_bytes().to_vec(),
            ),
            4 => (EINVAL, b"data/relative".to_vec()),
            _ => (EACCES, tree.p(&format!("secret/missing{i}")).into()),
        };
        lines.extend_from_slice(format!("{errno} ").as_bytes());
        lines.extend_from_slice(&path);
        lines.push(b'\n');
    }
    lines
}

itest!(c_header_declares_exactly_what_the_library_exports, |tree| {
    let Some(installed) = Installed::new(
        &tree,
        "clib::c_header_declares_exactly_what_the_library_exports",
    ) else {
        return;
    };
    let nm = installed.sh(&format!(
        "nm -D --defined-only '{}'",
        tree.p("usr/lib/libfdagent.so.0")
    ));
    nm.code_is(0);
    let exported: BTreeSet<String> = nm
        .stdout_str()
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2).map(str::to_owned))
        .collect();
    let header = String::from_utf8(tree.read("usr/include/fdagent.h")).expect("UTF-8 header");
    let declared = declared_functions(&header);
    assert!(!declared.is_empty(), "no function declared in fdagent.h");
    assert_eq!(
        exported, declared,
        "libfdagent.so exports (left) and fdagent.h declares (right) different functions"
    );
    // The soname the install script's symlinks and programs' NEEDED entries use.
    let dynamic = installed.sh(&format!("readelf -d '{}'", tree.p("usr/lib/libfdagent.so")));
    let soname = "Library soname: [libfdagent.so.0]";
    if !dynamic.code_is(0).stdout_str().contains(soname) {
        dynamic.fail(&format!("no `{soname}`"));
    }
});

/// The names of the functions `header` declares: each identifier followed by `(`, outside
/// comments, that is not a macro's.
fn declared_functions(header: &str) -> BTreeSet<String> {
    let mut code = String::new();
    let mut rest = header;
    while let Some(start) = rest.find("/*") {
        code.push_str(&rest[..start]);
        let end = rest[start..].find("*/").expect("unterminated comment") + start + 2;
        rest = &rest[end..];
    }
    code.push_str(rest);
    code.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(|line| line.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '(')))
        .filter_map(|word| word.split_once('(').map(|(name, _)| name))
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

itest!(
    c_install_stages_under_destdir_and_names_the_prefix,
    |tree| {
        let stage = tree.path("stage");
        tree.cmd(Path::new("/bin/sh"))
            .arg(c_dir().join("install.sh"))
            .args(["--prefix", "/opt/fdagent", "--libdir", "/opt/fdagent/lib64"])
            .arg("--destdir")
            .arg(&stage)
            .arg("--from")
            .arg(c_lib_dir())
            .run()
            .code_is(0);
        for file in [
            "lib64/libfdagent.so.0",
            "lib64/libfdagent.so",
            "lib64/libfdagent.a",
            "lib64/pkgconfig/fdagent.pc",
            "include/fdagent.h",
        ] {
            let path = stage.join("opt/fdagent").join(file);
            assert!(path.exists(), "{} is missing", path.display());
        }
        let link = std::fs::read_link(stage.join("opt/fdagent/lib64/libfdagent.so"));
        assert_eq!(link.expect("a symbolic link"), Path::new("libfdagent.so.0"));
        // The installed paths, not the staging directory's.
        let pc = String::from_utf8(tree.read("stage/opt/fdagent/lib64/pkgconfig/fdagent.pc"))
            .expect("UTF-8");
        for line in ["prefix=/opt/fdagent\n", "libdir=/opt/fdagent/lib64\n"] {
            assert!(pc.contains(line), "no {line:?} in fdagent.pc:\n{pc}");
        }
        assert!(
            !pc.contains("stage"),
            "fdagent.pc names the staging directory:\n{pc}"
        );
    }
);

itest!(c_header_compiles_as_c99_and_as_cxx, |tree| {
    let Some(installed) = Installed::new(&tree, "clib::c_header_compiles_as_c99_and_as_cxx") else {
        return;
    };
    let source = tree.file(
        "header.c",
        b"#include <fdagent.h>\n\
          int main(void) {\n\
          \x20   fdagent *agent = fdagent_connect((const char *)0, 0u);\n\
          \x20   fdagent_close(agent);\n\
          \x20   return FDAGENT_READ == 1u ? 0 : 1;\n\
          }\n",
        0o644,
    );
    let source = source.display();
    installed
        .sh(&format!(
            "cc -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only $(pkg-config --cflags fdagent) '{source}' && \
             g++ -std=c++11 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c++ $(pkg-config --cflags fdagent) '{source}'"
        ))
        .code_is(0)
        .no_stderr();
});

itest!(
    c_example_links_shared_and_static_from_the_installed_files,
    |tree| {
        let Some(installed) = Installed::new(
            &tree,
            "clib::c_example_links_shared_and_static_from_the_installed_files",
        ) else {
            return;
        };
        let broker = serving(&tree);
        for link in [Link::Shared, Link::Static] {
            let fdcat = installed.build("examples/fdcat.c", &format!("fdcat-{link:?}"), link);
            let needed = installed
                .sh(&format!("readelf -d '{}'", fdcat.display()))
                .code_is(0)
                .stdout_str();
            assert_eq!(
                needed.contains("[libfdagent.so.0]"),
                link == Link::Shared,
                "{link:?} fdcat's dynamic section:\n{needed}"
            );
            let (a, b) = (tree.p("data/f1"), tree.p("data/f2"));
            broker
                .program(ALICE, &fdcat)
                .args(["--socket", &broker.socket_str(), &a, &b])
                .run()
                .code_is(0)
                .stdout_is(format!("{a}{b}"));
            broker
                .program(BOB, &fdcat)
                .args(["--socket", &broker.socket_str(), &a])
                .run()
                .code_is(1)
                .stderr_has(&format!("fdcat: {a}: Permission denied"));
        }
    }
);

itest!(
    c_opens_allowed_denied_missing_and_non_utf8_under_distinct_uids,
    |tree| {
        let Some(installed) = Installed::new(
            &tree,
            "clib::c_opens_allowed_denied_missing_and_non_utf8_under_distinct_uids",
        ) else {
            return;
        };
        let broker = serving(&tree);
        for link in [Link::Shared, Link::Static] {
            let test = installed.build("tests/fdagent_test.c", &format!("test-{link:?}"), link);
            for user in [ALICE, BOB] {
                // One request a path, then more than two full batches (253) in one call.
                c_test(&broker, &test, user, "one", &expectations(&tree, user, 60));
                c_test(
                    &broker,
                    &test,
                    user,
                    "many",
                    &expectations(&tree, user, 600),
                );
            }
            // Four threads sharing one handle, each with its own errors.
            let expected = expectations(&tree, ALICE, 120);
            c_test(&broker, &test, ALICE, "threads", &expected);
        }
    }
);

itest!(c_bad_arguments_fail_with_einval_and_break_nothing, |tree| {
    let Some(installed) = Installed::new(
        &tree,
        "clib::c_bad_arguments_fail_with_einval_and_break_nothing",
    ) else {
        return;
    };
    let broker = serving(&tree);
    let test = installed.build("tests/fdagent_test.c", "test", Link::Shared);
    c_test(&broker, &test, ALICE, "args", b"");
});

itest!(c_broker_gone_is_an_error_and_leaks_no_fd, |tree| {
    let Some(installed) = Installed::new(&tree, "clib::c_broker_gone_is_an_error_and_leaks_no_fd")
    else {
        return;
    };
    let broker = serving(&tree);
    let test = installed.build("tests/fdagent_test.c", "test", Link::Shared);
    let connections = broker.fd_count();
    let client = broker
        .program(ALICE, &test)
        .arg(broker.socket())
        .arg("gone")
        .stdin(&expectations(&tree, ALICE, 300));
    let running = std::thread::spawn(move || client.run());
    // The client is connected once the broker holds its connection.
    wait_until(Duration::from_secs(20), || {
        (broker.fd_count() > connections).then_some(())
    })
    .expect("the C client never connected");
    broker.stop(Signal::TERM);
    let out = running.join().expect("the client thread");
    out.code_is(0).stdout_is("ok\n");
});
