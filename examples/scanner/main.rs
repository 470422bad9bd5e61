//! An unprivileged virus scanner in the ClamAV pattern: it cannot open, or even search,
//! the trees it scans, so it asks fdbroker for everything, and hands the open fds to
//! clamd (`zFILDES`), which cannot open them either. Neither ever opens a path itself.
//!
//! ```text
//! scanner [--socket BROKER_SOCKET] [--clamd CLAMD_SOCKET] PATH...
//! scanner [--socket BROKER_SOCKET] [--clamd CLAMD_SOCKET] --listen JOB_SOCKET [--listen-mode OCTAL]
//! ```
//!
//! Each PATH is a file or a directory (walked recursively through `list` fds; symbolic
//! links are reported on stderr, not followed); a directory named with a trailing `/` is
//! listed at once, without first being asked for as a file (see `walk.rs`). Output is one line per file,
//! `PATH: clean`, `PATH: infected (NAME)` or `PATH: error: WHY`, then
//! `done: N files, M infected, K errors`. With PATH arguments the exit status is 1 if
//! anything was infected, else 2 if anything could not be scanned, else 0. A file the
//! broker refuses is an error, never clean: a scanner that cannot read a file has not
//! scanned it.
//!
//! With `--listen`, it serves scan jobs on a socket of its own instead (see `listen.rs`).
//! Without `--clamd`, a built-in scan finds only the EICAR test signature.

mod clamd;
mod eicar;
mod engine;
mod listen;
mod report;
mod scan;
mod walk;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fdbroker_agent::{Client, default_socket};

use crate::clamd::Clamd;
use crate::engine::Engine;
use crate::listen::Service;
use crate::report::Report;

const USAGE: &str = "usage: scanner [--socket BROKER_SOCKET] [--clamd CLAMD_SOCKET] \
                     (--listen JOB_SOCKET [--listen-mode OCTAL] | PATH...)";

/// The command line.
#[derive(Debug)]
struct Args {
    broker: PathBuf,
    clamd: Option<PathBuf>,
    listen: Option<PathBuf>,
    listen_mode: u32,
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let Some(args) = parse(std::env::args_os().skip(1)) else {
        eprintln!("{USAGE}");
        return ExitCode::from(64);
    };
    let engine = match &args.clamd {
        None => Engine::Builtin,
        Some(socket) => {
            let clamd = Clamd::new(socket);
            // Fail at once, rather than with an error line per file.
            if let Err(e) = clamd.ping() {
                eprintln!(
                    "scanner: clamd at {} does not answer: {e}",
                    socket.display()
                );
                return ExitCode::from(2);
            }
            Engine::Clamd(clamd)
        }
    };
    if let Some(job_socket) = &args.listen {
        let service = Service {
            broker: args.broker,
            engine,
        };
        return match listen::serve(job_socket, args.listen_mode, service) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("scanner: {e}");
                ExitCode::from(2)
            }
        };
    }
    match scan_once(&args.broker, &engine, args.paths) {
        Ok(tally) if tally.infected > 0 => ExitCode::from(1),
        Ok(tally) if tally.errors > 0 => ExitCode::from(2),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scanner: {e}");
            ExitCode::from(2)
        }
    }
}

/// Scans `paths` once, to stdout, over one broker connection.
fn scan_once(broker: &Path, engine: &Engine, paths: Vec<PathBuf>) -> io::Result<report::Tally> {
    let mut client = Client::connect(broker)?;
    let mut report = Report::new(io::stdout().lock());
    scan::scan(&mut client, engine, paths, &mut report)?;
    report.done()
}

/// Options and PATHs in any order (`--` ends the options); `--listen` and PATHs exclude
/// each other, and one of them is needed.
fn parse(args: impl IntoIterator<Item = OsString>) -> Option<Args> {
    let mut args = args.into_iter();
    let mut parsed = Args {
        broker: default_socket(),
        clamd: None,
        listen: None,
        listen_mode: 0o600,
        paths: Vec::new(),
    };
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--socket") => parsed.broker = args.next()?.into(),
            Some("--clamd") => parsed.clamd = Some(args.next()?.into()),
            Some("--listen") => parsed.listen = Some(args.next()?.into()),
            Some("--listen-mode") => {
                let mode = u32::from_str_radix(args.next()?.to_str()?, 8).ok()?;
                parsed.listen_mode = (mode <= 0o777).then_some(mode)?;
            }
            Some("--") => {
                parsed.paths.extend(args.by_ref().map(PathBuf::from));
                break;
            }
            Some(option) if option.starts_with("--") => return None,
            _ => parsed.paths.push(arg.into()),
        }
    }
    // Exactly one of the two.
    (parsed.listen.is_some() == parsed.paths.is_empty()).then_some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Option<Args> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn command_lines() {
        let a = parse_str(&["--socket", "/b", "--clamd", "/c", "/x", "/y"]).unwrap();
        assert_eq!(a.broker, Path::new("/b"));
        assert_eq!(a.clamd.as_deref(), Some(Path::new("/c")));
        assert_eq!(a.paths, [Path::new("/x"), Path::new("/y")]);
        let a = parse_str(&["--listen", "/j", "--listen-mode", "660"]).unwrap();
        assert_eq!(
            (a.listen.as_deref(), a.listen_mode),
            (Some(Path::new("/j")), 0o660)
        );
        assert_eq!(
            parse_str(&["--", "--odd"]).unwrap().paths,
            [Path::new("--odd")]
        );
        for bad in [
            &[][..],
            &["--socket"],
            &["--listen", "/j", "/x"],
            &["--listen", "/j", "--listen-mode", "999"],
            &["--frobnicate", "/x"],
        ] {
            assert!(parse_str(bad).is_none(), "{bad:?}");
        }
    }
}
