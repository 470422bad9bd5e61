//! The client side of every multi-process row, and the parent's handle on it.
//!
//! A client is the bench executable re-run as `__client TASK key=value...`, usually behind
//! `setpriv --reuid=2001 --regid=2001 --clear-groups`: the broker identifies clients by
//! the credentials of the process that connected, so the uid must be dropped *before*
//! connecting, which only a separate process can do honestly. (A re-exec, not a `fork`:
//! forking a process that may have threads is unsafe.)
//!
//! Protocol with the parent, over the child's stdin/stdout:
//! 1. the child connects, pins itself, warms up and checks one file's contents, then
//!    prints `ready`;
//! 2. it waits for `go` on stdin (so the parent can place the server's threads, which
//!    exist only once the client has connected, and start many clients together);
//! 3. it measures and prints either `samples N` followed by N little-endian `u64`
//!    nanosecond samples, or `count N ns T` (requests done in T nanoseconds).
//!
//! Every timed operation checks its result (the reply says "regular file, 4 KiB" and an
//! fd came with it), and every [`VERIFY_EVERY`] operations an extra, untimed request
//! reads the file through the handed fd and compares its bytes, so a broken broker or
//! floor fails the bench instead of looking fast.

use std::collections::{HashMap, VecDeque};
use std::fmt::Display;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use fdbroker_agent::{Access, Client, FileKind, PIPELINE_DEPTH};

use crate::baselines::HELLO_OUTPUT;
use crate::floor::FloorConn;
use crate::stats::ns;
use crate::sys::{self, Placement, Reaped};
use crate::tree::{self, FILE_SIZE, FILES, Tree};

/// An untimed content check every this many timed operations.
const VERIFY_EVERY: u64 = 1024;
/// The same for batches (each is up to 253 opens).
const VERIFY_BATCH_EVERY: u64 = 16;

// ---------------------------------------------------------------------------------------
// Child side.

/// `__client TASK key=value...`: runs one task and reports on stdout.
pub fn main(args: &[String]) -> io::Result<()> {
    let (task, rest) = args
        .split_first()
        .ok_or_else(|| io::Error::other("usage: __client TASK key=value..."))?;
    let a = Args::parse(rest)?;
    let placement = Placement::from_arg(a.get("cpu")?).map_err(io::Error::other)?;
    sys::place_self(placement)?;
    match task.as_str() {
        "lat" => lat(&a),
        "tput" => tput(&a),
        "batch" => batch(&a),
        "spawn" => spawn(&a),
        "open" => plain_open(&a),
        other => Err(io::Error::other(format!("unknown client task {other:?}"))),
    }
}

/// The `key=value` arguments of a task.
struct Args(HashMap<String, String>);

impl Args {
    fn parse(args: &[String]) -> io::Result<Args> {
        args.iter()
            .map(|a| {
                a.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| io::Error::other(format!("bad argument {a:?}")))
            })
            .collect::<io::Result<_>>()
            .map(Args)
    }

    fn get(&self, key: &str) -> io::Result<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| io::Error::other(format!("missing {key}=")))
    }

    fn num(&self, key: &str) -> io::Result<u64> {
        self.get(key)?
            .parse()
            .map_err(|_| io::Error::other(format!("{key}= is not a number")))
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        self.get(key).map(PathBuf::from)
    }
}

/// A connection to the server under test, for single-file opens.
enum Conn {
    Floor(FloorConn),
    Broker(Client),
}

impl Conn {
    fn connect(a: &Args) -> io::Result<Conn> {
        let socket = a.path("socket")?;
        match a.get("kind")? {
            "floor" => FloorConn::connect(&socket).map(Conn::Floor),
            "broker" => Client::connect(&socket).map(Conn::Broker),
            other => Err(io::Error::other(format!("unknown kind {other:?}"))),
        }
    }

    /// One lock-step open, checked: the fd came back and the server's `fstat` says
    /// regular, 4 KiB.
    fn open(&mut self, path: &Path) -> io::Result<OwnedFd> {
        match self {
            Conn::Floor(conn) => conn.open(path.as_os_str().as_bytes()),
            Conn::Broker(client) => {
                // `Client::open` is exactly this call without the kind and size; asking
                // for them costs nothing and lets every request be checked.
                let opened = client.open_with_mode(path, Access::READ, 0o600)?;
                if opened.kind != FileKind::Regular || opened.size != FILE_SIZE as u64 {
                    return Err(io::Error::other(format!(
                        "broker opened {:?} of {} bytes",
                        opened.kind, opened.size
                    )));
                }
                Ok(opened.file.into())
            }
        }
    }

    /// An untimed request whose fd is read and compared with the file's contents.
    fn verify(&mut self, path: &Path, expected: &[u8]) -> io::Result<()> {
        check_contents(File::from(self.open(path)?), expected)
    }
}

fn check_contents(mut file: File, expected: &[u8]) -> io::Result<()> {
    let mut got = Vec::with_capacity(expected.len());
    file.read_to_end(&mut got)?;
    if got != expected {
        return Err(io::Error::other(
            "the fd handed out reads the wrong contents",
        ));
    }
    Ok(())
}

/// The data file a task works on, and its expected contents.
fn data_file(a: &Args) -> io::Result<(PathBuf, Vec<u8>)> {
    let i = a.num("file")? as usize;
    Ok((
        tree::data_file_in(&a.path("dir")?, i),
        tree::file_contents(i),
    ))
}

/// Prints `ready` and waits for `go`.
fn ready_go() -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    if line.trim() != "go" {
        return Err(io::Error::other(format!("expected go, got {line:?}")));
    }
    Ok(())
}

fn report_samples(samples: &[u64]) -> io::Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    writeln!(out, "samples {}", samples.len())?;
    for s in samples {
        out.write_all(&s.to_le_bytes())?;
    }
    out.flush()
}

/// `lat`: lock-step opens of one file; one sample per open+close. `iters=N` opens, or
/// `seconds=S` of them.
fn lat(a: &Args) -> io::Result<()> {
    let mut conn = Conn::connect(a)?;
    let (path, expected) = data_file(a)?;
    for _ in 0..a.num("warm")? {
        drop(conn.open(&path)?);
    }
    conn.verify(&path, &expected)?;
    let (iters, until) = match a.get("seconds") {
        Ok(s) => {
            let secs: f64 = s.parse().map_err(|_| io::Error::other("bad seconds="))?;
            (u64::MAX, Some(Duration::from_secs_f64(secs)))
        }
        Err(_) => (a.num("iters")?, None),
    };
    let mut samples = Vec::with_capacity(iters.min(1 << 22) as usize);
    ready_go()?;
    let start = Instant::now();
    for i in 0..iters {
        let t = Instant::now();
        let fd = conn.open(&path)?;
        drop(fd);
        samples.push(ns(t.elapsed()));
        if i % VERIFY_EVERY == VERIFY_EVERY - 1 {
            conn.verify(&path, &expected)?;
        }
        if until.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
    }
    report_samples(&samples)
}

/// `open`: the kernel's own `open` + `close` of `path=`, timed in this process, as an
/// unmodified program makes them: under `fdagent run` each open of a granted file goes
/// through the broker. With `verify=data` (the data file `file=` of `dir=`), its contents
/// are read and compared every [`VERIFY_EVERY`] opens, untimed.
fn plain_open(a: &Args) -> io::Result<()> {
    let path = a.path("path")?;
    let expected = match a.get("verify")? {
        "data" => Some(data_file(a)?.1),
        _ => None,
    };
    let open = || File::open(&path);
    let check = || match &expected {
        Some(expected) => check_contents(open()?, expected),
        None => open().map(drop),
    };
    for _ in 0..a.num("warm")? {
        drop(open()?);
    }
    check()?;
    let iters = a.num("iters")?;
    let mut samples = Vec::with_capacity(iters as usize);
    ready_go()?;
    for i in 0..iters {
        let t = Instant::now();
        drop(open()?);
        samples.push(ns(t.elapsed()));
        if i % VERIFY_EVERY == VERIFY_EVERY - 1 {
            check()?;
        }
    }
    report_samples(&samples)
}

/// `tput`: as many lock-step opens as fit in `seconds=S`; reports the count.
fn tput(a: &Args) -> io::Result<()> {
    let mut conn = Conn::connect(a)?;
    let (path, expected) = data_file(a)?;
    for _ in 0..a.num("warm")? {
        drop(conn.open(&path)?);
    }
    conn.verify(&path, &expected)?;
    let secs: f64 = a
        .get("seconds")?
        .parse()
        .map_err(|_| io::Error::other("bad seconds="))?;
    let window = Duration::from_secs_f64(secs);
    ready_go()?;
    let start = Instant::now();
    let mut count = 0u64;
    let mut verify_time = Duration::ZERO;
    let mut until_verify = VERIFY_EVERY;
    while start.elapsed() < window {
        drop(conn.open(&path)?);
        count += 1;
        until_verify -= 1;
        if until_verify == 0 {
            until_verify = VERIFY_EVERY;
            let t = Instant::now();
            conn.verify(&path, &expected)?;
            verify_time += t.elapsed();
        }
    }
    // The verification requests are neither counted nor timed.
    let elapsed = start.elapsed() - verify_time;
    println!("count {count} ns {}", ns(elapsed));
    Ok(())
}

/// `batch`: B files per message (`b=`), `mode=lockstep` or `mode=pipelined` (as
/// `open_many` does: [`PIPELINE_DEPTH`] batches in flight, the next one sent before this
/// one's fds are closed), over all data files round-robin; one sample per batch.
/// `files=` files in all after `warm=` files of warm-up.
fn batch(a: &Args) -> io::Result<()> {
    let b = a.num("b")? as usize;
    if b == 0 || b > crate::floor::MAX_BATCH {
        return Err(io::Error::other("b= out of range"));
    }
    let dir = a.path("dir")?;
    // The file list twice over, so every batch is one contiguous slice.
    let paths: Vec<PathBuf> = (0..2 * FILES)
        .map(|i| tree::data_file_in(&dir, i % FILES))
        .collect();
    let batches = a.num("files")?.div_ceil(b as u64);
    let warm = a.num("warm")?.div_ceil(b as u64);
    let pipelined = match a.get("mode")? {
        "lockstep" => false,
        "pipelined" => true,
        other => return Err(io::Error::other(format!("unknown mode {other:?}"))),
    };
    let mut server: Box<dyn Batcher> = match a.get("kind")? {
        "floor" => Box::new(FloorBatcher {
            conn: FloorConn::connect(&a.path("socket")?)?,
            fds: Vec::with_capacity(b),
        }),
        "broker" => Box::new(BrokerBatcher {
            client: Client::connect(a.path("socket")?)?,
            files: Vec::new(),
        }),
        other => return Err(io::Error::other(format!("unknown kind {other:?}"))),
    };
    // `next`: the first file of the next batch to send; `sent`: the first file of each
    // batch sent and not yet received.
    let mut next = 0usize;
    let mut sent = VecDeque::new();
    let mut submit = |server: &mut dyn Batcher, sent: &mut VecDeque<usize>| {
        sent.push_back(next);
        let r = server.submit(&paths[next..next + b]);
        next = (next + b) % FILES;
        r
    };
    let mut samples = Vec::with_capacity(batches as usize);
    // Pipelined, as many batches are in flight as `open_many` keeps, so the server has the
    // next one queued when it sends a reply (with one, it would wait for each).
    let ahead = if pipelined { PIPELINE_DEPTH } else { 0 };
    for _ in 0..ahead {
        submit(&mut *server, &mut sent)?;
    }
    for i in 0..warm + batches {
        if i == warm {
            ready_go()?;
        }
        // The timed window is send..receive plus the closing of the fds; the content
        // check of every VERIFY_BATCH_EVERY-th batch is outside it.
        let t = Instant::now();
        if pipelined {
            server.receive(b)?;
            submit(&mut *server, &mut sent)?;
        } else {
            submit(&mut *server, &mut sent)?;
            server.receive(b)?;
        }
        let timed = t.elapsed();
        let first = sent.pop_front().expect("a batch was sent");
        if i % VERIFY_BATCH_EVERY == VERIFY_BATCH_EVERY - 1 {
            server.check_first(&tree::file_contents(first))?;
        }
        let t = Instant::now();
        server.close_all();
        if i >= warm {
            samples.push(ns(timed + t.elapsed()));
        }
    }
    for _ in 0..ahead {
        server.receive(b)?;
        server.close_all();
    }
    report_samples(&samples)
}

/// A server that opens files B at a time.
trait Batcher {
    /// Sends one message naming `paths`.
    fn submit(&mut self, paths: &[PathBuf]) -> io::Result<()>;
    /// Receives the reply to the oldest message sent, which named `n` paths; every file
    /// must have been opened. The fds are kept until [`Batcher::close_all`].
    fn receive(&mut self, n: usize) -> io::Result<()>;
    /// Reads the first file of the last batch received and compares its contents.
    fn check_first(&mut self, expected: &[u8]) -> io::Result<()>;
    /// Closes the fds of the last batch received.
    fn close_all(&mut self);
}

struct FloorBatcher {
    conn: FloorConn,
    fds: Vec<OwnedFd>,
}

impl Batcher for FloorBatcher {
    fn submit(&mut self, paths: &[PathBuf]) -> io::Result<()> {
        let mut bytes: [&[u8]; crate::floor::MAX_BATCH] = [&[]; crate::floor::MAX_BATCH];
        for (slot, p) in bytes.iter_mut().zip(paths) {
            *slot = p.as_os_str().as_bytes();
        }
        self.conn.submit(&bytes[..paths.len()])
    }

    fn receive(&mut self, n: usize) -> io::Result<()> {
        self.fds.clear();
        self.conn.receive(n, &mut self.fds)
    }

    fn check_first(&mut self, expected: &[u8]) -> io::Result<()> {
        let fd = self.fds[0].try_clone()?;
        check_contents(File::from(fd), expected)
    }

    fn close_all(&mut self) {
        self.fds.clear();
    }
}

struct BrokerBatcher {
    client: Client,
    files: Vec<File>,
}

impl Batcher for BrokerBatcher {
    fn submit(&mut self, paths: &[PathBuf]) -> io::Result<()> {
        self.client.submit_many(paths, Access::READ)
    }

    fn receive(&mut self, n: usize) -> io::Result<()> {
        let results = self.client.receive_many()?;
        if results.len() != n {
            return Err(io::Error::other(format!(
                "{} results for {n} paths",
                results.len()
            )));
        }
        self.files.clear();
        for result in results {
            self.files.push(result?);
        }
        Ok(())
    }

    fn check_first(&mut self, expected: &[u8]) -> io::Result<()> {
        let file = self.files[0].try_clone()?;
        check_contents(file, expected)
    }

    fn close_all(&mut self) {
        self.files.clear();
    }
}

/// `spawn`: whole processes, `runs=` of each program in `progs=` (comma-separated) after
/// `warm=` of each, the programs taking turns run by run (the first of each turn rotates)
/// so that a drift of the machine hits them alike. The programs:
/// - `cat`: `cat FILE`;
/// - `fdagent`: `fdagent --socket S cat FILE` (the CLI at `bin=DIR/fdagent`);
/// - `fdcat`: `fdcat S FILE`, the minimal C client (`bin=DIR/fdcat`, see
///   `crate::baselines`);
/// - `hello-c`, `hello-rust`: the hello-worlds (`bin=DIR/hello-c`, ...).
///
/// With `out=check` stdout is a pipe, drained and compared with what the program must
/// print (the file, or the hello line); with `out=null` it is /dev/null and only the exit
/// status is checked. One sample per fork+exec+wait; the report holds the samples of
/// the first program, then of the second, and so on.
fn spawn(a: &Args) -> io::Result<()> {
    let (path, contents) = data_file(a)?;
    let bin = |name: &str| a.path("bin").map(|dir| dir.join(name));
    let mut progs = Vec::new();
    for prog in a.get("progs")?.split(',') {
        let (mut cmd, expected) = match prog {
            "cat" => (Command::new("cat"), &contents[..]),
            "fdagent" => {
                let mut cmd = Command::new(bin("fdagent")?);
                cmd.arg("--socket").arg(a.path("socket")?).arg("cat");
                (cmd, &contents[..])
            }
            "fdcat" => {
                let mut cmd = Command::new(bin("fdcat")?);
                cmd.arg(a.path("socket")?);
                (cmd, &contents[..])
            }
            "hello-c" | "hello-rust" => (Command::new(bin(prog)?), HELLO_OUTPUT),
            other => return Err(io::Error::other(format!("unknown prog {other:?}"))),
        };
        // Every program but the hello-worlds prints the file named last.
        if !prog.starts_with("hello") {
            cmd.arg(&path);
        }
        progs.push((cmd, expected));
    }
    let check = match a.get("out")? {
        "check" => true,
        "null" => false,
        other => return Err(io::Error::other(format!("unknown out {other:?}"))),
    };
    for (cmd, _) in &mut progs {
        cmd.stdin(Stdio::null()).stderr(Stdio::inherit());
        if !check {
            cmd.stdout(Stdio::null());
        }
    }
    let runs = a.num("runs")?;
    let warm = a.num("warm")?;
    let mut samples = vec![Vec::with_capacity(runs as usize); progs.len()];
    ready_go()?;
    for i in 0..warm + runs {
        for turn in 0..progs.len() {
            let which = (i as usize + turn) % progs.len();
            let (cmd, expected) = &mut progs[which];
            let t = Instant::now();
            let (status, out) = if check {
                let out = cmd.output()?;
                (out.status, Some(out.stdout))
            } else {
                (cmd.status()?, None)
            };
            let elapsed = t.elapsed();
            if !status.success() || out.as_ref().is_some_and(|o| o != expected) {
                return Err(io::Error::other(format!(
                    "{cmd:?}: {status}, output {:?} bytes",
                    out.map(|o| o.len())
                )));
            }
            if i >= warm {
                samples[which].push(ns(elapsed));
            }
        }
    }
    report_samples(&samples.concat())
}

// ---------------------------------------------------------------------------------------
// Parent side.

/// The uid the clients run as: unprivileged, in no `/etc/passwd`, no supplementary groups.
/// The throughput rows use one uid per client (2001, 2002, ...), as distinct programs
/// would be: the broker limits what one uid may have in flight.
pub const CLIENT_UID: u32 = 2001;
/// The primary gid of every client.
pub const CLIENT_GID: u32 = 2001;

/// A client to start: task, arguments, and the uid to run as (`None`: root).
#[derive(Debug, Clone)]
pub struct Spec {
    task: &'static str,
    uid: Option<u32>,
    args: Vec<String>,
    /// Another client program speaking the same protocol (`PROGRAM TASK key=value...`),
    /// instead of this executable's `__client`.
    program: Option<PathBuf>,
    /// The command the client runs under (`fdagent run --`), if any.
    wrapper: Vec<String>,
}

impl Spec {
    /// A task run as [`CLIENT_UID`].
    pub fn new(task: &'static str) -> Spec {
        Spec {
            task,
            uid: Some(CLIENT_UID),
            args: Vec::new(),
            program: None,
            wrapper: Vec::new(),
        }
    }

    /// Runs the task in `program` (the C library's client) rather than in this executable.
    pub fn program(mut self, program: &Path) -> Spec {
        self.program = Some(program.to_path_buf());
        self
    }

    /// Runs the task under `fdagent --socket SOCKET run --`.
    pub fn under_run(mut self, tree: &Tree, socket: &Path) -> Spec {
        self.wrapper = vec![
            tree.fdagent.display().to_string(),
            "--socket".to_owned(),
            socket.display().to_string(),
            "run".to_owned(),
            "--".to_owned(),
        ];
        self
    }

    /// Runs the task as root instead (the `cat` baseline).
    pub fn run_as_root(mut self) -> Spec {
        self.uid = None;
        self
    }

    /// Runs the task as `uid` (primary gid [`CLIENT_GID`]).
    pub fn run_as(mut self, uid: u32) -> Spec {
        self.uid = Some(uid);
        self
    }

    pub fn arg(mut self, key: &str, value: impl Display) -> Spec {
        self.args.push(format!("{key}={value}"));
        self
    }

    /// `kind=`, `socket=`, `dir=`, `file=` and `cpu=`: the arguments every task needs.
    pub fn target(self, tree: &Tree, kind: &str, socket: &Path, placement: Placement) -> Spec {
        self.arg("kind", kind)
            .arg("socket", socket.display())
            .arg("dir", tree.data_dir().display())
            .arg("file", 0)
            .arg("cpu", placement.arg())
    }
}

/// A started client.
#[derive(Debug)]
pub struct Running {
    proc: Reaped,
    out: BufReader<ChildStdout>,
    input: ChildStdin,
}

impl Running {
    pub fn start(tree: &Tree, spec: &Spec) -> io::Result<Running> {
        let exe = spec.program.as_ref().unwrap_or(&tree.bench_exe);
        let mut cmd = match spec.uid {
            Some(uid) => {
                let mut cmd = Command::new("setpriv");
                cmd.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={CLIENT_GID}"))
                    .arg("--clear-groups")
                    .args(&spec.wrapper)
                    .arg(exe);
                cmd
            }
            None if spec.wrapper.is_empty() => Command::new(exe),
            None => {
                let mut cmd = Command::new(&spec.wrapper[0]);
                cmd.args(&spec.wrapper[1..]).arg(exe);
                cmd
            }
        };
        if spec.program.is_none() {
            cmd.arg("__client");
        }
        cmd.arg(spec.task)
            .args(&spec.args)
            .current_dir(tree.path(""))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut proc = Reaped::spawn(&format!("client {}", spec.task), &mut cmd)?;
        let out = BufReader::new(proc.child.stdout.take().expect("piped"));
        let input = proc.child.stdin.take().expect("piped");
        Ok(Running { proc, out, input })
    }

    /// The process started: the client, or the command it runs under.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        self.out.read_line(&mut line)?;
        if line.is_empty() {
            let status = self.proc.child.wait()?;
            return Err(io::Error::other(format!(
                "client exited ({status}) before reporting: see its error above"
            )));
        }
        Ok(line.trim_end().to_owned())
    }

    pub fn wait_ready(&mut self) -> io::Result<()> {
        match self.line()?.as_str() {
            "ready" => Ok(()),
            other => Err(io::Error::other(format!("client said {other:?}"))),
        }
    }

    pub fn go(&mut self) -> io::Result<()> {
        self.input.write_all(b"go\n")?;
        self.input.flush()
    }

    /// Reads `samples N` and the N samples, then reaps the client.
    pub fn samples(mut self) -> io::Result<Vec<u64>> {
        let line = self.line()?;
        let n: usize = line
            .strip_prefix("samples ")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| io::Error::other(format!("client said {line:?}")))?;
        let mut bytes = vec![0u8; n * 8];
        self.out.read_exact(&mut bytes)?;
        self.finish()?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }

    /// Reads `count N ns T`, then reaps the client.
    pub fn count(mut self) -> io::Result<(u64, u64)> {
        let line = self.line()?;
        let parsed = line.strip_prefix("count ").and_then(|rest| {
            let (count, ns) = rest.split_once(" ns ")?;
            Some((count.parse().ok()?, ns.parse().ok()?))
        });
        let parsed = parsed.ok_or_else(|| io::Error::other(format!("client said {line:?}")))?;
        self.finish()?;
        Ok(parsed)
    }

    fn finish(&mut self) -> io::Result<()> {
        let status = self.proc.child.wait()?;
        if !status.success() {
            return Err(io::Error::other(format!("client exited {status}")));
        }
        Ok(())
    }
}

/// Starts every client in `specs`, waits until all are connected and warm, runs
/// `before_go` (placing the server's threads, which exist only now), and starts them
/// together.
pub fn start_all(
    tree: &Tree,
    specs: &[Spec],
    before_go: &mut dyn FnMut() -> io::Result<()>,
) -> io::Result<Vec<Running>> {
    let mut running = specs
        .iter()
        .map(|s| Running::start(tree, s))
        .collect::<io::Result<Vec<_>>>()?;
    for r in &mut running {
        r.wait_ready()?;
    }
    before_go()?;
    for r in &mut running {
        r.go()?;
    }
    Ok(running)
}

/// Runs one client to completion and returns its samples.
pub fn run_samples(
    tree: &Tree,
    spec: &Spec,
    before_go: &mut dyn FnMut() -> io::Result<()>,
) -> io::Result<Vec<u64>> {
    let mut running = start_all(tree, std::slice::from_ref(spec), before_go)?;
    running.pop().expect("one client").samples()
}
