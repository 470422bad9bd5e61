//! The request and response types. Their postcard encoding is the wire format: variants
//! and fields may only be appended, never reordered (see the crate docs), and the golden
//! vectors (`tests/golden/vectors.txt`) fail on any change to their bytes.

use serde::{Deserialize, Serialize};

use crate::{Access, Batch, Reason};

/// A client's request. Borrowed fields decode without copying out of the receive buffer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request<'a> {
    /// Is the broker there and speaking this version? Answered `Pong`.
    Ping,
    /// Open `path` with `access`; answered `Opened` with one fd, or `Error`.
    Open {
        /// Absolute, normalized path bytes (see [`crate::check_path`]).
        #[serde(borrow)]
        path: &'a [u8],
        /// The access words asked for; the broker derives the open flags from them.
        access: Access,
        /// Mode for a file created under `create` access (`<= 0o7777`).
        create_mode: u32,
    },
    /// Open each of `paths` with `access`; answered `OpenedMany` with one record per path,
    /// in order, and one fd per granted record, in order.
    OpenMany {
        /// 1 to [`crate::MAX_BATCH`] paths, each checked on its own (see [`crate::check_path`]).
        #[serde(borrow)]
        paths: Batch<&'a [u8]>,
        /// The access words asked for every path.
        access: Access,
        /// Mode for files created under `create` access (`<= 0o7777`).
        create_mode: u32,
    },
    /// What the broker tells this client about itself, a page from `first_rule` on (ask
    /// again from `first_rule + rules.len()`): to root, `Status` with its counters and
    /// per-rule counts; to another client, `Grants`; `Denied` to a client that no allow
    /// rule names.
    Status {
        /// The index of the first rule wanted (among the rules the reply lists: every
        /// rule for root, the client's own grants for anyone else).
        first_rule: u32,
    },
    /// Root only: re-read the policy file now, as SIGHUP does, and answer once that attempt
    /// (or a later one) is over, with `Status` from rule 0, whose `last_reload` is its
    /// outcome. Anyone else gets `Denied`.
    Reload,
    /// Root only: how the policy in force would decide a request of this client, as it
    /// decides a real one, without touching the file system; answered `Explained`.
    /// Anyone else gets `Denied`.
    Explain {
        /// The client's uid.
        uid: u32,
        /// The client's primary gid (`u32::MAX`, which matches no rule, for none).
        gid: u32,
        /// The client's supplementary gids, at most [`crate::MAX_EXPLAIN_GROUPS`].
        groups: Batch<u32, { crate::MAX_EXPLAIN_GROUPS }>,
        /// Absolute, normalized path bytes (see [`crate::check_path`]).
        #[serde(borrow)]
        path: &'a [u8],
        /// The access words asked for.
        access: Access,
    },
}

/// The broker's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response<'a> {
    /// The answer to `Ping`.
    Pong,
    /// The file is open; the fd travels in this message's `SCM_RIGHTS`.
    Opened {
        /// What `fstat` says the fd is.
        kind: FileKind,
        /// `st_size` from `fstat` on the fd.
        size: u64,
    },
    /// The request failed; no fd is attached.
    Error {
        /// What went wrong, for programs.
        kind: ErrorKind,
        /// The Linux errno that best describes it.
        errno: i32,
        /// What went wrong, for humans.
        #[serde(borrow)]
        message: &'a str,
    },
    /// The answer to `OpenMany`: one record per requested path, in order; the fds of the
    /// `Opened` records travel in this message's `SCM_RIGHTS`, in the same order.
    OpenedMany {
        /// The per-path outcomes.
        results: Batch<Outcome>,
    },
    /// The answer to `Status` for root, and to `Reload`.
    Status(#[serde(borrow)] Status<'a>),
    /// The answer to `Status` for any client but root: the names of the allow rules that
    /// name it, and nothing else (see [`Grants`]).
    Grants(#[serde(borrow)] Grants<'a>),
    /// The answer to an `Open` with `create` or `create_new` that created the file; the fd
    /// travels in this message's `SCM_RIGHTS`. (To such a request, `Opened` means the file
    /// was there already; `create_new` never opens one that was.)
    Created {
        /// What `fstat` says the fd is (always `Regular`).
        kind: FileKind,
        /// `st_size` from `fstat` on the fd.
        size: u64,
    },
    /// The answer to `Explain`: the live policy's decision.
    Explained {
        /// Whether an allow rule decides it.
        allowed: bool,
        /// The deciding rule's name (clipped to [`crate::MAX_RULE_NAME`] bytes); `None`
        /// when no rule matched (the default deny).
        #[serde(borrow)]
        rule: Option<&'a str>,
        /// Whether the deciding allow rule is inactive (a root of it could not be confined
        /// to at start), so a real request would fail instead of being served.
        inactive: bool,
        /// When the policy that decided was loaded, in seconds since the Unix epoch.
        policy_loaded_at: u64,
    },
}

/// The broker's state and counters. Counts are since the policy in force was loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status<'a> {
    /// Seconds since the broker started.
    pub uptime_secs: u64,
    /// The policy file (lossy UTF-8).
    #[serde(borrow)]
    pub policy_file: &'a str,
    /// When the policy in force was loaded, in seconds since the Unix epoch.
    pub policy_loaded_at: u64,
    /// Rules in the policy in force.
    pub rule_count: u32,
    /// Connections open now.
    pub connections: u64,
    /// The most connections open at once since start.
    pub peak_connections: u64,
    /// Requests denied because no rule allowed them.
    pub default_denied: u64,
    /// Allowed requests whose open failed, and requests refused as malformed.
    pub errors: u64,
    /// Per-rule counts, from rule `first_rule` on, in file order.
    #[serde(borrow)]
    pub rules: Batch<RuleStatus<'a>>,
    /// The index of `rules[0]`.
    pub first_rule: u32,
    /// The last reload attempt since start, whatever its outcome; `None` if there was none.
    #[serde(borrow)]
    pub last_reload: Option<ReloadAttempt<'a>>,
}

/// One attempt to reload the policy (SIGHUP or `Reload`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadAttempt<'a> {
    /// When it ended, in seconds since the Unix epoch.
    pub at: u64,
    /// What came of it.
    pub result: ReloadResult,
    /// The first line of the reason it was not taken (at most
    /// [`crate::MAX_MESSAGE_TEXT`] bytes); empty when it is in force.
    pub error: &'a str,
}

/// What came of a reload attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReloadResult {
    /// The new policy is in force.
    InForce,
    /// The file does not load (unreadable, not TOML, not a valid policy): the previous
    /// policy stays in force.
    Invalid,
    /// The file is valid but would need a capability or Landlock access the broker dropped
    /// at start: the previous policy stays in force until the broker is restarted.
    NeedsRestart,
}

impl ReloadResult {
    /// Every result, in tag order (a unit test checks that none is missing).
    pub const ALL: [ReloadResult; 3] = [
        ReloadResult::InForce,
        ReloadResult::Invalid,
        ReloadResult::NeedsRestart,
    ];

    /// A few lower-case words for it, as the CLIs print them.
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::InForce => "in force",
            ReloadResult::Invalid => "invalid",
            ReloadResult::NeedsRestart => "refused, needs a restart",
        }
    }
}

/// What a client other than root may know of the broker: the names of the allow rules
/// that name it (by uid, primary or supplementary gid; `users = ["*"]` names nobody), in
/// file order. A type of its own, so that no counter, path or reload error of the
/// administrator's can be put in it by mistake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants<'a> {
    /// How many allow rules name the client.
    pub rule_count: u32,
    /// Their names (clipped to [`crate::MAX_RULE_NAME`] bytes), from `first_rule` on.
    #[serde(borrow)]
    pub rules: Batch<&'a str>,
    /// The index of `rules[0]` among them.
    pub first_rule: u32,
}

/// The counts of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleStatus<'a> {
    /// The rule's name (clipped to [`crate::MAX_RULE_NAME`] bytes).
    pub name: &'a str,
    /// Requests this rule allowed.
    pub allowed: u64,
    /// Requests this rule denied.
    pub denied: u64,
    /// Why the rule serves nothing, when a root of its could not be confined to at start
    /// (`its root /srv/x does not exist`); `None` for a rule in force.
    #[serde(borrow)]
    pub inactive: Option<&'a str>,
}

/// What happened to one path of an `OpenMany` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Opened; its fd is the next one in the message's `SCM_RIGHTS`.
    Opened {
        /// What `fstat` says the fd is.
        kind: FileKind,
        /// `st_size` from `fstat` on the fd.
        size: u64,
    },
    /// Not opened, for the same reasons and with the same errnos as an `Error` response.
    Failed {
        /// What went wrong.
        kind: ErrorKind,
        /// The Linux errno that best describes it.
        errno: i32,
    },
    /// Created by this request (`create` or `create_new`); its fd is the next one in the
    /// message's `SCM_RIGHTS`, as for `Opened`.
    Created {
        /// What `fstat` says the fd is (always `Regular`).
        kind: FileKind,
        /// `st_size` from `fstat` on the fd.
        size: u64,
    },
    /// Not opened, as `Failed`, with the broker's reason (what its log line says).
    FailedWith {
        /// What went wrong.
        kind: ErrorKind,
        /// The Linux errno that best describes it.
        errno: i32,
        /// Why, in the broker's words ([`Reason::as_str`]).
        reason: Reason,
    },
}

/// The type of a handed-out file. Only these two are ever handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileKind {
    /// A regular file.
    Regular,
    /// A directory, opened for `list`.
    Directory,
}

impl FileKind {
    /// Every kind, in tag order (a unit test checks that none is missing).
    pub const ALL: [FileKind; 2] = [FileKind::Regular, FileKind::Directory];

    /// The lower-case word for this kind, as printed by the CLIs.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Regular => "regular",
            FileKind::Directory => "directory",
        }
    }
}

/// Why a request failed; the table in the crate docs gives the errno that goes with each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The policy does not allow it (`EACCES`), decided before touching the file system.
    Denied,
    /// Allowed, but nothing is at the path (`ENOENT`).
    NotFound,
    /// Allowed, but of a type that is not handed out (`EISDIR`, `ENOTDIR`, `ENXIO`).
    NotRegular,
    /// Malformed message, path or access set, or fds attached (`EINVAL`).
    InvalidRequest,
    /// A message or path over the protocol's limits (`EMSGSIZE`, `ENAMETOOLONG`).
    TooLarge,
    /// Allowed, but the open failed with this errno (`ELOOP`, `EXDEV`, `EEXIST`, ...).
    Io,
    /// The broker itself failed: out of resources (`EMFILE`, `ENFILE`, `ENOMEM`) or a bug.
    Internal,
    /// The message's version byte is not the broker's (`EPROTO`).
    UnsupportedVersion,
    /// Over the broker's connection limits (`EBUSY`); the broker closes the connection.
    /// Retry later.
    Busy,
}

impl ErrorKind {
    /// Every kind, in tag order (a unit test checks that none is missing), for tests and
    /// for clients that list or map them.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Denied,
        ErrorKind::NotFound,
        ErrorKind::NotRegular,
        ErrorKind::InvalidRequest,
        ErrorKind::TooLarge,
        ErrorKind::Io,
        ErrorKind::Internal,
        ErrorKind::UnsupportedVersion,
        ErrorKind::Busy,
    ];

    /// A short lower-case description, as printed in logs and by the CLIs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Denied => "permission denied by the fdbroker policy",
            ErrorKind::NotFound => "not found",
            ErrorKind::NotRegular => "not a regular file",
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::TooLarge => "too large",
            ErrorKind::Io => "open failed",
            ErrorKind::Internal => "internal error",
            ErrorKind::UnsupportedVersion => "unsupported protocol version",
            ErrorKind::Busy => "broker busy",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `all` is the whole enum in tag order: its `i`th item is tag `i`, and the tag after
    /// the last is no variant at all, so a variant added to the enum but not to `ALL` fails.
    fn is_every_variant_in_tag_order<T>(all: &[T])
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
    {
        for (tag, item) in all.iter().enumerate() {
            let tag = u8::try_from(tag).unwrap();
            assert_eq!(postcard::to_allocvec(item).unwrap(), [tag], "{item:?}");
            assert_eq!(postcard::from_bytes::<T>(&[tag]).as_ref(), Ok(item));
        }
        let past_end = u8::try_from(all.len()).unwrap();
        let extra = postcard::from_bytes::<T>(&[past_end]);
        assert!(
            extra.is_err(),
            "tag {past_end} is {extra:?}, missing from ALL"
        );
    }

    #[test]
    fn error_kind_all_has_every_variant() {
        is_every_variant_in_tag_order(&ErrorKind::ALL);
    }

    #[test]
    fn file_kind_all_has_every_variant() {
        is_every_variant_in_tag_order(&FileKind::ALL);
    }

    #[test]
    fn reason_all_has_every_variant() {
        is_every_variant_in_tag_order(&Reason::ALL);
    }

    #[test]
    fn reload_result_all_has_every_variant() {
        is_every_variant_in_tag_order(&ReloadResult::ALL);
    }
}
