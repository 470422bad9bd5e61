//! `fdagent`: get files from fdbroker on the command line.

#![forbid(unsafe_code)]

mod exit;
mod help;
mod ls;
mod man;

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, ExitCode};
use std::time::Duration;

use clap::{Parser, Subcommand};
use fdbroker_agent::{Access, BrokerStatus, Client, MAX_BATCH, default_socket};

/// Get open files from fdbroker: the broker opens each file under its policy and hands
/// this process the open file descriptor.
#[derive(Debug, Parser)]
#[command(name = "fdagent", version, after_help = help::after_help())]
struct Cli {
    /// The broker's socket [default: $FDBROKER_SOCKET, else /run/fdbroker.sock]
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Give up on a broker that does not accept, take a request or answer within this
    /// many seconds (exit 69); 0 waits for ever
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the files to standard output, in order. A file that fails is reported and
    /// skipped; the exit status is that of the first failure.
    Cat {
        /// Absolute paths.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run CMD with the brokered file as its standard input. If the file cannot be had,
    /// CMD never runs: a scanner run on an inherited stdin would report a refused file clean.
    Exec {
        /// Access words for the file, comma-separated.
        #[arg(long, default_value = "read")]
        access: Access,
        /// Absolute path of the file.
        path: PathBuf,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// Open a file with the given access and print its type and size (`regular 4096`).
    Open {
        /// Access words, comma-separated: read, write, append, create, truncate, list.
        #[arg(long, default_value = "read")]
        access: Access,
        /// Mode for a file created under `create` (octal; bounded by the broker).
        #[arg(long, default_value = "0600", value_parser = parse_mode)]
        mode: u32,
        /// Copy standard input into the opened file.
        #[arg(long)]
        write_stdin: bool,
        /// Absolute path of the file.
        path: PathBuf,
    },
    /// List a directory through the broker (it needs a `list` grant).
    ///
    /// One name per line, sorted, without `.` and `..`; directories end in `/`. Control
    /// characters and bytes that are not UTF-8 are escaped (`\n`, `\xff`), as in the
    /// broker's audit log, so that each line is exactly one name.
    Ls {
        /// Absolute path of the directory.
        path: PathBuf,
    },
    /// Check that the broker is up and speaks this protocol; prints `pong`.
    Ping,
    /// Print the broker's state and per-rule counts (for root and clients the policy names).
    Status,
    /// Write the manual page fdagent.1 into DIR (for packaging).
    #[command(hide = true)]
    Man {
        /// The directory to write the page into (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Command::Man { dir } = &cli.command {
        return match man::write_page(dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => exit::report("man", &e, exit::IO),
        };
    }
    let socket = cli.socket.unwrap_or_else(default_socket);
    let timeout = (cli.timeout > 0).then(|| Duration::from_secs(cli.timeout));
    let mut client = match Client::connect_timeout(&socket, timeout) {
        Ok(client) => client,
        Err(e) => return exit::report("broker unreachable", &e, exit::UNAVAILABLE),
    };
    match cli.command {
        Command::Cat { paths } => cat(&mut client, &paths),
        Command::Exec {
            access,
            path,
            command,
        } => exec(&mut client, access, &path, &command),
        Command::Open {
            access,
            mode,
            write_stdin,
            path,
        } => open(&mut client, access, mode, write_stdin, &path),
        Command::Ls { path } => ls::ls(&mut client, &path),
        Command::Status => match client.status() {
            Ok(status) => {
                print_status(&status);
                ExitCode::SUCCESS
            }
            Err(e) => exit::report("status", &e, exit::for_request(&e)),
        },
        Command::Ping => match client.ping() {
            Ok(()) => {
                println!("pong");
                ExitCode::SUCCESS
            }
            Err(e) => exit::report("ping", &e, exit::for_request(&e)),
        },
        // Handled above, before connecting: writing a page needs no broker.
        Command::Man { .. } => ExitCode::SUCCESS,
    }
}

fn cat(client: &mut Client, paths: &[PathBuf]) -> ExitCode {
    let mut first_failure = None;
    let mut stdout = io::stdout().lock();
    // One round trip per batch of paths; the fds of a batch are held only while it is copied.
    for chunk in paths.chunks(MAX_BATCH) {
        let files = match client.open_many(chunk, Access::READ) {
            Ok(files) => files,
            Err(e) => return exit::report("broker", &e, exit::for_request(&e)),
        };
        for (path, file) in chunk.iter().zip(files) {
            let copied = file
                .map_err(|e| (exit::for_request(&e), e))
                .and_then(|mut file| io::copy(&mut file, &mut stdout).map_err(|e| (exit::IO, e)));
            if let Err((code, e)) = copied {
                eprintln!("fdagent: {}: {e}", path.display());
                first_failure.get_or_insert(code);
            }
        }
    }
    if let Err(e) = stdout.flush() {
        return exit::report("stdout", &e, exit::IO);
    }
    first_failure.map_or(ExitCode::SUCCESS, ExitCode::from)
}

fn exec(client: &mut Client, access: Access, path: &Path, command: &[OsString]) -> ExitCode {
    let file = match client.open(path, access) {
        Ok(file) => file,
        Err(e) => return exit::report(&path.display().to_string(), &e, exit::for_request(&e)),
    };
    let (program, args) = command.split_first().expect("clap requires a command");
    // exec only returns on failure; on success the command's status is ours.
    let err = Process::new(program).args(args).stdin(file).exec();
    let code = if err.kind() == io::ErrorKind::NotFound {
        exit::EXEC_NOT_FOUND
    } else {
        exit::CANNOT_EXEC
    };
    exit::report(&program.to_string_lossy(), &err, code)
}

fn open(
    client: &mut Client,
    access: Access,
    mode: u32,
    write_stdin: bool,
    path: &Path,
) -> ExitCode {
    let mut opened = match client.open_with_mode(path, access, mode) {
        Ok(opened) => opened,
        Err(e) => return exit::report(&path.display().to_string(), &e, exit::for_request(&e)),
    };
    if write_stdin && let Err(e) = io::copy(&mut io::stdin().lock(), &mut opened.file) {
        return exit::report(&path.display().to_string(), &e, exit::IO);
    }
    println!("{} {}", opened.kind.as_str(), opened.size);
    ExitCode::SUCCESS
}

fn print_status(status: &BrokerStatus) {
    let loaded = status
        .policy_loaded_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    println!("uptime: {} s", status.uptime.as_secs());
    println!(
        "policy: {} (loaded at {loaded}, Unix time)",
        status.policy_file
    );
    println!(
        "connections: {} now, {} at most",
        status.connections, status.peak_connections
    );
    println!("default deny: {}", status.default_denied);
    println!("errors: {}", status.errors);
    println!("{:>10} {:>10}  rule", "allowed", "denied");
    for rule in &status.rules {
        println!("{:>10} {:>10}  {}", rule.allowed, rule.denied, rule.name);
    }
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.strip_prefix("0o").unwrap_or(s), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("{s:?} is not an octal mode"))
}
