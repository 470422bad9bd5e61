//! `fdagent`: get files from fdbroker on the command line.

// Denied, not forbidden: `run` (its own modules say why) may use `unsafe`, and `unwinder`
// needs an `unsafe extern` block (empty) to link.
#![deny(unsafe_code)]

mod exit;
mod help;
mod ls;
mod man;
mod plain_cat;
mod run;
mod status;
mod unwinder;

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, ExitCode};
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use fdbroker_agent::{Access, Client, MAX_BATCH, default_socket};

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
        /// Access words for the file, comma-separated. They must include `read`, and not be
        /// `list`: CMD reads the file from its stdin, and one it cannot read would look empty.
        #[arg(long, default_value = "read", value_parser = exec_access)]
        access: Access,
        /// Absolute path of the file.
        path: PathBuf,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// Open a file with the given access and print its type and size (`regular 4096`).
    ///
    /// With `create` or `create_new`, it also says whether the broker created the file or
    /// opened one that was there (`regular 0 created`, `regular 12 existed`); `create_new`
    /// fails instead of opening a file that is there.
    Open {
        /// Access words, comma-separated: read, write, create, create_new, truncate, list.
        #[arg(long, default_value = "read")]
        access: Access,
        /// Mode for a file created under `create` or `create_new` (octal; bounded by the
        /// broker).
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
    /// Run CMD so that its opens of files the policy grants succeed through the broker.
    ///
    /// CMD runs as you, unmodified (static binaries included), under a seccomp filter that
    /// sends its open, openat, openat2 and creat calls to fdagent. For a file you cannot
    /// open yourself, fdagent asks the broker with the access the flags imply (`list` for
    /// a directory) and gives CMD the broker's fd, so `grep -r`, `find` and `tar -c` walk a
    /// tree granted read and list; any open the broker refuses, or that fdagent does not
    /// serve (O_PATH, a name with `..` after a name, ...), runs as if `run` were not there,
    /// with your own rights. stat, access and readlink of such a file are answered as its
    /// open implies. CMD's children are served too.
    /// This grants; it confines nothing. The exit status is CMD's (128 + N if a signal N
    /// killed it), once every process it started has exited.
    Run {
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// Check that the broker is up and speaks this protocol; prints `pong`.
    Ping,
    /// Print what the broker tells you: to root, its state, policy, last reload and
    /// per-rule counts; to another user, only the names of the allow rules that name it
    /// (a user no allow rule names is denied).
    #[command(after_help = status::JSON_SHAPE)]
    Status {
        /// Print one JSON object instead of text (the shape is below).
        #[arg(long)]
        json: bool,
    },
    /// Write the manual page fdagent.1 into DIR (for packaging).
    #[command(hide = true)]
    Man {
        /// The directory to write the page into (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Write the shell completions fdagent.bash, _fdagent (zsh) and fdagent.fish into DIR
    /// (for packaging).
    #[command(hide = true)]
    Completions {
        /// The directory to write the completions into (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let parsed = plain_cat::parse(&args).map_or_else(|| Cli::try_parse_from(args), Ok);
    let cli = match parsed {
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
    if let Command::Completions { dir } = &cli.command {
        return match fdbroker_manpage::completions::write(&Cli::command(), dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => exit::report("completions", &e, exit::IO),
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
        Command::Run { command } => run::run(client, socket, timeout, &command),
        Command::Status { json } => match client.status() {
            Ok(reply) => {
                status::print(&reply, json);
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
        // Handled above, before connecting: writing a page or a completion needs no broker.
        Command::Man { .. } | Command::Completions { .. } => ExitCode::SUCCESS,
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
    let (kind, size) = (opened.kind.as_str(), opened.size);
    match (access.creates(), opened.created) {
        (false, _) => println!("{kind} {size}"),
        (true, true) => println!("{kind} {size} created"),
        (true, false) => println!("{kind} {size} existed"),
    }
    ExitCode::SUCCESS
}

/// `exec --access`: access words that give CMD a stdin it can read. Refused as bad usage,
/// before anything is opened: a scanner run on a stdin it cannot read reports the file
/// clean.
fn exec_access(s: &str) -> Result<Access, String> {
    const DIRECTORY: &str = "CMD reads the file from its stdin, and a directory (`list`) cannot be read so: use `fdagent ls`";
    const UNREADABLE: &str = "CMD gets the file as its stdin and must be able to read it: add `read` to the access words";
    let access: Access = s.parse().map_err(|e| format!("{e}"))?;
    if access.contains(Access::LIST) {
        return Err(DIRECTORY.into());
    }
    if !access.contains(Access::READ) {
        return Err(UNREADABLE.into());
    }
    Ok(access)
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.strip_prefix("0o").unwrap_or(s), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("{s:?} is not an octal mode"))
}
