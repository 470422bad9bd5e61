//! The fdbroker demo: a broker with the example policy, and clients under two distinct
//! uids, one allowed and one denied, with the audit lines the broker wrote.
//!
//! Run as root, after building: `cargo build --workspace --bins --examples && cargo run
//! --example demo`. It works in a fresh temporary directory: the example policy's `/srv/`
//! paths are moved under it, and it is removed afterwards.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCANNER_UID: u32 = 2001;
const STRANGER_UID: u32 = 2002;
const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() {
    if let Err(e) = run() {
        eprintln!("demo: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        return Err(
            "run the demo as root: the broker needs root to open root-only files, and \
                    the demo switches the clients to other uids"
                .into(),
        );
    }
    let bin = binaries_dir()?;
    let demo = TempTree::new()?;
    let root = demo.0.as_path();

    // The files: root-only, so neither client could open them by path.
    let srv = root.join("srv");
    let uploads = srv.join("uploads");
    fs::create_dir_all(uploads.join("quarantine"))?;
    fs::create_dir_all(srv.join("reports"))?;
    fs::write(uploads.join("report.txt"), "quarterly figures: all good\n")?;
    fs::write(uploads.join("invoice.pdf"), format!("%PDF-1.4 {EICAR}\n"))?;
    fs::write(uploads.join("quarantine/old.bin"), "held back\n")?;
    symlink("/etc/shadow", uploads.join("shadow-link"))?;
    for dir in [
        &srv,
        &uploads,
        &uploads.join("quarantine"),
        &srv.join("reports"),
    ] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    for file in ["report.txt", "invoice.pdf", "quarantine/old.bin"] {
        fs::set_permissions(uploads.join(file), fs::Permissions::from_mode(0o600))?;
    }

    // The example policy, with its /srv/ moved into the demo's directory.
    let example = include_str!("policy.toml");
    let policy_file = root.join("policy.toml");
    fs::write(
        &policy_file,
        example.replace("\"/srv/", &format!("\"{}/", srv.display())),
    )?;
    fs::set_permissions(&policy_file, fs::Permissions::from_mode(0o600))?;
    let fdbroker = bin.join("fdbroker");
    println!("== fdbroker check {}", policy_file.display());
    let status = Command::new(&fdbroker)
        .arg("check")
        .arg(&policy_file)
        .status()?;
    if !status.success() {
        return Err("the example policy does not check".into());
    }

    // Clients run binaries from a directory their uids can reach.
    let clients = root.join("bin");
    fs::create_dir(&clients)?;
    for name in ["fdagent", "examples/scanner"] {
        let target = clients.join(Path::new(name).file_name().unwrap_or_default());
        fs::copy(bin.join(name), &target)
            .map_err(|e| format!("{}: {e}", bin.join(name).display()))?;
    }

    let socket = root.join("fdbroker.sock");
    let log = root.join("broker.log");
    let broker = Broker::start(&fdbroker, &policy_file, &socket, &log)?;
    let sock = socket.to_str().ok_or("temporary path is not UTF-8")?;
    let fdagent = clients.join("fdagent");
    let report = uploads.join("report.txt");
    let report = report.to_str().ok_or("temporary path is not UTF-8")?;

    println!(
        "\n== uid {SCANNER_UID} (named in rule \"scanner-reads-uploads\"): fdagent cat {report}"
    );
    client(SCANNER_UID, &fdagent, &["--socket", sock, "cat", report])?;
    println!("\n== uid {STRANGER_UID} (named in no rule): fdagent cat {report}");
    client(STRANGER_UID, &fdagent, &["--socket", sock, "cat", report])?;

    let scan: Vec<String> = [
        "report.txt",
        "invoice.pdf",
        "quarantine/old.bin",
        "shadow-link",
    ]
    .iter()
    .map(|f| uploads.join(f).display().to_string())
    .collect();
    let mut args = vec!["--socket", sock];
    args.extend(scan.iter().map(String::as_str));
    println!("\n== uid {SCANNER_UID}: scanner (an unprivileged virus scanner) over the uploads");
    client(SCANNER_UID, &clients.join("scanner"), &args)?;

    drop(broker);
    println!("\n== the broker's log (audit lines say who asked for what, and which rule decided)");
    print!("{}", fs::read_to_string(&log)?);
    Ok(())
}

/// Runs `program args` as `uid` (and gid `uid`, no supplementary groups), showing its output
/// and exit status.
fn client(uid: u32, program: &Path, args: &[&str]) -> Result<()> {
    let status = Command::new("setpriv")
        .args([
            format!("--reuid={uid}"),
            format!("--regid={uid}"),
            "--clear-groups".into(),
            "--".into(),
        ])
        .arg(program)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run setpriv (util-linux): {e}"))?;
    println!(
        "-> exit status {}",
        status.code().map_or("killed".into(), |c| c.to_string())
    );
    Ok(())
}

/// Where `cargo build` put the binaries: this example lives in target/<profile>/examples/.
fn binaries_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot locate the target directory")?;
    for name in ["fdbroker", "fdagent", "examples/scanner"] {
        if !dir.join(name).exists() {
            return Err(format!(
                "{} is missing: run `cargo build --workspace --bins --examples` first",
                dir.join(name).display()
            )
            .into());
        }
    }
    Ok(dir.to_path_buf())
}

/// A running broker, stopped with SIGTERM when dropped.
struct Broker(Child);

impl Broker {
    fn start(fdbroker: &Path, policy: &Path, socket: &Path, log: &Path) -> Result<Broker> {
        let child = Command::new(fdbroker)
            .arg("serve")
            .arg("--policy")
            .arg(policy)
            .arg("--socket")
            .arg(socket)
            .env("RUST_LOG", "info")
            .stderr(fs::File::create(log)?)
            .stdout(Stdio::null())
            .spawn()?;
        let broker = Broker(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !fs::read_to_string(log)?.contains("listening on") {
            if Instant::now() > deadline {
                return Err(
                    format!("the broker did not start:\n{}", fs::read_to_string(log)?).into(),
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(broker)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.0);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let _ = self.0.wait();
    }
}

/// A fresh directory, removed when dropped. World-traversable so the clients can reach the
/// socket; what is inside is root-only.
struct TempTree(PathBuf);

impl TempTree {
    fn new() -> Result<TempTree> {
        let path = std::env::temp_dir().join(format!("fdbroker-demo-{}", std::process::id()));
        fs::create_dir(&path)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        Ok(TempTree(path))
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
