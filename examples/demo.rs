//! The fdbroker demo: the scanner pattern in one command. A broker with the example
//! policy; clients under two distinct uids, one allowed and one denied; the scanner
//! daemon, unprivileged, scanning root-only uploads through brokered fds with ClamAV's
//! clamd (itself unable to open them); the stock `clamdscan` under `fdagent exec`; and the
//! audit lines the broker wrote.
//!
//! Run as root, after building: `cargo build --workspace --bins --examples && cargo run
//! --example demo`. With ClamAV installed (README.md, "Try it", installs it without
//! starting any ClamAV service) it starts a private clamd with an EICAR-only signature
//! database, offline; without, the scanner uses its built-in EICAR scan. It works in a fresh temporary directory (the
//! example policy's `/srv/` paths are moved under it), removed afterwards, and written
//! `$DEMO` in the transcript after the first line says where it is.

#[path = "scanner/private_clamd.rs"]
mod private_clamd;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{PermissionsExt, chown, symlink};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use private_clamd::PrivateClamd;

const SCANNER_UID: u32 = 2001;
const STRANGER_UID: u32 = 2002;
const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// How long the broker and the scanner daemon may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(10);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The demo's temporary directory, written `$DEMO` in what the demo prints: the paths
/// that matter are the ones under it, and it is long.
static DEMO_DIR: OnceLock<String> = OnceLock::new();

/// `println!`, with the demo's directory written `$DEMO`.
macro_rules! say {
    ($($arg:tt)*) => {
        show(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// Prints `text` as it is, but for the demo's directory, written `$DEMO`.
fn show(text: &str) {
    match DEMO_DIR.get() {
        Some(dir) => print!("{}", text.replace(dir.as_str(), "$DEMO")),
        None => print!("{text}"),
    }
}

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
    let dir = root.to_str().ok_or("temporary path is not UTF-8")?;
    println!("== the demo works in {dir}, written $DEMO below");
    DEMO_DIR.get_or_init(|| dir.to_owned());
    let uploads = make_uploads(root)?;
    let upload = |name: &str| uploads.join(name).display().to_string();

    // The example policy, with its /srv/ moved into the demo's directory.
    let etc = root.join("etc");
    fs::create_dir(&etc)?;
    fs::set_permissions(&etc, fs::Permissions::from_mode(0o700))?;
    let policy_file = etc.join("policy.toml");
    let srv = format!("\"{}/", root.join("srv").display());
    fs::write(
        &policy_file,
        include_str!("policy.toml").replace("\"/srv/", &srv),
    )?;
    fs::set_permissions(&policy_file, fs::Permissions::from_mode(0o600))?;
    say!(
        "\n== the policy, {}: examples/policy.toml with /srv/ moved to $DEMO/srv/ \
         (comments left out)",
        policy_file.display()
    );
    show(&policy_rules(&fs::read_to_string(&policy_file)?));
    let fdbroker = bin.join("fdbroker");
    say!("\n== fdbroker check {}", policy_file.display());
    let check = Command::new(&fdbroker)
        .arg("check")
        .arg(&policy_file)
        .output()?;
    show(&String::from_utf8_lossy(&check.stdout));
    show(&String::from_utf8_lossy(&check.stderr));
    if !check.status.success() {
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
    let fdagent = clients.join("fdagent");

    let socket = root.join("fdbroker.sock");
    let log = root.join("broker.log");
    let broker = Broker::start(&fdbroker, &policy_file, &socket, &log)?;
    let sock = socket.to_str().ok_or("temporary path is not UTF-8")?;
    let clamd = start_clamd(root, &uploads)?;

    let report = upload("report.txt");
    say!("\n== uid {SCANNER_UID} (named in rule \"scanner-reads-uploads\"): fdagent cat {report}");
    client(SCANNER_UID, &fdagent, &["--socket", sock, "cat", &report])?;
    say!("\n== uid {STRANGER_UID} (named in no rule): fdagent cat {report}");
    client(STRANGER_UID, &fdagent, &["--socket", sock, "cat", &report])?;

    let mut scanner_args = vec!["--socket".to_owned(), sock.to_owned()];
    if let Some(clamd) = &clamd {
        scanner_args.extend(["--clamd".to_owned(), clamd.socket().display().to_string()]);
    }
    scan_jobs(root, &clients.join("scanner"), &scanner_args, &uploads)?;

    if let Some(clamd) = &clamd {
        let config = format!("--config-file={}", clamd.config().display());
        for file in ["invoice.pdf", "quarantine/old.bin"] {
            let file = upload(file);
            say!(
                "\n== uid {SCANNER_UID}, the stock client: fdagent exec {file} -- clamdscan --config-file=CONF --no-summary --fdpass -"
            );
            let args = ["--socket", sock, "exec", &file, "--", "clamdscan", &config];
            let clamdscan = ["--no-summary", "--fdpass", "-"];
            client(SCANNER_UID, &fdagent, &[&args[..], &clamdscan].concat())?;
        }
        say!("(exit 1 is clamdscan's FOUND; 77 is fdagent's denial: clamdscan never ran)");
    }

    drop(clamd);
    drop(broker);
    say!(
        "\n== the broker's audit lines (its log, from {}, prefixes cut, $DEMO as above): who \
         asked for what, what was granted or denied, by which rule",
        log.display()
    );
    for line in fs::read_to_string(&log)?.lines() {
        if let Some((_, audit)) = line.split_once(" audit] ") {
            say!("{audit}");
        }
    }
    Ok(())
}

/// A policy's text without its comments and the blank lines they leave, one blank line
/// before each rule.
fn policy_rules(policy: &str) -> String {
    let mut rules = String::new();
    for line in policy.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "[[rule]]" {
            rules.push('\n');
        }
        rules.push_str(line);
        rules.push('\n');
    }
    rules
}

/// The uploads: root-only (0700 directories, 0600 files), so neither the clients nor
/// clamd could open them by path. One file carries the EICAR test signature; the
/// quarantine is off limits by a deny rule; a symbolic link points at /etc/shadow.
fn make_uploads(root: &Path) -> Result<PathBuf> {
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
    Ok(uploads)
}

/// A private clamd, if ClamAV is installed, shown to be unable to open the uploads itself.
fn start_clamd(root: &Path, uploads: &Path) -> Result<Option<PrivateClamd>> {
    let program = match PrivateClamd::find() {
        Ok(program) => program,
        Err(why) => {
            say!("\n== {why}: the scanner will use its built-in EICAR scan");
            return Ok(None);
        }
    };
    let clamd = PrivateClamd::start(&program, &root.join("clamd"), "")?;
    let version = clamd.command(b"zVERSION\0")?;
    say!("\n== clamd ({version}), unmodified, running as user clamav, offline, with a");
    say!("   private database that knows only the EICAR test signature");
    let invoice = uploads.join("invoice.pdf");
    let by_path = clamd.command(format!("zSCAN {}\0", invoice.display()).as_bytes())?;
    say!("clamd asked to scan {} by path itself:", invoice.display());
    say!("   {by_path}");
    Ok(Some(clamd))
}

/// Runs the scanner daemon as the scanner's uid, with its job socket in a directory of
/// its own, submits two jobs (the uploads tree, and the symbolic link) and shows the
/// answers and the daemon's log.
fn scan_jobs(root: &Path, scanner: &Path, args: &[String], uploads: &Path) -> Result<()> {
    let jobs = root.join("jobs");
    fs::create_dir(&jobs)?;
    fs::set_permissions(&jobs, fs::Permissions::from_mode(0o700))?;
    chown(&jobs, Some(SCANNER_UID), Some(SCANNER_UID))?;
    let job_socket = jobs.join("scan.sock");
    let daemon_log = root.join("scanner.log");
    say!(
        "\n== uid {SCANNER_UID}: the scanner daemon, unprivileged: scanner {} --listen {}",
        args.join(" "),
        job_socket.display()
    );
    let daemon = Reaped(
        as_uid(SCANNER_UID)
            .arg(scanner)
            .args(args)
            .arg("--listen")
            .arg(&job_socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&daemon_log)?)
            .spawn()?,
    );
    let deadline = Instant::now() + START_TIMEOUT;
    let mut conn = loop {
        match UnixStream::connect(&job_socket) {
            Ok(conn) => break conn,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("the scanner daemon does not listen: {e}").into()),
        }
    };
    // The trailing `/` says the first is a directory, which the scanner cannot see.
    let job_list = [
        format!("{}/", uploads.display()),
        uploads.join("shadow-link").display().to_string(),
    ];
    say!("root submits two jobs, one path per line (a directory ends with /):");
    let mut job_lines = String::new();
    for job in &job_list {
        say!("   {job}");
        job_lines.push_str(&format!("{job}\n"));
    }
    conn.set_read_timeout(Some(START_TIMEOUT))?;
    conn.write_all(job_lines.as_bytes())?;
    conn.shutdown(std::net::Shutdown::Write)?;
    let mut answers = String::new();
    conn.read_to_string(&mut answers)?;
    say!("and reads the answers:");
    show(&answers);
    drop(daemon);
    say!("the daemon's log:");
    show(&fs::read_to_string(&daemon_log)?);
    Ok(())
}

/// Runs `program args` as `uid` (and gid `uid`, no supplementary groups), showing its
/// output, then its errors, then its exit status, all on stdout so that the transcript
/// reads the same in a pipe.
fn client(uid: u32, program: &Path, args: &[&str]) -> Result<()> {
    let output = as_uid(uid)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run setpriv (util-linux): {e}"))?;
    show(&String::from_utf8_lossy(&output.stdout));
    show(&String::from_utf8_lossy(&output.stderr));
    say!(
        "-> exit status {}",
        output
            .status
            .code()
            .map_or("killed".into(), |c| c.to_string())
    );
    Ok(())
}

/// `setpriv` switching to `uid` (gid `uid`, no supplementary groups) before it execs the
/// program that follows.
fn as_uid(uid: u32) -> Command {
    let mut command = Command::new("setpriv");
    command.args([
        format!("--reuid={uid}"),
        format!("--regid={uid}"),
        "--clear-groups".into(),
        "--".into(),
    ]);
    command
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

/// A child process killed and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
        let deadline = Instant::now() + START_TIMEOUT;
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
/// sockets; what is inside is root-only.
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
