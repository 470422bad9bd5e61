//! The `Broker` guard: a real `fdbroker serve` on a socket inside a test tree, logging to a
//! file, stopped (and its log shown if the test failed) on drop.

use std::fs::{self, File};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use fdbroker_wire::{Request, Response};
use rustix::process::{Pid, Signal};

use super::raw::{RawConn, read};
use super::run::{Cmd, Output, User};
use super::seccomp::Seccomp;
use super::{Tree, bins, wait_until};

/// How long the broker may take to start serving, to apply a reload, or to exit.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// A running broker. Dropping it sends SIGTERM, waits (bounded), then SIGKILLs.
#[derive(Debug)]
pub struct Broker<'t> {
    tree: &'t Tree,
    child: Option<Child>,
    policy: PathBuf,
    socket: PathBuf,
    log: PathBuf,
}

impl<'t> Broker<'t> {
    /// Writes `policy` and starts the broker with it on `tree/fdbroker.sock`; returns once
    /// a ping over the socket is answered.
    pub fn start(tree: &'t Tree, policy: &str) -> Broker<'t> {
        Self::start_with(tree, policy, &[])
    }

    /// Like `start`, with extra `serve` arguments.
    pub fn start_with(tree: &'t Tree, policy: &str, extra: &[&str]) -> Broker<'t> {
        Self::start_logging(tree, policy, extra, "info")
    }

    /// Like `start_with`, logging at `rust_log` (`RUST_LOG`) instead of `info`.
    pub fn start_logging(
        tree: &'t Tree,
        policy: &str,
        extra: &[&str],
        rust_log: &str,
    ) -> Broker<'t> {
        let mut broker = Self::spawn(tree, policy, extra, rust_log);
        broker.wait_ready();
        broker.settle();
        broker
    }

    /// Waits (best effort, briefly) until the broker has closed the connection of the
    /// readiness ping, so that a test's `fd_count()` baseline right after start is exact:
    /// the listener is then its only socket.
    fn settle(&self) {
        wait_until(Duration::from_secs(1), || {
            let sockets = fs::read_dir(format!("/proc/{}/fd", self.pid()))
                .ok()?
                .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count();
            (sockets <= 1).then_some(())
        });
    }

    /// Like `start_with`, launched as `launch` says (under a seccomp filter, with an
    /// inherited fd).
    pub fn launch(tree: &'t Tree, policy: &str, extra: &[&str], launch: Launch) -> Broker<'t> {
        let mut broker = Self::spawn_launched(tree, policy, extra, "info", launch);
        broker.wait_ready();
        broker.settle();
        broker
    }

    /// Launches a broker that must fail to start: waits for it to exit (bounded) and
    /// returns its exit code and log.
    #[track_caller]
    pub fn launch_fails(
        tree: &'t Tree,
        policy: &str,
        extra: &[&str],
        launch: Launch,
    ) -> (Option<i32>, String) {
        let mut broker = Self::spawn_launched(tree, policy, extra, "info", launch);
        let child = broker.child.as_mut().expect("broker running");
        match wait_until(BROKER_TIMEOUT, || child.try_wait().expect("try_wait")) {
            Some(status) => {
                broker.child = None;
                (status.code(), broker.log())
            }
            None => broker.fail("the broker was expected to exit at start, and did not"),
        }
    }

    /// Writes `policy` to the tree's `policy.toml` and runs `fdbroker serve
    /// --print-privileges --policy FILE EXTRA` as root: what a broker would keep, without
    /// serving.
    pub fn print_privileges(tree: &Tree, policy: &str, extra: &[&str]) -> Output {
        let path = tree.path("policy.toml");
        write_policy(&path, policy);
        tree.cmd(&tree.bin("fdbroker"))
            .args(["serve", "--print-privileges", "--policy"])
            .arg(&path)
            .args(extra)
            .run()
    }

    /// Writes `policy` and spawns `fdbroker serve` without waiting for it to serve.
    fn spawn(tree: &'t Tree, policy: &str, extra: &[&str], rust_log: &str) -> Broker<'t> {
        Self::spawn_launched(tree, policy, extra, rust_log, Launch::default())
    }

    fn spawn_launched(
        tree: &'t Tree,
        policy: &str,
        extra: &[&str],
        rust_log: &str,
        launch: Launch,
    ) -> Broker<'t> {
        let policy_path = tree.path("policy.toml");
        write_policy(&policy_path, policy);
        let socket = tree.path("fdbroker.sock");
        let log = tree.path("run/broker.log");
        let log_file = File::create(&log).expect("create broker log");
        let mut command = Command::new(bins::bin("fdbroker"));
        command
            .arg("serve")
            .arg("--policy")
            .arg(&policy_path)
            .arg("--socket")
            .arg(&socket)
            .args(extra)
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("dup log file"))
            .stderr(log_file);
        launch.prepare(&mut command);
        let child = command.spawn().expect("spawn fdbroker");
        Broker {
            tree,
            child: Some(child),
            policy: policy_path,
            socket,
            log,
        }
    }

    /// Polls until a ping is answered with `Pong`; fails with the log if the broker exits
    /// or does not answer within the timeout.
    fn wait_ready(&mut self) {
        let socket = self.socket.clone();
        let child = self.child.as_mut().expect("broker running");
        let outcome = wait_until(BROKER_TIMEOUT, || {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return Some(Err(status));
            }
            let conn = RawConn::connect(&socket).ok()?;
            let reply = conn.request(&Request::Ping);
            matches!(reply.response(), Response::Pong).then_some(Ok(()))
        });
        match outcome {
            Some(Ok(())) => {}
            Some(Err(status)) => self.fail(&format!("the broker exited during start-up: {status}")),
            None => self.fail("the broker did not answer a ping"),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The socket path as a string, for command lines.
    pub fn socket_str(&self) -> String {
        self.socket.to_str().expect("UTF-8").to_owned()
    }

    pub fn policy_path(&self) -> &Path {
        &self.policy
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("broker running").id()
    }

    /// The broker's stderr and stdout so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).expect("read broker log")
    }

    /// The audit lines in the log so far, without their log prefix (`allow op=open ...`).
    pub fn audit_lines(&self) -> Vec<String> {
        let log = self.log();
        log.lines()
            .filter_map(|l| l.split_once(" audit] ").map(|(_, audit)| audit.to_owned()))
            .collect()
    }

    /// Polls the log from byte `from` until it contains `needle`; returns the log from
    /// `from`. Fails with the log after the timeout.
    #[track_caller]
    pub fn wait_for_log(&self, from: usize, needle: &str) -> String {
        wait_until(BROKER_TIMEOUT, || {
            let log = self.log();
            log.get(from..)
                .filter(|new| new.contains(needle))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| self.fail(&format!("the log never showed {needle:?}")))
    }

    /// Polls until `needle` occurs at least `count` times in the log (audit records are
    /// written just after the reply) and returns the whole log; fails with the log after
    /// the timeout.
    #[track_caller]
    pub fn wait_for_count(&self, needle: &str, count: usize) -> String {
        wait_until(BROKER_TIMEOUT, || {
            let log = self.log();
            (log.matches(needle).count() >= count).then_some(log)
        })
        .unwrap_or_else(|| self.fail(&format!("the log never showed {needle:?} {count} times")))
    }

    /// Polls until the log contains `needle` (audit lines are written just after the
    /// reply) and returns the whole log.
    #[track_caller]
    pub fn expect_log(&self, needle: &str) -> String {
        self.wait_for_log(0, needle);
        self.log()
    }

    /// Asserts the log shows no allowed open: nothing was handed out.
    #[track_caller]
    pub fn assert_nothing_opened(&self) {
        if self.log().contains("allow op=open") {
            self.fail("nothing may be opened");
        }
    }

    /// Rewrites the policy file with `policy`, sends SIGHUP and waits for the log line of
    /// the outcome (reloaded, failed or refused). Returns the log written since the signal.
    #[track_caller]
    pub fn reload(&self, policy: &str) -> String {
        write_policy(&self.policy, policy);
        self.hup()
    }

    /// Sends SIGHUP and waits for the log line of the reload's outcome (reloaded, failed
    /// or refused), whatever is at the policy path now. Returns the log written since the
    /// signal.
    #[track_caller]
    pub fn hup(&self) -> String {
        let from = self.log().len();
        self.signal(Signal::HUP);
        let outcomes = [
            "policy reloaded from",
            "policy reload failed",
            "policy reload refused",
        ];
        wait_until(BROKER_TIMEOUT, || {
            let new = self.log().get(from..)?.to_owned();
            outcomes.iter().any(|o| new.contains(o)).then_some(new)
        })
        .unwrap_or_else(|| self.fail("no reload outcome in the log after SIGHUP"))
    }

    pub fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(self.pid() as i32).expect("nonzero pid");
        rustix::process::kill_process(pid, signal).expect("signal the broker");
    }

    /// Stops the broker with SIGSTOP and returns once every one of its threads is stopped:
    /// `kill` returns before a thread running on another CPU has stopped, and a test
    /// that acts "while the broker is stopped" would otherwise race the last request it
    /// was still serving.
    pub fn pause(&self) {
        self.signal(Signal::STOP);
        let tasks = format!("/proc/{}/task", self.pid());
        let all_stopped = || {
            let threads = fs::read_dir(&tasks).ok()?;
            threads
                .filter_map(Result::ok)
                .all(|t| {
                    fs::read_to_string(t.path().join("stat")).is_ok_and(|stat| {
                        // The state follows the command name, which is in parentheses.
                        stat.rsplit_once(')')
                            .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
                    })
                })
                .then_some(())
        };
        wait_until(BROKER_TIMEOUT, all_stopped)
            .unwrap_or_else(|| self.fail("the broker's threads did not all stop after SIGSTOP"));
    }

    /// Sends `signal` (SIGTERM, SIGINT) and returns the exit status; fails if the broker
    /// does not exit in time.
    pub fn stop(mut self, signal: Signal) -> ExitStatus {
        self.signal(signal);
        let mut child = self.child.take().expect("broker running");
        match wait_until(BROKER_TIMEOUT, || child.try_wait().expect("try_wait")) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                self.fail(&format!("the broker did not exit in time after {signal:?}"))
            }
        }
    }

    /// A good request on a fresh connection of the test process (root) is still answered:
    /// `Opened`, one fd, `contents`. For the end of an attack on the broker.
    #[track_caller]
    pub fn assert_still_serving(&self, path: &str, contents: &[u8]) {
        let conn = RawConn::connect(&self.socket).expect("connect");
        conn.request(&read(path)).assert_opened(contents);
    }

    /// Like [`Broker::assert_still_serving`], on a connection made as `user`.
    #[track_caller]
    pub fn assert_still_serving_as(&self, user: User, path: &str, contents: &[u8]) {
        let conn = RawConn::connect_as(&self.socket, user).expect("connect");
        conn.request(&read(path)).assert_opened(contents);
    }

    /// The number of open fds of the broker process (`/proc/PID/fd`).
    pub fn fd_count(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count()
    }

    /// CPU time the broker has used so far (user + system), from `/proc/PID/stat`.
    pub fn cpu_time(&self) -> Duration {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        // Fields after `(comm)`, which may contain spaces: state is field 3, utime and stime
        // are fields 14 and 15, in clock ticks.
        let after_comm = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = after_comm.split(' ').collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        // The kernel reports them in USER_HZ, which is 100 on every Linux architecture.
        Duration::from_millis(ticks * 10)
    }

    /// Waits until the broker holds no more fds than `baseline` (connections close
    /// asynchronously); fails with both numbers and the log if it does not.
    #[track_caller]
    pub fn assert_fds_back_to(&self, baseline: usize) {
        if wait_until(BROKER_TIMEOUT, || {
            (self.fd_count() <= baseline).then_some(())
        })
        .is_none()
        {
            self.fail(&format!(
                "fd leak: the broker holds {} fds, {baseline} before",
                self.fd_count()
            ));
        }
    }

    /// A field of `/proc/PID/status`, e.g. `CapEff`, trimmed.
    pub fn status_field(&self, field: &str) -> String {
        status_field(self.pid(), field).unwrap_or_else(|| panic!("no {field} in /proc/PID/status"))
    }

    /// The pids of the broker's child processes (its helpers).
    pub fn children(&self) -> Vec<u32> {
        let me = self.pid().to_string();
        fs::read_dir("/proc")
            .expect("read /proc")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| status_field(pid, "PPid").is_some_and(|ppid| ppid == me))
            .collect()
    }

    /// The pid of the broker's one helper process named `name` (`fdbroker-names`,
    /// `fdbroker-peers`, `fdbroker-keep`); fails the test, with the log, if there is not
    /// exactly one.
    pub fn helper(&self, name: &str) -> u32 {
        let children = self.children();
        let named: Vec<u32> = children
            .iter()
            .filter(|&&pid| status_field(pid, "Name").as_deref() == Some(name))
            .copied()
            .collect();
        match named[..] {
            [pid] => pid,
            _ => self.fail(&format!(
                "expected one child process named {name}, found {named:?} among {children:?}"
            )),
        }
    }

    /// Rewrites the policy file with `policy` and runs `fdbroker reload --socket SOCKET`
    /// as root, which returns once the broker has tried it: its output says the outcome.
    pub fn reload_sync(&self, policy: &str) -> Output {
        write_policy(&self.policy, policy);
        self.admin("fdbroker")
            .arg("reload")
            .arg("--socket")
            .arg(&self.socket)
            .run()
    }

    /// The line of `fdagent status` (as root) that starts with `prefix`.
    pub fn status_line(&self, prefix: &str) -> String {
        let out = self.fdagent_root().arg("status").run();
        out.code_is(0);
        out.stdout_str()
            .lines()
            .find(|l| l.starts_with(prefix))
            .map(str::to_owned)
            .unwrap_or_else(|| out.fail(&format!("no line starting {prefix:?}")))
    }

    /// `fdagent --socket SOCKET` run as root, reporting this broker's log on failure.
    pub fn fdagent_root(&self) -> Cmd {
        self.admin("fdagent").arg("--socket").arg(&self.socket)
    }

    /// A copy of the built binary `name` run as root in the tree, reporting this broker's
    /// log on failure.
    pub fn admin(&self, name: &str) -> Cmd {
        self.tree.cmd(&self.tree.bin(name)).broker_log(&self.log)
    }

    /// `fdagent --socket SOCKET` run as `user`, reporting this broker's log on failure.
    pub fn fdagent(&self, user: User) -> Cmd {
        self.client(user, "fdagent")
            .arg("--socket")
            .arg(&self.socket)
    }

    /// `fdagent cat PATH` run as `user`: the test suite's most common request.
    pub fn cat(&self, user: User, path: &str) -> Output {
        self.fdagent(user).args(["cat", path]).run()
    }

    /// The `scanner` example run as `user` with `--socket SOCKET`.
    pub fn scanner(&self, user: User) -> Cmd {
        self.client(user, "scanner")
            .arg("--socket")
            .arg(&self.socket)
    }

    /// A copy of the built binary `name` run as `user` in the tree, reporting this
    /// broker's log on failure.
    pub fn client(&self, user: User, name: &str) -> Cmd {
        self.program(user, &self.tree.bin(name))
    }

    /// `program` (one the test built in the tree, say) run as `user` in the tree,
    /// reporting this broker's log on failure.
    pub fn program(&self, user: User, program: &Path) -> Cmd {
        self.tree.cmd(program).user(user).broker_log(&self.log)
    }

    /// Fails the test with `msg` and the broker log.
    #[track_caller]
    pub fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}\n---- broker log ({}):\n{}----",
            self.log.display(),
            self.log()
        )
    }
}

impl Drop for Broker<'_> {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process(pid, Signal::TERM);
            }
            if wait_until(BROKER_TIMEOUT, || child.try_wait().ok().flatten()).is_none() {
                eprintln!("the broker ignored SIGTERM; killing it");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "---- broker log ({}):\n{}----",
                self.log.display(),
                fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

/// How a broker is launched beyond its arguments.
#[derive(Debug, Default)]
pub struct Launch {
    /// Installed in the broker's process before exec.
    pub seccomp: Option<Seccomp>,
    /// Passed to the broker as fd [`INHERITED_FD`], without close-on-exec, as a careless
    /// parent would leak it.
    pub inherited: Option<File>,
}

/// The fd number [`Launch::inherited`] has in the broker.
pub const INHERITED_FD: RawFd = 100;

impl Launch {
    /// Adds the pre-exec steps to `command`.
    fn prepare(self, command: &mut Command) {
        if self.seccomp.is_none() && self.inherited.is_none() {
            return;
        }
        let Launch { seccomp, inherited } = self;
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe work is allowed: `dup2` is a system call, and
        // `seccompiler::apply_filter` makes two (`prctl`, `seccomp`) on a program built
        // before the fork, allocating nothing on success.
        unsafe {
            command.pre_exec(move || {
                if let Some(file) = &inherited
                    && libc::dup2(file.as_raw_fd(), INHERITED_FD) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(Seccomp(program)) = &seccomp {
                    seccompiler::apply_filter(program).map_err(std::io::Error::other)?;
                }
                Ok(())
            });
        }
    }
}

/// Writes a policy file as the admin would: root-owned, 0600.
pub fn write_policy(path: &Path, text: &str) {
    fs::write(path, text).expect("write policy");
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod policy");
}

/// A field of `/proc/PID/status`, e.g. `CapEff`, trimmed; `None` once the process is gone.
pub fn status_field(pid: u32, field: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
}
