//! Running a client process as a chosen uid/gid/groups, with a timeout, and reporting
//! everything about it when an assertion fails.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::wait_until;

/// How long any client may run before it is killed and the test fails.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// An unprivileged identity: the uid, primary gid and supplementary groups a client runs
/// with. The ids need no `/etc/passwd` entry.
#[derive(Debug, Clone, Copy)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub groups: &'static [u32],
}

static NEXT_RUN: AtomicUsize = AtomicUsize::new(0);

/// A command to run, built like `std::process::Command`; `run()` waits for it with a
/// timeout and returns everything it did.
#[derive(Debug)]
pub struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    user: Option<User>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    cwd: PathBuf,
    scratch: PathBuf,
    timeout: Duration,
    broker_log: Option<PathBuf>,
    cgroup: Option<PathBuf>,
}

impl Cmd {
    /// `program` run as root (the test's own identity), with a cleared environment, in
    /// `cwd`; its stdio files go to `scratch`.
    pub fn new(program: &Path, cwd: &Path, scratch: &Path) -> Cmd {
        Cmd {
            program: program.to_path_buf(),
            args: Vec::new(),
            user: None,
            env: Vec::new(),
            stdin: None,
            cwd: cwd.to_path_buf(),
            scratch: scratch.to_path_buf(),
            timeout: CLIENT_TIMEOUT,
            broker_log: None,
            cgroup: None,
        }
    }

    /// Run as `user` (through `setpriv`, which switches ids before exec, so the process
    /// connects with those credentials and no capabilities).
    pub fn user(mut self, user: User) -> Cmd {
        self.user = Some(user);
        self
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Cmd {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Cmd {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Feed `data` on stdin (otherwise stdin is /dev/null).
    pub fn stdin(mut self, data: &[u8]) -> Cmd {
        self.stdin = Some(data.to_vec());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Cmd {
        self.timeout = timeout;
        self
    }

    /// Start the command in the cgroup v2 directory `cgroup` (see [`super::cgroup`]).
    pub fn cgroup(mut self, cgroup: &Path) -> Cmd {
        self.cgroup = Some(cgroup.to_path_buf());
        self
    }

    /// Include this broker log in failure reports.
    pub fn broker_log(mut self, log: &Path) -> Cmd {
        self.broker_log = Some(log.to_path_buf());
        self
    }

    /// Runs the command to completion. stdout and stderr go to files (not pipes) so a
    /// grandchild holding them open cannot make the wait hang; past the timeout the child
    /// is killed and the test fails with the full report.
    ///
    /// An exec that fails with "Text file busy" is retried: the binary was just copied into
    /// the tree, and a child another test forked during the copy may still hold the copy's
    /// write fd for the instant before its own exec.
    pub fn run(self) -> Output {
        for _ in 0..50 {
            match self.run_once() {
                Some(output)
                    if !(output.code() == Some(126)
                        && output.stderr.contains("Text file busy")) =>
                {
                    return output;
                }
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        panic!(
            "{:?}: exec still fails with \"Text file busy\" after 50 tries",
            self.program
        );
    }

    /// Starts the command without waiting for it, stdio to `/dev/null`: for tests that
    /// kill clients mid-request. The caller must kill and wait for the child.
    pub fn spawn(self) -> std::process::Child {
        let mut command = self.command();
        command
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for _ in 0..50 {
            match command.spawn() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                spawned => return spawned.unwrap_or_else(|e| panic!("spawn {command:?}: {e}")),
            }
        }
        panic!("{command:?}: exec still fails with \"Text file busy\" after 50 tries");
    }

    /// One run; `None` when spawning failed with `ETXTBSY`.
    fn run_once(&self) -> Option<Output> {
        let n = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let out_path = self.scratch.join(format!("{n}.stdout"));
        let err_path = self.scratch.join(format!("{n}.stderr"));
        let mut command = self.command();
        let description = format!("{command:?}");
        command
            .current_dir(&self.cwd)
            .stdout(File::create(&out_path).expect("create stdout file"))
            .stderr(File::create(&err_path).expect("create stderr file"));
        match &self.stdin {
            Some(data) => {
                let in_path = self.scratch.join(format!("{n}.stdin"));
                fs::write(&in_path, data).expect("write stdin file");
                command.stdin(File::open(&in_path).expect("open stdin file"));
            }
            None => {
                command.stdin(Stdio::null());
            }
        }
        let start = Instant::now();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => return None,
            Err(e) => panic!("spawn {description}: {e}"),
        };
        let pid = child.id();
        let status = wait_until(self.timeout, || child.try_wait().expect("try_wait"));
        let elapsed = start.elapsed();
        let timed_out = status.is_none();
        let status = status.unwrap_or_else(|| {
            let _ = child.kill();
            child.wait().expect("wait after kill")
        });
        let output = Output {
            command: description,
            pid,
            status,
            elapsed,
            stdout: fs::read(&out_path).expect("read stdout file"),
            stderr: String::from_utf8_lossy(&fs::read(&err_path).expect("read stderr file"))
                .into_owned(),
            broker_log: self
                .broker_log
                .as_deref()
                .map(|p| fs::read_to_string(p).unwrap_or_default()),
        };
        if timed_out {
            output.fail(&format!(
                "timed out after {:?} and was killed",
                self.timeout
            ));
        }
        Some(output)
    }

    fn command(&self) -> Command {
        let mut command = match self.user {
            None => Command::new(&self.program),
            Some(user) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={}", user.uid))
                    .arg(format!("--regid={}", user.gid));
                if user.groups.is_empty() {
                    c.arg("--clear-groups");
                } else {
                    let groups: Vec<String> = user.groups.iter().map(u32::to_string).collect();
                    c.arg(format!("--groups={}", groups.join(",")));
                }
                c.arg("--").arg(&self.program);
                c
            }
        };
        command
            .args(&self.args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin");
        for (k, v) in &self.env {
            command.env(k, v);
        }
        if let Some(cgroup) = &self.cgroup {
            join_cgroup(&mut command, cgroup);
        }
        command
    }
}

/// Makes `command`'s child move itself into `cgroup` before it executes, while still
/// root: writing 0 to `cgroup.procs` moves the writer.
#[allow(unsafe_code)]
fn join_cgroup(command: &mut Command, cgroup: &Path) {
    use std::os::unix::process::CommandExt;
    let procs = std::ffi::CString::new(
        cgroup
            .join("cgroup.procs")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .expect("cgroup path without NUL");
    // SAFETY: the closure runs in the forked child before exec and only makes system calls
    // (open, write, close) on data prepared before the fork: it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            let fd = rustix::fs::open(
                procs.as_c_str(),
                rustix::fs::OFlags::WRONLY,
                rustix::fs::Mode::empty(),
            )?;
            rustix::io::write(&fd, b"0")?;
            Ok(())
        });
    }
}

/// What a finished command did. `Display` is the failure report: command, status, stdout,
/// stderr and the broker's log at the time the command ended.
#[derive(Debug)]
pub struct Output {
    pub command: String,
    /// The pid of the client: `setpriv` execs the program, so it is the program's pid too.
    pub pid: u32,
    pub status: ExitStatus,
    pub elapsed: Duration,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub broker_log: Option<String>,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Fails the test with `msg` and the full report.
    #[track_caller]
    pub fn fail(&self, msg: &str) -> ! {
        panic!("{msg}\n{self}")
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code_is(&self, code: i32) -> &Output {
        if self.code() != Some(code) {
            self.fail(&format!("expected exit code {code}"));
        }
        self
    }

    /// Asserts stdout byte for byte.
    #[track_caller]
    pub fn stdout_is(&self, expected: impl AsRef<[u8]>) -> &Output {
        let expected = expected.as_ref();
        if self.stdout != expected {
            self.fail(&format!(
                "expected stdout {:?}",
                String::from_utf8_lossy(expected)
            ));
        }
        self
    }

    /// Asserts stderr is empty.
    #[track_caller]
    pub fn no_stderr(&self) -> &Output {
        if !self.stderr.is_empty() {
            self.fail("expected empty stderr");
        }
        self
    }

    /// Asserts stderr contains `needle`.
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Output {
        if !self.stderr.contains(needle) {
            self.fail(&format!("expected stderr to contain {needle:?}"));
        }
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "---- command: {}", self.command)?;
        writeln!(
            f,
            "---- pid {}, {} after {:?}",
            self.pid, self.status, self.elapsed
        )?;
        writeln!(f, "---- stdout:\n{}", String::from_utf8_lossy(&self.stdout))?;
        writeln!(f, "---- stderr:\n{}", self.stderr)?;
        if let Some(log) = &self.broker_log {
            writeln!(f, "---- broker log:\n{log}")?;
        }
        write!(f, "----")
    }
}
