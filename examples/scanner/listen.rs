//! The scanner as a daemon: it listens on a Unix stream socket of its own for scan jobs.
//!
//! The job protocol: a client writes one absolute path (file or directory) per line, as
//! many jobs as it likes on one connection; blank lines are ignored. Each job is answered,
//! in order, with a verdict line per file (see `report.rs`) and a final
//! `done: N files, M infected, K errors` line. A line longer than a path can be gets
//! `error: job line too long` and the connection is closed; a connection over the limit
//! gets `error: busy`. Each job has its own broker connection, so a restarted broker
//! costs at most the job in progress.
//!
//! Whoever can connect can learn the names of every file the scanner may list, and
//! whether each is infected: the socket is created with mode 0600 (owner only) unless
//! told otherwise, in a directory the operator chose.

use std::ffi::OsString;
use std::fs;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fdbroker_agent::Client;
use rustix::fs::Mode;
use rustix::net::sockopt::socket_peercred;

use crate::engine::Engine;
use crate::report::{Report, Tally, Verdict, escape};
use crate::scan::scan;

/// The longest job line: a path of at most `PATH_MAX` bytes.
const MAX_JOB_LINE: usize = 4096;

/// Job connections served at once; one more is told `error: busy` and closed. Each job
/// holds up to a batch of fds (253), so this bounds the fds the daemon needs.
const MAX_CONNECTIONS: usize = 8;

/// What every job needs: where the broker is, and what scans.
#[derive(Debug)]
pub struct Service {
    pub broker: PathBuf,
    pub engine: Engine,
}

/// Creates the job socket at `path` with exactly `mode` and serves jobs until killed. A
/// stale socket left by an earlier run is replaced; anything else at `path` is an error.
pub fn serve(path: &Path, mode: u32, service: Service) -> io::Result<()> {
    let listener = bind(path, mode)?;
    raise_fd_limit();
    eprintln!(
        "scanner: listening for jobs on {} (mode {mode:04o}), scanning with {}",
        path.display(),
        service.engine.describe()
    );
    let service = Arc::new(service);
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let mut conn = match conn {
            Ok(conn) => conn,
            Err(e) => {
                // Out of fds, say: pause instead of spinning.
                eprintln!("scanner: accept: {e}");
                std::thread::sleep(Duration::from_millis(250));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::AcqRel);
            let _ = conn.write_all(b"error: busy\n");
            continue;
        }
        let (service, active) = (service.clone(), active.clone());
        std::thread::spawn(move || {
            if let Err(e) = serve_connection(&conn, &service) {
                eprintln!("scanner: job connection: {e}");
            }
            active.fetch_sub(1, Ordering::AcqRel);
        });
    }
    Ok(())
}

/// Binds the socket with `mode` from the start (through the umask, so it is never more
/// open than asked, even for an instant), replacing only a stale socket.
fn bind(path: &Path, mode: u32) -> io::Result<UnixListener> {
    if let Ok(meta) = fs::symlink_metadata(path) {
        let stale = meta.file_type().is_socket()
            && UnixStream::connect(path)
                .is_err_and(|e| e.kind() == io::ErrorKind::ConnectionRefused);
        if !stale {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{}: exists and is not a stale socket (is a scanner listening there?)",
                    path.display()
                ),
            ));
        }
        fs::remove_file(path)?;
    }
    // Still single-threaded here, so the process-wide umask affects only this bind.
    let old = rustix::process::umask(Mode::from_raw_mode(!mode & 0o777));
    let bound = UnixListener::bind(path);
    rustix::process::umask(old);
    let listener = bound?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

/// Raises the soft limit on open fds to the hard limit: concurrent jobs hold a batch of
/// fds each (a Debian login's soft limit, 1024, is four batches). Failing to raise it only
/// lowers capacity: a batch the broker cannot deliver is an error, never clean.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            eprintln!("scanner: cannot raise the open-files limit: {e}");
        }
    }
}

/// Reads job lines from `conn` until it closes; runs each job in turn. Blank lines are
/// ignored. A line longer than a path can be ends the connection.
fn serve_connection(conn: &UnixStream, service: &Service) -> io::Result<()> {
    let peer = socket_peercred(conn)
        .map(|c| format!("uid {} pid {}", c.uid.as_raw(), c.pid.as_raw_nonzero()))
        .unwrap_or_else(|_| "an unknown peer".into());
    let mut lines = BufReader::new(conn);
    loop {
        let mut line = Vec::new();
        let limit = MAX_JOB_LINE as u64 + 1;
        if lines.by_ref().take(limit).read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if line.len() > MAX_JOB_LINE {
            let mut out = conn;
            return out.write_all(b"error: job line too long\n");
        }
        if line.is_empty() {
            continue;
        }
        let root = PathBuf::from(OsString::from_vec(line));
        let tally = job(conn, &root, service)?;
        eprintln!("scanner: job from {peer}: {}: {tally}", escape(&root));
    }
}

/// One job over its own broker connection. A failure of the broker connection is an
/// error line for the job's root, after the lines already written.
fn job(conn: &UnixStream, root: &Path, service: &Service) -> io::Result<Tally> {
    let mut report = Report::new(BufWriter::new(conn));
    let scanned = Client::connect(&service.broker)
        .and_then(|mut client| scan(&mut client, &service.engine, [root.to_owned()], &mut report));
    if let Err(e) = scanned {
        report.file(root, &Verdict::Error(format!("scan stopped: {e}")))?;
    }
    report.done()
}
