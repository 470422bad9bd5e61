//! The audit trail: one record per decision, as a text line (default) or a JSON object,
//! written to stderr among the log's lines (looking like `audit` lines at info level, but written
//! whatever `RUST_LOG` says) or to its own file.
//!
//! Text:
//! ```text
//! allow op=open uid=2001 gid=2001 pid=77 access=read path="/srv/a" rule="scanner"
//! deny op=open uid=2002 gid=2002 pid=78 access=read path="/srv/a" rule=- errno=EACCES reason="default deny"
//! fail op=open uid=2001 gid=2001 pid=77 access=read path="/srv/b" rule="scanner" errno=ENOENT reason="no such file or directory"
//! allow op=create uid=2001 gid=2001 pid=77 access=write,create path="/srv/c" rule="drop"
//! ```
//! `op` is `create` when the broker created the file (`create` or `create_new` access),
//! `open` otherwise: a `create` request that found the file there opened it.
//! Text records on stderr look like the log's own lines (`[TIME INFO  audit] allow ...`)
//! but bypass the logger, which would cost more than the record; in a file they start
//! with the time. JSON, one object per line, with stable fields: `time` (UTC, RFC 3339), `decision`
//! (`allow`, `deny`, `fail`), `uid`, `user` (the name, or null), `gid`, `pid`, `op` (`open`
//! or `create`),
//! `access`, `path`, `rule` (null for the default deny), `errno` and `reason` (null when
//! allowed). In both, paths carry Rust string escapes, so bytes that are not UTF-8 appear
//! as `\xNN` and every record names the exact bytes asked for. The client's executable is
//! not recorded: reading `/proc` would widen the broker's Landlock confinement.
//!
//! A request's records are one `write` (a file sink is unbuffered and opened `O_APPEND`),
//! made right after its reply is sent, with the send's outcome: an allowed fd whose reply
//! the kernel refused (`ETOOMANYREFS`) or whose client was gone (`EPIPE`) was never
//! delivered, and is recorded as a `fail`, not an `allow`. The worker writes them before
//! it does anything else, so only the broker dying in between can lose them.

mod path;
mod record;
mod time;

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use clap::ValueEnum;
use fdbroker_wire::Access;

pub use path::QuotedPath;
pub use record::Named;
use record::{Record, Subject};
use time::Stamp;

use crate::keeper::Keeper;
use crate::server::peer::PeerCreds;

/// How records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// One `key=value` line per decision.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// How a request ended, for its record.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// Allowed and handed out.
    Allow,
    /// Allowed, created by this request, and handed out.
    Created,
    /// Refused by the policy (by a deny rule, or by no allow rule).
    Deny,
    /// Allowed, but the open failed.
    Fail {
        /// The errno returned to the client.
        errno: i32,
        /// Why.
        reason: &'a str,
    },
}

/// The audit trail of a running broker.
#[derive(Debug)]
pub struct Audit {
    format: Format,
    /// `None`: the log on stderr.
    file: Option<AuditFile>,
}

#[derive(Debug)]
struct AuditFile {
    path: PathBuf,
    out: Mutex<File>,
    /// Opens the file anew when the broker, run as another user, cannot ([`Keeper`]).
    keeper: Option<Arc<Keeper>>,
}

impl Audit {
    /// Records in `format`, to `file` if given (opened now, appending, created 0640 if
    /// missing), else to the log.
    pub fn new(format: Format, file: Option<&Path>) -> io::Result<Audit> {
        let file = match file {
            Some(path) => Some(AuditFile {
                path: path.to_path_buf(),
                out: Mutex::new(open_log(path)?),
                keeper: None,
            }),
            None => None,
        };
        Ok(Audit { format, file })
    }

    /// True when records carry user names (JSON), to be looked up once per connection.
    pub fn wants_user_names(&self) -> bool {
        self.format == Format::Json
    }

    /// From now on, reopens the audit file through `keeper`: the broker no longer may.
    pub fn reopen_through(&mut self, keeper: Arc<Keeper>) {
        if let Some(file) = &mut self.file {
            file.keeper = Some(keeper);
        }
    }

    /// Reopens the audit file (after logrotate moved it away); on failure records keep
    /// going to the file already open.
    pub fn reopen(&self) {
        let Some(file) = &self.file else { return };
        let new = match &file.keeper {
            Some(keeper) => keeper.open_audit(),
            None => open_log(&file.path),
        };
        match new {
            Ok(new) => *file.out.lock().unwrap_or_else(|e| e.into_inner()) = new,
            Err(e) => log::error!("cannot reopen the audit file {}: {e}", file.path.display()),
        }
    }

    /// An empty set of records for one request; [`Pending::flush`] writes them.
    pub fn pending(&self) -> Pending<'_> {
        let mut scratch = SCRATCH.take();
        scratch.buf.clear();
        Pending {
            audit: self,
            scratch,
            time: None,
        }
    }
}

/// The records of one request, written together in one `write` by [`Pending::flush`]
/// right after the reply is sent: a batch's records cost one system call, and each says
/// whether its fd was delivered.
#[derive(Debug)]
pub struct Pending<'a> {
    audit: &'a Audit,
    scratch: Scratch,
    /// The records' timestamp: taken once per request.
    time: Option<Stamp>,
}

/// What a worker keeps from one request's records to the next.
#[derive(Debug, Default)]
struct Scratch {
    /// The records, so that they cost no allocation once the buffer has grown.
    buf: String,
    /// The last client's subject, formatted.
    subject: Subject,
}

thread_local! {
    /// Each worker's scratch, handed back by [`Pending`] when it is done.
    static SCRATCH: Cell<Scratch> = const {
        Cell::new(Scratch {
            buf: String::new(),
            subject: Subject::new(),
        })
    };
}

/// The largest buffer kept for reuse: a full batch's records fit.
const KEPT_BUFFER: usize = 64 * 1024;

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let mut scratch = std::mem::take(&mut self.scratch);
        if scratch.buf.capacity() > KEPT_BUFFER {
            scratch.buf = String::new();
        }
        SCRATCH.set(scratch);
    }
}

impl Pending<'_> {
    /// Adds the record of one `open` decision.
    pub fn open(
        &mut self,
        peer: &PeerCreds,
        access: Access,
        path: &[u8],
        rule: Option<&str>,
        named: Named<'_>,
        outcome: Outcome<'_>,
    ) {
        let record = Record {
            peer,
            access,
            path,
            rule,
            named,
            outcome,
        };
        let time = self.time.get_or_insert_with(Stamp::now).as_str();
        let Scratch { buf, subject } = &mut self.scratch;
        match (&self.audit.file, self.audit.format) {
            (None, Format::Text) => {
                buf.push('[');
                buf.push_str(time);
                buf.push_str(" INFO  audit] ");
                record.write_text(subject.of(peer, access), buf);
            }
            (Some(_), Format::Text) => {
                buf.push_str(time);
                buf.push(' ');
                record.write_text(subject.of(peer, access), buf);
            }
            (_, Format::Json) => record.write_json(buf, time),
        }
        buf.push('\n');
    }

    /// Writes the records, if any, in one `write`.
    pub fn flush(self) {
        let buf = &self.scratch.buf;
        if buf.is_empty() {
            return;
        }
        let written = match &self.audit.file {
            Some(file) => file
                .out
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .write_all(buf.as_bytes()),
            None => io::stderr().lock().write_all(buf.as_bytes()),
        };
        if let Err(e) = written {
            log::error!("cannot write audit records: {e}");
        }
    }
}

fn open_log(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("audit file {}: {e}", path.display())))
}
