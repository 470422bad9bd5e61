//! The fdbroker policy: which clients may open which files, and how.
//!
//! fdbroker opens files on behalf of unprivileged clients and passes them the open file
//! descriptors. Every request is checked against a policy file that the administrator writes.
//! This crate parses that file and makes the decisions; it does no other I/O.
//!
//! # The policy file
//!
//! The policy is a [TOML](https://toml.io) file:
//!
//! ```toml
//! version = 1
//!
//! [[rule]]
//! name = "scanner-reads-uploads"
//! users = ["clamav", 1001]
//! groups = ["scanners"]
//! paths = ["/srv/uploads/**"]
//! access = ["read", "list"]
//!
//! [[rule]]
//! name = "no-secrets"
//! users = ["*"]
//! paths = ["/srv/uploads/secret/**"]
//! access = ["read", "write", "create", "truncate", "list"]
//! effect = "deny"
//!
//! [[rule]]
//! name = "ingest-drops-mail"
//! groups = ["ingest"]
//! paths = ["/srv/spool/*.eml"]
//! access = ["write", "create"]
//! create_mode = 0o640
//! ```
//!
//! The top level has exactly two keys:
//!
//! - `version` (required): the integer `1`, the only version of the format so far.
//! - `rule`: the rules, each a `[[rule]]` section, in any number. A policy with no rules
//!   denies everything.
//!
//! Each `[[rule]]` has these keys, and no others:
//!
//! | key | | meaning |
//! |---|---|---|
//! | `name` | required | A non-empty name, unique in the file. The audit log and `explain` show it. |
//! | `users` | see below | User names or numeric uids the rule applies to; `"*"` means every uid. |
//! | `groups` | see below | Group names or numeric gids: the rule applies to a client whose primary group or any supplementary group is listed. |
//! | `paths` | required | Non-empty list of absolute path patterns (see *Path patterns*). |
//! | `access` | required | Non-empty list of access words: `read`, `write`, `create`, `create_new`, `truncate`, `list`. |
//! | `effect` | optional | `"allow"` (the default) or `"deny"`. |
//! | `create_mode` | optional | Allow rules only. The mask applied to the mode of files this rule lets a client create, written in octal (`0o640`), at most `0o777`. Default `0o600`. |
//! | `units` | optional | Non-empty list of systemd service or scope names (`"clamav-daemon.service"`): the rule applies only to a client whose process is in one of them (its cgroup's last `*.service` or `*.scope` component). |
//! | `executables` | optional | Non-empty list of absolute paths (`"/usr/sbin/clamd"`): the rule applies only to a client whose process runs one of them (`/proc/PID/exe`). |
//! | `user_namespaces` | optional | Allow rules only. `true` lets the rule grant to a client in a user namespace other than the broker's ([`Namespace`]); default `false`. |
//!
//! A rule applies to a client if its uid is in `users` **or** its primary or a supplementary
//! gid is in `groups`. A rule must have `users` or `groups` (or both), and each that is present
//! must be non-empty: there is no implicit "everyone"; write `users = ["*"]` for that. `"*"`
//! is allowed in `users` only. A string is a name, looked up when the policy is loaded (an
//! unknown name is an error, and renaming a user later does not change a loaded policy); an
//! integer is a numeric id, 0 to 4294967294 (4294967295 is `(uid_t)-1`, which no one has). A
//! quoted number such as `"1001"` is a *name*: write `1001` for the id. `create_mode` must be
//! octal because a decimal mode such as `400` would silently mean `0o620`.
//!
//! `units` and `executables` narrow a rule, allow or deny, to clients whose process also
//! matches every one of them that is present; the broker reads them for the process that
//! connected ([`Process`]). A client whose process could not be read (it exited, or the
//! kernel has no `SO_PEERPIDFD`) matches no rule that names them.
//!
//! A client in a user namespace other than the broker's ([`Peer::namespace`]) is decided
//! as the namespace's owner as well: a deny rule naming the owner or one of the owner's
//! groups applies to it, and only an allow rule with `user_namespaces = true` grants it
//! anything (an owner that is not known admits nothing).
//!
//! The access words (see [`Access`]): `read` reads the file; `write` writes it; `create`
//! creates it if missing (owned by the client, mode masked by `create_mode`) and otherwise
//! opens the file that is there; `create_new` creates it and fails (`EEXIST`) if the name
//! exists, never opening a file that is there; `truncate` empties it on open; `list` opens
//! a directory to read its entries. A request's `create`, `create_new` and `truncate` need
//! `write` beside them, and `create` and `create_new` exclude each other. In a decision a
//! `create` grant also grants `create_new` (which does less), and a deny rule naming either
//! creating word denies both ([`Rule::decides`]). There is no `append`: whoever holds an fd
//! can clear `O_APPEND` with `fcntl(F_SETFL)` and write anywhere, so no fd can be
//! append-only, and a policy naming it is refused with that reason.
//!
//! # Path patterns
//!
//! A pattern is an absolute path (it starts with `/`) whose components may contain wildcards:
//!
//! - `*` matches any run of bytes, including none, *within one component*: `/srv/*` matches
//!   `/srv/x` but neither `/srv` nor `/srv/x/y`; `/srv/*.eml` matches `/srv/a.eml` and
//!   `/srv/.eml`. Names starting with `.` are not special.
//! - `**`, which must be a whole component, matches zero or more whole components:
//!   `/**/x` matches `/x`, `/a/x` and `/a/b/x`; `/**` matches every path, including `/`.
//!   **Because zero components is allowed, `/srv/scan/**` matches the directory `/srv/scan`
//!   itself** as well as everything below it. So a `list` grant on a tree includes its root
//!   directory, and a deny rule on `/secret/**` also covers `/secret`. To grant only what is
//!   below a directory, use `/srv/scan/*` (one level) or `/srv/scan/*/**` (any depth).
//! - Every other character, including `?`, `[`, `]`, `{` and `\`, is literal: there are no
//!   character classes, alternatives or escapes.
//!
//! A pattern always matches the *whole* path, never a prefix: `/srv/scan/**` matches neither
//! `/srv/scanner/x` nor `/srv/scan2`. Paths are compared byte by byte, component by component;
//! request paths need not be UTF-8. Patterns must be normalized: no empty component (`//`), no
//! `.` or `..` component, no trailing `/` (the pattern `/` alone, which matches only `/`, is
//! fine), no NUL, and no `**` inside a longer component (`/a/**b` is an error). A request path that is
//! not absolute and normalized matches no pattern and is denied by default.
//!
//! # How a request is decided
//!
//! A request is a client (uid, primary gid, supplementary gids), a path and a set of access
//! words. Only rules that apply to the client and have a pattern matching the path count:
//!
//! 1. If a deny rule names **any** of the requested words, the request is denied; the first
//!    such deny rule in the file decides.
//! 2. Otherwise, if an allow rule grants **every** requested word by itself, the request is
//!    allowed; the first such allow rule decides. Grants of different rules are not combined.
//! 3. Otherwise the request is denied by default.
//!
//! Deny rules therefore win over allow rules wherever they are in the file. root (uid 0) is not
//! special: it gets only what a rule grants it. The broker creates files with the mode mask of
//! the deciding allow rule ([`Rule::create_mode`]).
//!
//! # Errors
//!
//! A policy with any error is rejected as a whole; every error is reported as
//! `FILE:LINE:COL: message`, at the key or value at fault:
//!
//! - invalid TOML (syntax errors are reported alone: the rest is not checked until they are
//!   fixed), a file larger than 16 MiB, or text that is not UTF-8;
//! - a missing or unsupported `version`, or one that is not the integer `1`;
//! - an unknown key, at the top level or in a rule (the message names the key meant, `did
//!   you mean "paths"?`, when one is a slip away, and lists the expected keys otherwise);
//! - a value of the wrong type, or an empty `users`, `groups`, `paths` or `access` list;
//! - a rule without `name`, `paths` or `access`, or with neither `users` nor `groups`
//!   (reported at its `[[rule]]` header); an empty name;
//! - a duplicate rule name (reported at the second use, naming the line of the first);
//! - an unknown access word or effect (likewise with the word meant, or the valid words);
//! - an invalid path pattern (the message names it and says what is wrong);
//! - an unknown user or group name, `"*"` in `groups`, or a numeric id out of range;
//! - a `create_mode` in a deny rule, not written in octal, or above `0o777`;
//! - a unit that is not a service or scope name, an executable that is not an absolute,
//!   normalized path, or `user_namespaces` in a deny rule.
#![forbid(unsafe_code)]

mod decide;
mod decider;
mod diagnostic;
mod hash;
mod identity;
mod index;
mod lint;
mod namespace;
mod parse;
mod parse_rule;
mod path;
mod pattern;
mod policy;
mod process;
#[cfg(test)]
mod reference;
mod rule;
mod scope;
mod subjects;
#[cfg(test)]
mod synthetic;
mod walk;

#[cfg(test)]
mod testing;

pub use decide::Decision;
pub use decider::Decider;
pub use diagnostic::{Diagnostic, FileErrors, LoadError};
pub use fdbroker_wire::Access;
use fdbroker_wire::UnknownAccessWord;
pub use lint::Warning;
pub use namespace::{Namespace, Owner, UserNamespace};
pub use policy::Policy;
pub use process::Process;
pub use rule::{Effect, Rule};
pub use scope::Root;
pub use subjects::{NameResolver, Peer};
