//! A private ClamAV `clamd` for the demo and the integration tests (not part of the
//! scanner; both include this file with `#[path]`): Debian's unmodified clamd, run
//! offline from a two-line signature database that knows only the EICAR test file, on a
//! socket in a directory of the caller's, stopped when dropped.
//!
//! It runs as the `clamav` user (clamd drops to it from root itself), so it cannot open
//! root-only files by path: everything it scans comes through the fds it is passed.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// Signatures for the 68-byte EICAR test file: by its MD5 and size, and by its marker
/// text anywhere in any file. clamd reports them with `.UNOFFICIAL` appended.
const TEST_HDB: &str = "44d88612fea8a8f36de82e1278abb02f:68:Test.EICAR.HDB\n";
const TEST_NDB: &str =
    "Test.EICAR.NDB:0:*:45494341522d5354414e444152442d414e544956495255532d544553542d46494c45\n";

/// How long clamd may take to load its database and answer `PONG`, or to exit on SIGTERM.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What a reply from clamd may take before we give up on it.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A running private clamd. Dropping it sends SIGTERM, waits (bounded), then SIGKILLs.
#[derive(Debug)]
pub struct PrivateClamd {
    child: Option<Child>,
    dir: PathBuf,
}

impl PrivateClamd {
    /// The `clamd` program, or why it cannot be used (not installed).
    pub fn find() -> Result<PathBuf, String> {
        find_program("clamd").ok_or_else(|| {
            "clamd is not installed (apt-get install clamav-daemon clamdscan)".to_owned()
        })
    }

    /// Starts `clamd` as root with its files in `dir` (created, must not exist), plus
    /// `extra_config` lines; returns once it answers `zPING`. Layout: `clamd.conf`
    /// (readable by all, so unprivileged `clamdscan --config-file` can use it), `db/`,
    /// and `run/` (owned by clamav: socket, log, pid) and `tmp/`.
    pub fn start(clamd: &Path, dir: &Path, extra_config: &str) -> io::Result<PrivateClamd> {
        let (uid, gid) = clamav_ids()?;
        make_dir(dir, 0o755)?;
        make_dir(&dir.join("db"), 0o755)?;
        for (name, text) in [("test.hdb", TEST_HDB), ("test.ndb", TEST_NDB)] {
            let path = dir.join("db").join(name);
            fs::write(&path, text)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        }
        for (name, mode) in [("run", 0o755), ("tmp", 0o700)] {
            make_dir(&dir.join(name), mode)?;
            chown(dir.join(name), Some(uid), Some(gid))?;
        }
        let d = dir.display();
        let config = format!(
            "LocalSocket {d}/run/clamd.sock\n\
             LocalSocketMode 666\n\
             FixStaleSocket yes\n\
             DatabaseDirectory {d}/db\n\
             TemporaryDirectory {d}/tmp\n\
             LogFile {d}/run/clamd.log\n\
             PidFile {d}/run/clamd.pid\n\
             Foreground yes\n\
             User clamav\n\
             SelfCheck 0\n\
             MaxThreads 4\n\
             DisableCache yes\n\
             LogClean yes\n\
             AlertExceedsMax yes\n\
             {extra_config}\n"
        );
        let config_path = dir.join("clamd.conf");
        fs::write(&config_path, config)?;
        fs::set_permissions(&config_path, fs::Permissions::from_mode(0o644))?;
        let out = File::create(dir.join("clamd.out"))?;
        let child = Command::new(clamd)
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        let mut clamd = PrivateClamd {
            child: Some(child),
            dir: dir.to_path_buf(),
        };
        clamd.wait_ready()?;
        Ok(clamd)
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                return Err(io::Error::other(format!(
                    "clamd exited during start-up ({status}):\n{}",
                    self.log()
                )));
            }
            if self.command(b"zPING\0").is_ok_and(|r| r == "PONG") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "clamd did not answer PONG within {TIMEOUT:?}:\n{}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("run/clamd.sock")
    }

    /// The configuration file, for `clamdscan --config-file`.
    pub fn config(&self) -> PathBuf {
        self.dir.join("clamd.conf")
    }

    /// clamd's log file and its stdout and stderr, for failure reports.
    pub fn log(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!("{}{}", read("run/clamd.log"), read("clamd.out"))
    }

    /// Sends one `z` command (NUL-terminated) on a fresh connection and returns the reply
    /// up to its NUL: `zPING\0` answers `PONG`; `zSCAN PATH\0` scans by path, with clamd's
    /// own access.
    pub fn command(&self, command: &[u8]) -> io::Result<String> {
        let mut conn = UnixStream::connect(self.socket())?;
        conn.set_read_timeout(Some(REPLY_TIMEOUT))?;
        conn.write_all(command)?;
        let mut reply = Vec::new();
        BufReader::new(conn).take(4096).read_until(0, &mut reply)?;
        if reply.pop() != Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "clamd closed the connection without a full reply",
            ));
        }
        Ok(String::from_utf8_lossy(&reply).into_owned())
    }
}

impl Drop for PrivateClamd {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = Pid::from_raw(child.id() as i32) {
            let _ = kill_process(pid, Signal::TERM);
        }
        let deadline = Instant::now() + TIMEOUT;
        while matches!(child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                eprintln!("clamd ignored SIGTERM; killing it");
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.wait();
    }
}

/// `name` in `$PATH` or in the sbin directories a non-root `$PATH` may lack.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The uid and gid of the `clamav` user the Debian package creates.
fn clamav_ids() -> io::Result<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 4 && fields[0] == "clamav")
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))?
        })
        .ok_or_else(|| io::Error::other("no clamav user in /etc/passwd"))
}

fn make_dir(path: &Path, mode: u32) -> io::Result<()> {
    fs::create_dir(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}
