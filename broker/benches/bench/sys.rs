//! Process plumbing: CPU placement, child processes that cannot outlive the bench, the
//! fd limit, and a process's resident memory.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Resource, Rlimit, Signal};
use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// Where the client and the server of a latency row run.
///
/// On these VMs waking the other vCPU costs ~20 µs each way, so a pinned run and an
/// unpinned one differ by 5× for reasons that have nothing to do with the code: every
/// latency row is measured under both, and compared only with a baseline measured under
/// the same placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Client and server (every thread of both) on this one CPU.
    Pinned(usize),
    /// Both free to run on every CPU the bench started with.
    Unpinned,
}

impl Placement {
    /// The CPU argument handed to a client child: the CPU number, or `all`.
    pub fn arg(self) -> String {
        match self {
            Placement::Pinned(cpu) => cpu.to_string(),
            Placement::Unpinned => "all".to_owned(),
        }
    }

    /// Parses [`Placement::arg`].
    pub fn from_arg(arg: &str) -> Result<Placement, String> {
        match arg {
            "all" => Ok(Placement::Unpinned),
            n => n
                .parse()
                .map(Placement::Pinned)
                .map_err(|_| format!("bad cpu {n:?}")),
        }
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placement::Pinned(cpu) => write!(f, "pinned cpu{cpu}"),
            Placement::Unpinned => f.write_str("unpinned"),
        }
    }
}

/// The CPUs the bench may use: captured once at start, before anything is pinned, so
/// "unpinned" always means the same set.
pub fn all_cpus() -> CpuSet {
    static ALL: std::sync::OnceLock<CpuSet> = std::sync::OnceLock::new();
    *ALL.get_or_init(|| sched_getaffinity(None).expect("sched_getaffinity"))
}

fn cpuset(placement: Placement) -> CpuSet {
    match placement {
        Placement::Unpinned => all_cpus(),
        Placement::Pinned(cpu) => {
            let mut set = CpuSet::new();
            set.set(cpu);
            set
        }
    }
}

/// Places the calling thread (children spawned from it inherit the placement).
pub fn place_self(placement: Placement) -> io::Result<()> {
    Ok(sched_setaffinity(None, &cpuset(placement))?)
}

/// Keeps the calling thread off the CPU of a pinned `placement` (when there is another
/// CPU), so that its own work does not compete with what is measured there; unpinned,
/// it may run anywhere.
pub fn place_self_beside(placement: Placement) -> io::Result<()> {
    let mut set = all_cpus();
    if let Placement::Pinned(cpu) = placement {
        set.unset(cpu);
        if set.count() == 0 {
            set = all_cpus();
        }
    }
    Ok(sched_setaffinity(None, &set)?)
}

/// Places every thread of process `pid`. Affinity is per thread, and a server may have
/// started its worker threads before we get here, so each task in `/proc/PID/task` is set;
/// threads created later inherit from their creator, which is set too.
pub fn place_process(pid: u32, placement: Placement) -> io::Result<()> {
    let set = cpuset(placement);
    for entry in fs::read_dir(format!("/proc/{pid}/task"))? {
        let tid: i32 = match entry?.file_name().to_str().and_then(|s| s.parse().ok()) {
            Some(tid) => tid,
            None => continue,
        };
        match sched_setaffinity(Pid::from_raw(tid), &set) {
            // The thread exited between the listing and the call.
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Makes a spawned child die with SIGKILL if the bench dies, whatever kills it (a panic
/// that aborts, Ctrl-C, SIGKILL): `PR_SET_PDEATHSIG` survives `execve` of a
/// non-set-uid program, so it covers the broker and the clients behind `setpriv`.
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure runs in the forked child before exec and only makes one prctl
    // system call, which is async-signal-safe; it touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            Ok(())
        })
    }
}

/// A child process that is killed and reaped when dropped, on every exit path of the
/// bench (normal return, error, panic unwinding).
#[derive(Debug)]
pub struct Reaped {
    pub child: Child,
    what: String,
}

impl Reaped {
    /// Spawns `cmd` (which must die with the bench: see [`die_with_parent`]).
    pub fn spawn(what: &str, cmd: &mut Command) -> io::Result<Reaped> {
        let child = die_with_parent(cmd)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {what}: {e}")))?;
        Ok(Reaped {
            child,
            what: what.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal`, then waits up to `grace` for the process to exit before SIGKILL.
    pub fn stop(&mut self, signal: Signal, grace: Duration) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if let Some(pid) = Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, signal);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Fails if the process has already exited (it should be serving).
    pub fn check_running(&mut self) -> io::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(io::Error::other(format!(
                "{} exited unexpectedly: {status}",
                self.what
            ))),
        }
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        self.stop(Signal::TERM, Duration::from_secs(2));
    }
}

/// Raises this process's soft `RLIMIT_NOFILE` to at least `want`, and its hard limit to
/// the kernel's maximum (`fs.nr_open`) when we may (we run as root). Children inherit
/// both: the broker gets room for 10,000 idle connections, and since it raises its soft
/// limit to the hard one (as the floor does), room for fds in flight.
///
/// The in-flight room matters on a shared machine: Linux refuses to pass an fd
/// (`ETOOMANYREFS`) once the *sending user's* fds in flight, over all its processes,
/// exceed the sender's `RLIMIT_NOFILE`. Everything here runs as root, as may other
/// programs passing fds on the same machine (a test suite, a scanner), and their fds in
/// flight count against our servers.
pub fn raise_nofile(want: u64) -> io::Result<u64> {
    let cur = rustix::process::getrlimit(Resource::Nofile);
    let nr_open = fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(want);
    let hard = cur.maximum.unwrap_or(u64::MAX).max(nr_open).max(want);
    let soft = cur.current.unwrap_or(u64::MAX).max(want).min(hard);
    let raised = rustix::process::setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(soft),
            maximum: Some(hard),
        },
    );
    match raised {
        Ok(()) => Ok(soft),
        Err(_) => {
            // Not allowed to raise the hard limit: go as far as it allows.
            let max = cur.maximum.unwrap_or(u64::MAX);
            let soft = want.min(max);
            rustix::process::setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(soft),
                    maximum: cur.maximum,
                },
            )?;
            Ok(soft)
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as `fdbroker serve` does at start.
pub fn soft_nofile_to_hard() -> io::Result<()> {
    let mut limit = rustix::process::getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        rustix::process::setrlimit(Resource::Nofile, limit)?;
    }
    Ok(())
}

/// `VmRSS` of process `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::other(format!("no VmRSS in /proc/{pid}/status")))
}

/// True if a process with this pid exists.
pub fn alive(pid: i32) -> bool {
    Pid::from_raw(pid).is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` shows them.
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}
