//! A request stuck in the file system holds its worker, and only as many workers as the
//! broker has CPUs wait for requests: a standby worker must join, so that other clients
//! are still served, and leave once the stall is over.
//!
//! The stall is made with ptrace, which is what a hung mount does to a thread: the
//! broker, confined to one CPU (so one worker serves), is kept busy with batches, and that
//! worker is stopped with `PTRACE_INTERRUPT` in one of a request's file-system calls.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use fdbroker_agent::{Access, Client};
use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

use crate::harness::{Broker, Policy, itest};

const FILES: usize = 64;

/// The system calls of a request in the file system, where a hung mount holds a thread.
/// A worker stopped anywhere else stands for another stall: idle in `epoll_wait`, or
/// writing an audit line with the log's lock held, which stops every request that must be
/// recorded (as it should: a worker writes its records before it serves anything else).
const FILE_SYSTEM_CALLS: [libc::c_long; 4] = [
    libc::SYS_openat2,
    libc::SYS_fstat,
    libc::SYS_fcntl,
    libc::SYS_close,
];

itest!(a_stuck_worker_is_relieved_by_a_standby_one, |tree| {
    for i in 0..FILES {
        tree.private_file(&format!("data/f{i}"), b"x");
    }
    let policy = Policy::new()
        .allow("root-reads")
        .users(&[0])
        .paths(&[tree.p("data/**")])
        .access("read")
        .to_string();
    // The broker inherits this thread's CPU affinity: one CPU, so one worker waits.
    let all = sched_getaffinity(None).expect("affinity");
    let mut one = CpuSet::new();
    one.set(
        (0..CpuSet::MAX_CPU)
            .find(|&c| all.is_set(c))
            .expect("a CPU"),
    );
    sched_setaffinity(None, &one).expect("pin this thread");
    let broker = Broker::start_with(&tree, &policy, &["--workers", "4"]);
    sched_setaffinity(None, &all).expect("unpin this thread");

    let stop = Arc::new(AtomicBool::new(false));
    let batches = Arc::new(AtomicUsize::new(0));
    let paths: Vec<String> = (0..FILES).map(|i| tree.p(&format!("data/f{i}"))).collect();
    let busy: Vec<JoinHandle<()>> = (0..2)
        .map(|_| {
            let (stop, batches) = (stop.clone(), batches.clone());
            let (paths, socket) = (paths.clone(), broker.socket_str());
            std::thread::spawn(move || {
                let mut client = Client::connect(&socket).expect("connect");
                while !stop.load(Ordering::Relaxed) {
                    let files = client.open_many(&paths, Access::READ).expect("open_many");
                    assert!(files.iter().all(Result::is_ok));
                    batches.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let worker = thread_named(broker.pid(), "fdbroker-w0");
    // Interrupting before the clients keep the worker busy would only catch it idle.
    while batches.load(Ordering::Relaxed) < 4 {
        std::thread::sleep(Duration::from_millis(1));
    }

    let stopped = (0..200)
        .find_map(|_| {
            let stopped = Stopped::interrupt(broker.pid(), worker);
            if stopped.is_none() {
                // Caught outside the file system: try again a little later.
                std::thread::sleep(Duration::from_millis(5));
            }
            stopped
        })
        .expect("the worker was never caught in the file system");
    // The worker is stuck in the file system: a new client must still be served.
    assert!(
        ping_within(&broker.socket_str(), Duration::from_secs(3)),
        "no client was served while the only worker was stuck"
    );
    broker.expect_log("admitting another worker");
    drop(stopped); // the stall ends
    broker.expect_log("no request is stuck any more: back to 1 worker\n");
    assert!(ping_within(&broker.socket_str(), Duration::from_secs(3)));
    stop.store(true, Ordering::Relaxed);
    for client in busy {
        client.join().expect("busy client");
    }
});

/// Whether a new connection gets an answer to a ping within `timeout`.
fn ping_within(socket: &str, timeout: Duration) -> bool {
    let (tx, rx) = mpsc::channel();
    let socket = socket.to_owned();
    std::thread::spawn(move || {
        let _ = tx.send(Client::connect(&socket).and_then(|mut c| c.ping()).is_ok());
    });
    rx.recv_timeout(timeout).unwrap_or(false)
}

/// The thread of `pid` called `name`.
fn thread_named(pid: u32, name: &str) -> i32 {
    fs::read_dir(format!("/proc/{pid}/task"))
        .expect("tasks")
        .filter_map(|e| e.ok())
        .find(|e| fs::read_to_string(e.path().join("comm")).is_ok_and(|comm| comm.trim() == name))
        .and_then(|e| e.file_name().to_str()?.parse().ok())
        .unwrap_or_else(|| panic!("no thread {name} in {pid}"))
}

/// A thread held in a ptrace stop; released when dropped.
struct Stopped(i32);

impl Stopped {
    /// Stops thread `tid` of `pid`; `None` (and released) unless it was in one of the
    /// [`FILE_SYSTEM_CALLS`].
    #[allow(unsafe_code)]
    fn interrupt(pid: u32, tid: i32) -> Option<Stopped> {
        // SAFETY: plain ptrace and waitpid calls on a thread id, with null addr/data
        // arguments and a valid pointer to a local status; no memory is shared.
        unsafe {
            assert_eq!(
                libc::ptrace(libc::PTRACE_SEIZE, tid, 0, 0),
                0,
                "PTRACE_SEIZE: {}",
                std::io::Error::last_os_error()
            );
            let stopped = Stopped(tid);
            assert_eq!(libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0), 0);
            let mut status = 0;
            assert_eq!(libc::waitpid(tid, &mut status, libc::__WALL), tid);
            let syscall =
                fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall")).unwrap_or_default();
            let number = syscall
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok());
            number
                .filter(|n| FILE_SYSTEM_CALLS.contains(n))
                .map(|_| stopped)
        }
    }
}

impl Drop for Stopped {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: detaching a thread this process seized; resumes it.
        unsafe {
            libc::ptrace(libc::PTRACE_DETACH, self.0, 0, 0);
        }
    }
}
