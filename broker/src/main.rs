//! `fdbroker`: the daemon and its admin subcommands. Errors are printed once, here, and
//! turned into the exit codes documented in `--help`.

#![deny(unsafe_code)]

mod admin;
mod cli;
mod count;
mod identity;
mod keeper;
mod policy;
mod request;
mod resolver;
mod server;
mod startup;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use fdbroker_policy::NameResolver;

use crate::cli::{Cli, Command};
use crate::resolver::system::SystemNames;

/// Exit status when the broker cannot start or stops on an error.
const EXIT_RUNTIME: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            policy,
            socket,
            socket_mode,
            socket_group,
            user,
            print_privileges,
            audit_format,
            audit_file,
            shadow_policy,
            limits,
        } => {
            // First, before this process opens anything of its own.
            if let Err(e) = startup::inherited_fds::close() {
                return fail(&e.to_string());
            }
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
                .init();
            let socket_group = match socket_group.as_deref().map(group_id).transpose() {
                Ok(group) => group,
                Err(e) => return fail(&e),
            };
            let run_as = match user.as_deref().map(run_as).transpose() {
                Ok(run_as) => run_as,
                Err(e) => return fail(&e),
            };
            // Every path option is absolute before anything uses it.
            let paths = (|| {
                Ok::<_, String>((
                    startup::absolute::absolute(&policy, "--policy")?,
                    startup::absolute::absolute(&socket, "--socket")?,
                    audit_file
                        .map(|f| startup::absolute::absolute(&f, "--audit-file"))
                        .transpose()?,
                    shadow_policy
                        .map(|f| startup::absolute::absolute(&f, "--shadow-policy"))
                        .transpose()?,
                ))
            })();
            let (policy, socket, audit_file, shadow_policy) = match paths {
                Ok(paths) => paths,
                Err(e) => return fail(&e),
            };
            let opts = startup::ServeOptions {
                policy,
                socket,
                socket_mode,
                socket_group,
                limits: limits.limits(),
                run_as,
                print_privileges,
                audit_format,
                audit_file,
                shadow_policy,
            };
            match startup::run(&opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e.to_string()),
            }
        }
        Command::Check {
            verbose,
            subuid,
            subgid,
            file,
        } => {
            let subids = admin::SubIdFiles {
                subuid: &subuid,
                subgid: &subgid,
            };
            exit_bool(admin::check(&file, verbose, &subids))
        }
        Command::Explain {
            policy,
            socket,
            uid,
            gid,
            groups,
            peer_of,
            unit,
            exe,
            access,
            path,
        } => {
            let who = match (peer_of, uid.as_deref()) {
                (Some(pid), _) => admin::Who::PeerOf(pid),
                (None, Some(user)) => admin::Who::Ids {
                    user,
                    group: gid.as_deref(),
                    groups: &groups,
                },
                (None, None) => return fail("explain needs --uid or --peer-of"),
            };
            let source = match &socket {
                Some(socket) => admin::PolicySource::Broker(socket),
                None => admin::PolicySource::File(&policy),
            };
            match admin::explain(
                source,
                &admin::Query {
                    who,
                    unit: unit.as_deref(),
                    exe: exe.as_deref(),
                    access,
                    path: &path,
                },
            ) {
                Ok(allowed) => exit_bool(allowed),
                Err(e) => fail(&e),
            }
        }
        Command::Reload { socket } => admin::reload::reload(&socket).unwrap_or_else(|e| fail(&e)),
        Command::ResolveNames { user } => match resolver::run(user) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("name resolver: {e}")),
        },
        Command::KeepFiles {
            socket,
            audit_file,
            policy,
            shadow_policy,
        } => {
            let paths = keeper::Paths {
                socket: socket.as_deref(),
                audit_file: audit_file.as_deref(),
                policy: policy.as_deref(),
                shadow_policy: shadow_policy.as_deref(),
            };
            match keeper::run(&paths) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("file keeper: {e}")),
            }
        }
        Command::ReadPeers { user } => match identity::run(user) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("process reader: {e}")),
        },
        Command::Man { dir } => match admin::man::write_pages(&dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("man: {e}")),
        },
        Command::Completions { dir } => {
            match fdbroker_manpage::completions::write(&Cli::command(), &dir) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("completions: {e}")),
            }
        }
    }
}

/// A `--socket-group` value: a group name, or a numeric gid.
fn group_id(group: &str) -> Result<u32, String> {
    group
        .parse()
        .ok()
        .or_else(|| SystemNames.gid(group))
        .ok_or_else(|| format!("--socket-group: unknown group {group:?}"))
}

/// A `--user` value: a user name, or a uid, with its primary group from the user database.
fn run_as(user: &str) -> Result<startup::privileges::RunAs, String> {
    use nix::unistd::{Uid, User};
    let entry = match user.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(user),
    };
    match entry {
        Ok(Some(u)) => Ok(startup::privileges::RunAs {
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
        }),
        Ok(None) => Err(format!("--user: unknown user {user:?}")),
        Err(e) => Err(format!("--user {user:?}: {e}")),
    }
}

fn exit_bool(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("fdbroker: {message}");
    ExitCode::from(EXIT_RUNTIME)
}
