//! The Debian package as `cargo deb` builds it: what `dpkg-deb` shows of it, what lintian
//! says of it, and what its maintainer scripts do with the systemd units. The package is
//! made from the debug binaries the test run already has (cargo-deb strips them), laid
//! out as `target/release/` in a test tree, so no release build is needed here.
//! `packaging::the_deb_metadata_names_what_the_build_produces` checks the metadata alone.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Output, Tree, built_bin, itest, tools_or_skip};
use crate::packaging::docs_pages;

/// The repository's root (the root package's directory).
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The cargo running the tests, else the one that built them.
fn cargo() -> String {
    std::env::var("CARGO")
        .ok()
        .or(option_env!("CARGO").map(str::to_owned))
        .unwrap_or_else(|| "cargo".to_owned())
}

/// What building and checking the package needs and is missing, if anything.
fn missing_tools() -> Option<String> {
    let runs = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<&str> = [
        (
            runs(&cargo(), &["deb", "--version"]),
            "cargo-deb is not installed (cargo install --locked cargo-deb)",
        ),
        (
            runs("lintian", &["--version"]),
            "lintian is not installed (apt-get install lintian)",
        ),
    ]
    .into_iter()
    .filter_map(|(found, why)| (!found).then_some(why))
    .collect();
    (!missing.is_empty()).then(|| missing.join("; "))
}

/// The timeout for the packaging tools: cargo-deb strips and compresses two binaries.
const TOOL_TIMEOUT: Duration = Duration::from_secs(300);

/// Builds the package in `tree` as the README does, from the debug binaries: the binaries,
/// the gzipped man pages and the shell completions go to `tree/target/release/`, which
/// `CARGO_TARGET_DIR` makes cargo-deb's target directory. Returns the `.deb`.
fn build_deb(tree: &Tree) -> std::path::PathBuf {
    let release = tree.path("target/release");
    std::fs::create_dir_all(release.join("man")).expect("mkdir target/release/man");
    for bin in ["fdbroker", "fdagent"] {
        std::fs::copy(built_bin(bin), release.join(bin)).expect("copy a binary");
        tree.cmd(&release.join(bin))
            .args(["man", &tree.p("target/release/man")])
            .run()
            .code_is(0);
        tree.cmd(&release.join(bin))
            .args(["completions", &tree.p("target/release/completions")])
            .run()
            .code_is(0);
    }
    tree.cmd(Path::new("/bin/sh"))
        .args(["-c", "gzip -9n target/release/man/*"])
        .run()
        .code_is(0);
    let deb = tree.path("fdbroker.deb");
    let out = tree
        .cmd(Path::new(&cargo()))
        .args([
            "deb",
            "-p",
            "fdbroker",
            "--no-build",
            "--offline",
            "--manifest-path",
        ])
        .arg(repo().join("Cargo.toml"))
        .arg("-o")
        .arg(&deb)
        .env("CARGO_TARGET_DIR", &tree.p("target"))
        // cargo-deb runs cargo, and cargo finds cargo-deb, through these.
        .env("PATH", &std::env::var("PATH").unwrap_or_default())
        .env("HOME", &std::env::var("HOME").unwrap_or_default())
        .timeout(TOOL_TIMEOUT)
        .run();
    out.code_is(0);
    // cargo-deb warns of assets it cannot place, such as build products outside
    // target/release/.
    if out.stderr.contains("warning") {
        out.fail("cargo deb warned");
    }
    deb
}

/// `dpkg-deb OPTION DEB [ARG]`, which must succeed.
fn dpkg_deb(tree: &Tree, option: &str, deb: &Path, arg: Option<&Path>) -> Output {
    let out = tree
        .cmd(Path::new("dpkg-deb"))
        .arg(option)
        .arg(deb)
        .args(arg)
        .timeout(TOOL_TIMEOUT)
        .run();
    out.code_is(0);
    out
}

/// The package's files and their `ls -l` modes, from `dpkg-deb --contents`.
fn contents(tree: &Tree, deb: &Path) -> BTreeMap<String, String> {
    dpkg_deb(tree, "--contents", deb, None)
        .stdout_str()
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let path = words.last()?.strip_prefix('.')?;
            Some((path.to_owned(), format!("{} {}", words[0], words[1])))
        })
        .collect()
}

#[test]
fn the_deb_builds_and_passes_dpkg_deb_and_lintian() {
    if !tools_or_skip(
        "the_deb_builds_and_passes_dpkg_deb_and_lintian",
        missing_tools(),
    ) {
        return;
    }
    let tree = Tree::new();
    let deb = build_deb(&tree);

    // The control archive: the maintainer scripts, the conffiles, a synopsis that fits
    // the 80 columns of Debian's tools.
    let info = dpkg_deb(&tree, "--info", &deb, None);
    let info_text = info.stdout_str();
    for script in ["postinst", "prerm", "postrm", "conffiles"] {
        if !info_text
            .lines()
            .any(|l| l.contains(&format!(" {script} ")))
        {
            info.fail(&format!("the package has no {script}"));
        }
    }
    let synopsis = info_text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("Description: "))
        .unwrap_or_else(|| info.fail("no Description"));
    assert!(
        !synopsis.is_empty() && synopsis.len() < 80,
        "the synopsis must be under 80 characters ({}): {synopsis:?}",
        synopsis.len()
    );
    let conffiles = dpkg_deb(&tree, "--info", &deb, Some(Path::new("conffiles")));
    assert_eq!(
        conffiles.stdout_str().lines().collect::<Vec<_>>(),
        ["/etc/fdbroker/policy.toml", "/etc/logrotate.d/fdbroker"]
    );

    // The data archive: the files, where the system looks for them, with their modes.
    let files = contents(&tree, &deb);
    for (path, mode) in [
        ("/usr/sbin/fdbroker", "-rwxr-xr-x root/root"),
        ("/usr/bin/fdagent", "-rwxr-xr-x root/root"),
        ("/etc/fdbroker/policy.toml", "-rw------- root/root"),
        ("/etc/logrotate.d/fdbroker", "-rw-r--r-- root/root"),
        (
            "/lib/systemd/system/fdbroker.socket",
            "-rw-r--r-- root/root",
        ),
        (
            "/lib/systemd/system/fdbroker.service",
            "-rw-r--r-- root/root",
        ),
        ("/usr/share/man/man8/fdbroker.8.gz", "-rw-r--r-- root/root"),
        (
            "/usr/share/man/man5/fdbroker-policy.5.gz",
            "-rw-r--r-- root/root",
        ),
        ("/usr/share/man/man1/fdagent.1.gz", "-rw-r--r-- root/root"),
        (
            "/usr/share/bash-completion/completions/fdbroker",
            "-rw-r--r-- root/root",
        ),
        (
            "/usr/share/bash-completion/completions/fdagent",
            "-rw-r--r-- root/root",
        ),
        (
            "/usr/share/zsh/vendor-completions/_fdbroker",
            "-rw-r--r-- root/root",
        ),
        (
            "/usr/share/zsh/vendor-completions/_fdagent",
            "-rw-r--r-- root/root",
        ),
        (
            "/usr/share/fish/vendor_completions.d/fdbroker.fish",
            "-rw-r--r-- root/root",
        ),
        (
            "/usr/share/fish/vendor_completions.d/fdagent.fish",
            "-rw-r--r-- root/root",
        ),
        ("/usr/share/doc/fdbroker/copyright", "-rw-r--r-- root/root"),
        (
            "/usr/share/doc/fdbroker/changelog.Debian.gz",
            "-rw-r--r-- root/root",
        ),
        ("/usr/share/doc/fdbroker/README.md", "-rw-r--r-- root/root"),
    ]
    .into_iter()
    .map(|(path, mode)| (path.to_owned(), mode))
    .chain(docs_pages().map(|page| {
        (
            format!("/usr/share/doc/fdbroker/docs/{page}"),
            "-rw-r--r-- root/root",
        )
    })) {
        assert_eq!(
            files.get(&path).map(|m| m.replace("0/0", "root/root")),
            Some(mode.to_owned()),
            "{path} in {files:#?}"
        );
    }

    // The policy the package installs loads and grants nothing: the administrator writes
    // the rules (its examples are comments).
    let extracted = tree.path("extracted");
    dpkg_deb(&tree, "-x", &deb, Some(&extracted));
    let policy = extracted.join("etc/fdbroker/policy.toml");
    tree.cmd(&tree.bin("fdbroker"))
        .arg("check")
        .arg(&policy)
        .run()
        .code_is(0)
        .stdout_is(format!("{}: ok (0 rules)\n", policy.display()));

    // lintian: any error or warning fails; the tags the package carries on purpose are
    // overridden in it (broker/debian/lintian-overrides, with why). Its info tags are
    // accepted: no fortified libc functions (Rust calls few), no md5sums (dpkg computes
    // them at install), no init.d script (the broker runs under systemd).
    let lintian = tree
        .cmd(Path::new("lintian"))
        .arg(&deb)
        .timeout(TOOL_TIMEOUT)
        .run();
    let stdout = lintian.stdout_str();
    let complaints: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
        .collect();
    if !lintian.status.success() || !complaints.is_empty() {
        lintian.fail(&format!("lintian: {complaints:#?}"));
    }
}

/// A stand-in for `name` in `tree/fake` that appends its arguments to `tree/calls` and
/// exits with `status`.
fn fake(tree: &Tree, name: &str, body: &str) {
    tree.file(
        &format!("fake/{name}"),
        format!(
            "#!/bin/sh\necho {name} \"$@\" >> {}\n{body}\n",
            tree.p("calls")
        )
        .as_bytes(),
        0o755,
    );
}

/// Runs the package's maintainer script `script` with `args` in a mount namespace where
/// /run/systemd/system exists (as on a machine booted with systemd), with stand-ins for
/// the helpers it calls; returns the calls it made, one a line.
fn run_script(tree: &Tree, script: &str, args: &[&str], was_enabled: bool) -> String {
    let calls = tree.path("calls");
    let _ = std::fs::remove_file(&calls);
    let path = repo().join("broker/debian").join(script);
    let command = format!(
        "mount -t tmpfs fdbroker-test /run && mkdir -p /run/systemd/system && \
         PATH={}:/usr/sbin:/usr/bin:/sbin:/bin FAKE_STATUS={} exec /bin/sh {} \"$@\"",
        tree.p("fake"),
        if was_enabled { 0 } else { 1 },
        path.display()
    );
    tree.cmd(Path::new("/usr/bin/unshare"))
        .args([
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            &command,
            script,
        ])
        .args(args)
        .run()
        .code_is(0);
    std::fs::read_to_string(&calls).unwrap_or_default()
}

// postinst, prerm and postrm do what dh_installsystemd's scripts do for the two units, with
// --no-enable --no-start: a first install enables and starts nothing (the administrator
// edits the policy first) but records the units' state; an upgrade keeps what the
// administrator enabled and restarts only what runs; remove stops and masks; purge
// removes the links `systemctl enable` made, which would otherwise dangle.
itest!(
    the_maintainer_scripts_handle_the_units_as_dh_installsystemd_does,
    |tree| {
        tree.dir("fake", 0o755);
        fake(&tree, "getent", "exit 2");
        fake(&tree, "adduser", "exit 0");
        fake(&tree, "systemctl", "exit 0");
        fake(&tree, "deb-systemd-invoke", "exit 0");
        fake(
            &tree,
            "deb-systemd-helper",
            r#"case "$*" in *debian-installed*|*was-enabled*) exit $FAKE_STATUS;; esac"#,
        );
        let lines = |calls: &str| calls.lines().map(str::to_owned).collect::<Vec<_>>();

        let first = run_script(&tree, "postinst", &["configure", ""], false);
        assert_eq!(
            lines(&first),
            [
                "getent passwd fdbroker",
                "adduser --system --group --quiet --no-create-home --home /nonexistent fdbroker",
                "deb-systemd-helper debian-installed fdbroker.socket",
                "deb-systemd-helper update-state fdbroker.socket",
                "deb-systemd-helper debian-installed fdbroker.service",
                "deb-systemd-helper update-state fdbroker.service",
                "systemctl --system daemon-reload",
            ],
            "a first install"
        );

        let upgrade = run_script(&tree, "postinst", &["configure", "0.1.0-1"], true);
        let mut expected = lines(
            "getent passwd fdbroker\n\
         adduser --system --group --quiet --no-create-home --home /nonexistent fdbroker",
        );
        for unit in ["fdbroker.socket", "fdbroker.service"] {
            for action in [
                "debian-installed",
                "unmask",
                "--quiet was-enabled",
                "enable",
                "update-state",
            ] {
                expected.push(format!("deb-systemd-helper {action} {unit}"));
            }
        }
        expected.push("systemctl --system daemon-reload".to_owned());
        expected.push("deb-systemd-invoke try-restart fdbroker.socket fdbroker.service".to_owned());
        assert_eq!(lines(&upgrade), expected, "an upgrade of an enabled broker");

        assert_eq!(
            lines(&run_script(&tree, "prerm", &["remove"], false)),
            ["deb-systemd-invoke stop fdbroker.service fdbroker.socket"],
            "prerm remove"
        );
        assert_eq!(
            run_script(&tree, "prerm", &["upgrade", "0.1.0-2"], false),
            "",
            "prerm upgrade: postinst restarts instead"
        );
        assert_eq!(
            lines(&run_script(&tree, "postrm", &["remove"], false)),
            [
                "deb-systemd-helper mask fdbroker.socket fdbroker.service",
                "systemctl --system daemon-reload",
            ],
            "postrm remove"
        );
        assert_eq!(
            lines(&run_script(&tree, "postrm", &["purge"], false)),
            [
                "deb-systemd-helper purge fdbroker.socket fdbroker.service",
                "deb-systemd-helper unmask fdbroker.socket fdbroker.service",
                "systemctl --system daemon-reload",
            ],
            "postrm purge"
        );
    }
);
