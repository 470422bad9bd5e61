//! What a distribution installs: the systemd units in `examples/systemd/` carry the
//! socket-activation and hardening directives, their command lines use only flags the
//! binaries have and run as written (on a test tree), systemd's own checker accepts them
//! and the drop-in for a broker in /usr/local applied over the service (CI installs it), and `[package.metadata.deb]` names files that exist or that the
//! documented build produces. Launching `serve` on an inherited socket, as systemd does,
//! is `service::socket_activation_uses_the_inherited_socket`. None of this needs root but
//! running `ExecReload=`'s `fdbroker reload`, which asks a broker as root.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{ALICE, Broker, Policy, Tree, itest, tools_or_skip, write_policy};

/// The repository's root (the root package's directory).
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The installed paths the units name, and what they become in a test tree.
const SYSTEM_POLICY: &str = "/etc/fdbroker/policy.toml";
const SYSTEM_LOG_DIR: &str = "/var/log/fdbroker";
const SYSTEM_FDBROKER: &str = "/usr/sbin/fdbroker";
const SYSTEM_SOCKET: &str = "/run/fdbroker.sock";
/// The drop-in for a broker installed from source, and the path it runs the broker from.
const LOCAL_DROP_IN: &str = "fdbroker.service.d/local.conf";
const LOCAL_FDBROKER: &str = "/usr/local/bin/fdbroker";

/// One `Key=Value` line of a unit file, with its section.
#[derive(Debug)]
struct Directive {
    section: String,
    key: String,
    value: String,
}

/// The directives of a unit file (comments and blank lines skipped).
fn directives(text: &str) -> Vec<Directive> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else if let Some((key, value)) = line.split_once('=') {
            out.push(Directive {
                section: section.clone(),
                key: key.trim().to_owned(),
                value: value.trim().to_owned(),
            });
        }
    }
    out
}

fn unit(name: &str) -> (String, Vec<Directive>) {
    let text = std::fs::read_to_string(repo().join("examples/systemd").join(name))
        .unwrap_or_else(|e| panic!("read examples/systemd/{name}: {e}"));
    let parsed = directives(&text);
    (text, parsed)
}

/// The values of `section`'s `key` in `units`, in order.
fn values<'a>(units: &'a [Directive], section: &str, key: &str) -> Vec<&'a str> {
    units
        .iter()
        .filter(|d| d.section == section && d.key == key)
        .map(|d| d.value.as_str())
        .collect()
}

#[track_caller]
fn assert_directive(units: &[Directive], file: &str, section: &str, key: &str, value: &str) {
    let found = values(units, section, key);
    assert!(
        found.contains(&value),
        "{file}: expected [{section}] {key}={value}, found {found:?}"
    );
}

#[test]
fn the_socket_unit_passes_one_listening_seqpacket_socket() {
    let (text, socket) = unit("fdbroker.socket");
    for (key, value) in [
        ("ListenSequentialPacket", SYSTEM_SOCKET),
        ("SocketMode", "0666"),
        ("Accept", "no"),
        ("RemoveOnStop", "yes"),
    ] {
        assert_directive(&socket, "fdbroker.socket", "Socket", key, value);
    }
    assert_directive(
        &socket,
        "fdbroker.socket",
        "Install",
        "WantedBy",
        "sockets.target",
    );
    assert!(
        text.contains("SocketGroup="),
        "fdbroker.socket should say how to narrow the socket with SocketGroup="
    );
}

#[test]
fn the_service_unit_is_hardened() {
    let (_, service) = unit("fdbroker.service");
    let file = "fdbroker.service";
    assert_directive(&service, file, "Unit", "Requires", "fdbroker.socket");
    for (key, value) in [
        ("Type", "notify"),
        ("LogsDirectory", "fdbroker"),
        ("UMask", "0077"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "read-only"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("PrivateNetwork", "yes"),
        ("RestrictAddressFamilies", "AF_UNIX"),
        ("SystemCallArchitectures", "native"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("ProtectClock", "yes"),
        ("ProtectHostname", "yes"),
        ("RestrictNamespaces", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictSUIDSGID", "yes"),
    ] {
        assert_directive(&service, file, "Service", key, value);
    }
    // `fdbroker reload` on the socket unit's socket: a reload whose policy is not in force
    // fails `systemctl reload` (SIGHUP could not).
    assert_eq!(
        values(&service, "Service", "ExecReload"),
        [format!("{SYSTEM_FDBROKER} reload --socket {SYSTEM_SOCKET}")]
    );
    // @system-service lacks Landlock's system calls (systemd 252): without them the broker
    // would find Landlock "not available" and run unconfined.
    let filter: BTreeSet<&str> = values(&service, "Service", "SystemCallFilter")
        .into_iter()
        .flat_map(str::split_whitespace)
        .collect();
    for call in [
        "@system-service",
        "landlock_create_ruleset",
        "landlock_add_rule",
        "landlock_restrict_self",
    ] {
        assert!(
            filter.contains(call),
            "SystemCallFilter lacks {call}: {filter:?}"
        );
    }
}

/// The bounding set is exactly what the broker can need: the capabilities
/// `fdbroker check --verbose` reports for a policy granting every access word, plus
/// `CAP_SETUID` and `CAP_SETGID` for its name resolver to become nobody, and
/// `CAP_SYS_PTRACE` for its process reader (rules naming units or executables).
#[test]
fn the_capability_bounding_set_is_what_a_full_policy_needs() {
    let tree = Tree::new();
    write_policy(
        &tree.path("all.toml"),
        &Policy::new()
            .allow("all")
            .users(&[ALICE])
            .paths(&["/srv/**"])
            .access("read,write,create,create_new,truncate,list")
            .to_string(),
    );
    let out = tree
        .cmd(&tree.bin("fdbroker"))
        .args(["check", "--verbose", &tree.p("all.toml")])
        .run();
    out.code_is(0);
    let stdout = out.stdout_str();
    let needed: BTreeSet<&str> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("capabilities: "))
        .unwrap_or_else(|| out.fail("no capabilities line"))
        .split(',')
        .chain(["CAP_SETGID", "CAP_SETUID", "CAP_SYS_PTRACE"])
        .collect();
    let (_, service) = unit("fdbroker.service");
    let bounding: BTreeSet<&str> = values(&service, "Service", "CapabilityBoundingSet")
        .into_iter()
        .flat_map(str::split_whitespace)
        .collect();
    // And switching to its own user (`serve --user`), which the unit does.
    let mut needed = needed;
    if service_user().is_some() {
        needed.extend(["CAP_SETUID", "CAP_SETGID"]);
    }
    assert_eq!(
        bounding, needed,
        "CapabilityBoundingSet= vs `check --verbose` (and --user)"
    );
}

/// The user the service's `serve` switches to (`--user NAME`), if any.
fn service_user() -> Option<String> {
    let serve = fdbroker_command_lines("fdbroker.service", SYSTEM_FDBROKER)
        .into_iter()
        .find(|words| words[1] == "serve")
        .expect("ExecStart runs serve");
    let at = serve.iter().position(|w| w == "--user")?;
    serve.get(at + 1).cloned()
}

/// The service runs the broker as a dedicated system user, so the fds in its replies that
/// clients have not read are charged to that user, never to root; the deb's postinst
/// creates it as Debian daemons do (`adduser --system --group`, once), and the deb
/// depends on adduser. The postinst runs here with stand-ins for `getent` and `adduser`
/// that record what they were asked.
#[test]
fn the_deb_creates_the_user_the_service_runs_as() {
    let user = service_user().expect("the service runs serve --user NAME");
    assert_ne!(user, "root");
    let deb = deb_metadata();
    assert!(
        deb["depends"]
            .as_str()
            .is_some_and(|d| d.contains("adduser")),
        "the deb must depend on adduser: {}",
        deb["depends"]
    );
    let scripts = deb["maintainer-scripts"]
        .as_str()
        .expect("maintainer-scripts");
    let postinst = repo().join("broker").join(scripts).join("postinst");
    let tree = Tree::new();
    tree.dir("fake", 0o755);
    let calls = tree.path("calls");
    for (name, status) in [("getent", 2), ("adduser", 0)] {
        let script = tree.path(&format!("fake/{name}"));
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh
echo {name} \"$@\" >> {}
exit {status}
",
                calls.display()
            ),
        )
        .expect("write a stand-in");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod a stand-in");
    }
    let path = format!("{}:/usr/bin:/bin", tree.p("fake"));
    for _ in 0..2 {
        tree.cmd(Path::new("/bin/sh"))
            .arg(&postinst)
            .arg("configure")
            .env("PATH", &path)
            .run()
            .code_is(0);
    }
    let calls = std::fs::read_to_string(&calls).expect("read the calls");
    let adduser: Vec<&str> = calls.lines().filter(|l| l.starts_with("adduser")).collect();
    assert_eq!(adduser.len(), 2, "{calls}");
    for call in adduser {
        for word in ["--system", "--group", &user] {
            assert!(
                call.split_whitespace().any(|w| w == word),
                "postinst: {call:?} lacks {word}"
            );
        }
    }
}

/// The command lines of `file`'s `Exec*=` directives that run `fdbroker` (the binary
/// at that path), split into words (the units quote nothing).
fn fdbroker_command_lines(file: &str, fdbroker: &str) -> Vec<Vec<String>> {
    let (_, directives) = unit(file);
    let lines: Vec<Vec<String>> = directives
        .iter()
        .filter(|d| d.section == "Service" && d.key.starts_with("Exec"))
        .map(|d| {
            d.value
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|words| words.first().is_some_and(|w| w == fdbroker))
        .collect();
    assert!(
        lines.len() >= 3,
        "{file}: ExecStartPre, ExecStart and ExecReload run {fdbroker}"
    );
    lines
}

/// The `Exec*=` directives of `file`'s `[Service]`, as (key, value) in order.
fn exec_directives(file: &str) -> Vec<(String, String)> {
    let (_, directives) = unit(file);
    directives
        .into_iter()
        .filter(|d| d.section == "Service" && d.key.starts_with("Exec"))
        .map(|d| (d.key, d.value))
        .collect()
}

/// The drop-in for a broker in /usr/local clears each `Exec*=` list of the service with
/// an empty assignment (ExecStartPre= and ExecReload= lines would add up, and a second
/// ExecStart= makes systemd refuse the unit), then sets the service's own lines, in
/// order, with the broker's path changed: nothing the service runs (`check`, `--user`)
/// is lost.
#[test]
fn the_local_drop_in_resets_and_repeats_every_command_line_of_the_service() {
    let service = exec_directives("fdbroker.service");
    let mut keys: Vec<&str> = Vec::new();
    for (key, _) in &service {
        if !keys.contains(&key.as_str()) {
            keys.push(key);
        }
    }
    let mut expected: Vec<(String, String)> = Vec::new();
    for key in keys {
        expected.push((key.to_owned(), String::new()));
        expected.extend(
            service
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(k, v)| (k.clone(), v.replace(SYSTEM_FDBROKER, LOCAL_FDBROKER))),
        );
    }
    assert_eq!(
        exec_directives(LOCAL_DROP_IN),
        expected,
        "{LOCAL_DROP_IN} vs fdbroker.service"
    );
}

/// The long flags `fdbroker SUBCOMMAND --help` lists.
fn help_flags(tree: &Tree, subcommand: &str) -> BTreeSet<String> {
    let out = tree
        .cmd(&tree.bin("fdbroker"))
        .args([subcommand, "--help"])
        .run();
    out.code_is(0);
    out.stdout_str()
        .split_whitespace()
        .filter(|w| w.starts_with("--"))
        .map(|w| w.trim_end_matches(',').to_owned())
        .collect()
}

// Every flag in the units' fdbroker command lines (the service's, and the local drop-in's)
// exists, and each line runs as written with the installed paths replaced by a test tree's: `check` accepts the example policy
// (the package installs one that grants nothing: `deb::`), `serve` accepts its arguments (`--print-privileges` stops it
// before it binds or writes anything), and `reload` reloads a broker serving that policy.
itest!(the_units_command_lines_use_real_flags_and_run, |tree| {
    let policy_text =
        std::fs::read_to_string(repo().join("examples/policy.toml")).expect("read the example");
    tree.dir("etc", 0o755);
    write_policy(&tree.path("etc/policy.toml"), &policy_text);
    tree.dir("log", 0o755);
    let broker = Broker::start(&tree, &policy_text);
    let lines = fdbroker_command_lines("fdbroker.service", SYSTEM_FDBROKER)
        .into_iter()
        .chain(fdbroker_command_lines(LOCAL_DROP_IN, LOCAL_FDBROKER));
    for words in lines {
        let subcommand = words[1].as_str();
        let known = help_flags(&tree, subcommand);
        for flag in words.iter().filter(|w| w.starts_with("--")) {
            assert!(
                known.contains(flag),
                "`fdbroker {subcommand}` has no {flag} (its --help lists {known:?})"
            );
        }
        let mut args: Vec<String> = words[1..]
            .iter()
            .map(|w| {
                w.replace(SYSTEM_POLICY, &tree.p("etc/policy.toml"))
                    .replace(SYSTEM_LOG_DIR, &tree.p("log"))
                    .replace(SYSTEM_SOCKET, &broker.socket_str())
            })
            .collect();
        // The service's own user exists where the package is installed; here, a user
        // that exists everywhere stands in for it.
        if let Some(at) = args.iter().position(|w| w == "--user") {
            args[at + 1] = "nobody".to_owned();
        }
        if subcommand == "serve" {
            args.push("--print-privileges".to_owned());
        }
        let out = tree.cmd(&tree.bin("fdbroker")).args(&args).run();
        out.code_is(0);
        if subcommand == "serve" {
            assert!(out.stdout_str().starts_with("capabilities: "), "{out}");
        }
    }
});

/// Where `name` is installed, if it is.
fn installed(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

fn note(message: &str) {
    // Straight to stderr: the test runner hides `eprintln!` of passing tests.
    let _ = writeln!(std::io::stderr(), "NOTE {message}");
}

/// `systemd-analyze`, or `None` (a SKIP line) where it is not installed; under
/// `FDBROKER_REQUIRE_ROOT` (CI, which installs systemd) its absence fails the test.
fn systemd_analyze_or_skip(test: &str) -> Option<PathBuf> {
    let analyze = installed("systemd-analyze");
    tools_or_skip(
        test,
        analyze
            .is_none()
            .then(|| "systemd-analyze is not installed (Debian: systemd)".to_owned()),
    )
    .then_some(analyze)
    .flatten()
}

/// `systemd-analyze verify` on the units written to `tree`'s `units/` (files as
/// (name, text), a drop-in's name with its `.d/` directory), which reads drop-ins next to
/// the units it is given. Its warnings (an unknown directive, a value this systemd cannot
/// parse, such as `Type=notify-reload` before systemd 253) do not change its exit status,
/// so any line naming our units fails too.
#[track_caller]
fn assert_systemd_verifies(analyze: &Path, tree: &Tree, files: &[(&str, String)]) {
    let units = tree.path("units");
    let mut paths = Vec::new();
    for (name, text) in files {
        let path = units.join(name);
        std::fs::create_dir_all(path.parent().expect("in units/")).expect("mkdir units/");
        std::fs::write(&path, text).expect("write the unit copy");
        if !name.contains('/') {
            paths.push(path);
        }
    }
    let out = Command::new(analyze)
        .args(["verify", "--man=no"])
        .args(&paths)
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("fdbroker.")).collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}

/// The units pass `systemd-analyze verify`, with their paths pointing into a test tree (it
/// checks that each command exists).
#[test]
fn systemd_analyze_verifies_the_units() {
    let Some(analyze) = systemd_analyze_or_skip("systemd_analyze_verifies_the_units") else {
        return;
    };
    let tree = Tree::new();
    let fdbroker = tree.bin("fdbroker");
    let files: Vec<(&str, String)> = ["fdbroker.socket", "fdbroker.service"]
        .into_iter()
        .map(|name| {
            let text = unit(name)
                .0
                .replace(SYSTEM_FDBROKER, fdbroker.to_str().expect("UTF-8"))
                .replace(SYSTEM_POLICY, &tree.p("policy.toml"));
            (name, text)
        })
        .collect();
    assert_systemd_verifies(&analyze, &tree, &files);
}

/// The local drop-in applied over the service passes `systemd-analyze verify` (the
/// obvious drop-in, a second `ExecStart=`, makes systemd refuse the unit). The service's
/// broker path is one that does not exist and the drop-in's is the built broker, so the
/// check fails unless the drop-in replaces every command line that runs the broker.
#[test]
fn systemd_analyze_verifies_the_local_drop_in_over_the_service() {
    let Some(analyze) =
        systemd_analyze_or_skip("systemd_analyze_verifies_the_local_drop_in_over_the_service")
    else {
        return;
    };
    let tree = Tree::new();
    let absent = tree.p("absent/fdbroker");
    let fdbroker = tree.bin("fdbroker");
    let files = [
        ("fdbroker.socket", unit("fdbroker.socket").0),
        (
            "fdbroker.service",
            unit("fdbroker.service").0.replace(SYSTEM_FDBROKER, &absent),
        ),
        (
            LOCAL_DROP_IN,
            unit(LOCAL_DROP_IN)
                .0
                .replace(LOCAL_FDBROKER, fdbroker.to_str().expect("UTF-8")),
        ),
    ];
    assert_systemd_verifies(&analyze, &tree, &files);
}

/// `logrotate --debug` (a dry run) accepts the logrotate file, pointed at a test tree.
#[test]
fn logrotate_accepts_its_config() {
    let Some(logrotate) = installed("logrotate") else {
        note("logrotate_accepts_its_config: not run: logrotate is not installed");
        return;
    };
    let tree = Tree::new();
    let text = std::fs::read_to_string(repo().join("examples/logrotate/fdbroker"))
        .expect("read examples/logrotate/fdbroker");
    assert!(
        text.contains(&format!("{SYSTEM_LOG_DIR}/audit.log {{")),
        "{text}"
    );
    tree.dir("log", 0o755);
    tree.file("log/audit.log", b"a record\n", 0o600);
    let config = tree.file(
        "logrotate.conf",
        text.replace(SYSTEM_LOG_DIR, &tree.p("log")).as_bytes(),
        0o644,
    );
    let out = Command::new(logrotate)
        .arg("--debug")
        .arg("--state")
        .arg(tree.path("logrotate.state"))
        .arg(&config)
        .output()
        .expect("run logrotate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !stderr.contains("error") && !stdout.contains("error"),
        "logrotate --debug: {}\n{stdout}\n{stderr}",
        out.status
    );
}

/// `[package.metadata.deb]` as cargo reads it (`cargo metadata`), for the broker.
fn deb_metadata() -> serde_json::Value {
    // The cargo running the tests, else the one that built them.
    let cargo = std::env::var("CARGO")
        .ok()
        .or(option_env!("CARGO").map(str::to_owned))
        .unwrap_or_else(|| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .arg("--manifest-path")
        .arg(repo().join("broker/Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    all["packages"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "fdbroker"))
        .map(|p| p["metadata"]["deb"].clone())
        .expect("fdbroker's [package.metadata.deb]")
}

/// Every asset of the deb is a workspace binary, a man page the `man` commands write
/// (gzipped), a shell completion the `completions` commands write, or a file of the
/// repository; binaries, units, man pages, completions and the policy go where the system
/// looks for them, and the policy and logrotate file are conffiles.
#[test]
fn the_deb_metadata_names_what_the_build_produces() {
    let deb = deb_metadata();
    let tree = Tree::new();
    let man_dir = tree.path("man");
    let completions_dir = tree.path("completions");
    for bin in ["fdbroker", "fdagent"] {
        tree.cmd(&tree.bin(bin))
            .args(["man", man_dir.to_str().expect("UTF-8")])
            .run()
            .code_is(0);
        tree.cmd(&tree.bin(bin))
            .args(["completions", completions_dir.to_str().expect("UTF-8")])
            .run()
            .code_is(0);
    }
    let assets = deb["assets"].as_array().expect("assets");
    let mut dests = BTreeSet::new();
    for asset in assets {
        let field = |i: usize| asset[i].as_str().expect("[source, dest, mode]");
        let (source, dest, mode) = (field(0), field(1), field(2));
        let file = Path::new(source)
            .file_name()
            .expect("a file")
            .to_string_lossy();
        let dest_file = if dest.ends_with('/') {
            format!("/{dest}{file}")
        } else {
            format!("/{dest}")
        };
        if let Some(gzipped) = source.strip_prefix("target/release/man/") {
            // The build gzips what `man` writes, as Debian wants manual pages.
            let page = gzipped.strip_suffix(".gz").expect("a gzipped manual page");
            assert!(
                man_dir.join(page).is_file(),
                "no `man` command writes {page}"
            );
            let section = page.rsplit('.').next().expect("a section");
            assert_eq!(dest, format!("usr/share/man/man{section}/"), "{page}");
            assert_eq!(mode, "644");
        } else if let Some(completion) = source.strip_prefix("target/release/completions/") {
            assert!(
                completions_dir.join(completion).is_file(),
                "no `completions` command writes {completion}"
            );
            assert_eq!(mode, "644");
        } else if let Some(bin) = source.strip_prefix("target/release/") {
            tree.bin(bin); // fails unless it is a binary the workspace builds
        } else if let Some((dir, pattern)) = source.rsplit_once("/*") {
            // A glob such as `../docs/*.md` (cargo-deb expands it): every match goes to
            // the destination directory, and there must be one.
            let matches = files_ending_with(&repo().join("broker").join(dir), pattern);
            assert!(!matches.is_empty(), "asset {source} matches no file");
            dests.extend(matches.iter().map(|name| format!("/{dest}{name}")));
            continue;
        } else {
            let path = repo().join("broker").join(source);
            assert!(path.is_file(), "asset {source} does not exist");
        }
        dests.insert(dest_file);
    }
    for expected in [
        "/usr/sbin/fdbroker",
        "/usr/bin/fdagent",
        "/etc/fdbroker/policy.toml",
        "/lib/systemd/system/fdbroker.socket",
        "/lib/systemd/system/fdbroker.service",
        "/etc/logrotate.d/fdbroker",
        "/usr/share/man/man8/fdbroker.8.gz",
        "/usr/share/man/man5/fdbroker-policy.5.gz",
        "/usr/share/man/man1/fdagent.1.gz",
        "/usr/share/bash-completion/completions/fdbroker",
        "/usr/share/bash-completion/completions/fdagent",
        "/usr/share/zsh/vendor-completions/_fdbroker",
        "/usr/share/zsh/vendor-completions/_fdagent",
        "/usr/share/fish/vendor_completions.d/fdbroker.fish",
        "/usr/share/fish/vendor_completions.d/fdagent.fish",
        "/usr/share/doc/fdbroker/README.md",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(docs_pages().map(|page| format!("/usr/share/doc/fdbroker/docs/{page}")))
    {
        assert!(
            dests.contains(&expected),
            "the deb does not install {expected}: {dests:?}"
        );
    }
    let policy = assets
        .iter()
        .find(|a| a[1] == "etc/fdbroker/policy.toml")
        .expect("the policy asset");
    assert_eq!(policy[2], "600", "the policy is root's alone");
    let conf_files: Vec<&str> = deb["conf-files"]
        .as_array()
        .expect("conf-files")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(
        conf_files,
        ["/etc/fdbroker/policy.toml", "/etc/logrotate.d/fdbroker"]
    );
}

/// The names in `dir` that end with `suffix`, sorted.
fn files_ending_with(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(suffix))
        .collect();
    names.sort();
    names
}

/// The documentation pages under `docs/` (README.md links them; the package installs
/// them next to it).
pub fn docs_pages() -> impl Iterator<Item = String> {
    files_ending_with(&repo().join("docs"), ".md").into_iter()
}
