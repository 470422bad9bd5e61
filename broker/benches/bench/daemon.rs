//! The servers under test as processes: the real `fdbroker serve` (release build, audit
//! log at its default level to a file) and the floor, both killed with the bench.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fdbroker_agent::Client;
use rustix::process::Signal;

use crate::floor::Duties;
use crate::sys::{self, Placement, Reaped};
use crate::tree::Tree;

/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The broker binary this bench was built with (the release build under `cargo bench`).
pub fn fdbroker_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fdbroker"))
}

/// `fdagent`, which is another package's binary: found next to `fdbroker`.
pub fn fdagent_exe() -> io::Result<PathBuf> {
    let path = fdbroker_exe().with_file_name("fdagent");
    if path.is_file() {
        Ok(path)
    } else {
        Err(io::Error::other(format!(
            "{} not found: run `cargo build --release --workspace` first",
            path.display()
        )))
    }
}

/// A running `fdbroker serve`.
#[derive(Debug)]
pub struct Broker {
    proc: Reaped,
    pub socket: PathBuf,
    pub policy: PathBuf,
    pub log: PathBuf,
}

impl Broker {
    /// Writes `policy` to `run/NAME.toml` and serves it on `NAME.sock`, logging with
    /// `RUST_LOG=info` (the default: one audit line per file) to `run/NAME.log`; returns
    /// once a ping is answered.
    pub fn start(tree: &Tree, name: &str, policy: &str) -> io::Result<Broker> {
        Broker::start_with(tree, name, policy, &[])
    }

    /// Like [`Broker::start`], with `extra` arguments to `serve`.
    pub fn start_with(tree: &Tree, name: &str, policy: &str, extra: &[&str]) -> io::Result<Broker> {
        let policy_path = tree.path(&format!("run/{name}.toml"));
        fs::write(&policy_path, policy)?;
        let socket = tree.path(&format!("{name}.sock"));
        let log = tree.path(&format!("run/{name}.log"));
        let log_file = File::options().create(true).append(true).open(&log)?;
        let mut cmd = Command::new(fdbroker_exe());
        cmd.arg("serve")
            .arg("--policy")
            .arg(&policy_path)
            .arg("--socket")
            .arg(&socket)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let mut proc = Reaped::spawn("fdbroker serve", &mut cmd)?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            proc.check_running()
                .map_err(|e| io::Error::other(format!("{e}; log:\n{}", tail(&log))))?;
            if Client::connect(&socket).and_then(|mut c| c.ping()).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "the broker did not answer a ping; log:\n{}",
                    tail(&log)
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Broker {
            proc,
            socket,
            policy: policy_path,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Places every thread of the broker.
    pub fn place(&mut self, placement: Placement) -> io::Result<()> {
        self.proc.check_running()?;
        sys::place_process(self.pid(), placement)
    }

    pub fn rss(&self) -> io::Result<u64> {
        sys::rss_bytes(self.pid())
    }

    /// How many fds the broker has open.
    pub fn open_fds(&self) -> io::Result<usize> {
        Ok(fs::read_dir(format!("/proc/{}/fd", self.pid()))?.count())
    }

    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).expect("nonzero pid");
        Ok(rustix::process::kill_process(pid, signal)?)
    }

    /// The Landlock rules this broker confined itself with, as `PATH=RIGHT,RIGHT`, read
    /// from `serve --print-privileges` on the same policy and socket: what
    /// [`Duties::landlock`] applies to give the floor the same confinement.
    pub fn landlock_rules(&self) -> io::Result<Vec<String>> {
        let out = Command::new(fdbroker_exe())
            .arg("serve")
            .arg("--policy")
            .arg(&self.policy)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--print-privileges")
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let rules: Vec<String> = text
            .lines()
            .skip_while(|line| !line.starts_with("landlock:"))
            .skip(1)
            .map_while(|line| {
                // `  PATH [Right,Right] (why)`
                let line = line.strip_prefix("  ")?;
                let (path, rest) = line.split_once(" [")?;
                let (rights, _) = rest.split_once(']')?;
                Some(format!("{path}={rights}"))
            })
            .collect();
        if !out.status.success() || rules.is_empty() {
            return Err(io::Error::other(format!(
                "no Landlock rules in `fdbroker serve --print-privileges`:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(rules)
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails (with the log's tail) if the broker has exited.
    pub fn check_running(&mut self) -> io::Result<()> {
        self.proc
            .check_running()
            .map_err(|e| io::Error::other(format!("{e}; log:\n{}", tail(&self.log))))
    }
}

/// The last lines of a log, for error messages.
fn tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A running floor server (`__floor SOCKET`), single-threaded.
#[derive(Debug)]
pub struct Floor {
    proc: Reaped,
    pub socket: PathBuf,
}

impl Floor {
    /// Starts the floor on `NAME.sock`, as root (it opens the root-only files).
    pub fn start(tree: &Tree, name: &str) -> io::Result<Floor> {
        Floor::start_with(tree, name, &Duties::default())
    }

    /// Starts the floor with `duties` (see [`Duties`]).
    pub fn start_with(tree: &Tree, name: &str, duties: &Duties) -> io::Result<Floor> {
        let socket = tree.path(&format!("{name}.sock"));
        let mut cmd = Command::new(&tree.bench_exe);
        cmd.arg("__floor").arg(&socket).args(duties.args());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut proc = Reaped::spawn("floor server", &mut cmd)?;
        let mut out = BufReader::new(proc.child.stdout.take().expect("piped"));
        let mut line = String::new();
        out.read_line(&mut line)?;
        if line.trim() != "ready" {
            return Err(io::Error::other(format!("floor server said {line:?}")));
        }
        Ok(Floor { proc, socket })
    }

    pub fn place(&mut self, placement: Placement) -> io::Result<()> {
        self.proc.check_running()?;
        sys::place_process(self.proc.pid(), placement)
    }
}
