//! The values `tests/golden.rs` pins, each with its name and a description: every request
//! and response, with representative field values and the limits (the longest path, text
//! and rule name, a full batch, the extreme integers, path bytes that are not UTF-8), and
//! alone every access bit, file kind, error kind, reload result and outcome.

use std::fmt::Debug;

use fdbroker_wire::{
    Access, Batch, DecodeError, ErrorKind, Escaped, FileKind, Grants, MAX_BATCH,
    MAX_EXPLAIN_GROUPS, MAX_MESSAGE_TEXT, MAX_PATH, MAX_REQUEST, MAX_RESPONSE, MAX_RULE_NAME,
    Outcome, Reason, ReloadAttempt, ReloadResult, Request, Response, RuleStatus, Status, VERSION,
    decode_request, decode_response, encode_request, encode_response,
};
use serde::{Deserialize, Serialize};

/// The errno the spec's table gives each error kind (the first, where it gives several).
fn table_errno(kind: ErrorKind) -> (i32, &'static str) {
    match kind {
        ErrorKind::Denied => (13, "EACCES"),
        ErrorKind::NotFound => (2, "ENOENT"),
        ErrorKind::NotRegular => (21, "EISDIR"),
        ErrorKind::InvalidRequest => (22, "EINVAL"),
        ErrorKind::TooLarge => (90, "EMSGSIZE"),
        ErrorKind::Io => (40, "ELOOP"),
        ErrorKind::Internal => (24, "EMFILE"),
        ErrorKind::UnsupportedVersion => (71, "EPROTO"),
        ErrorKind::Busy => (16, "EBUSY"),
    }
}

/// A value the file pins, tagged with how it travels.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Request(Request<'a>),
    Response(Response<'a>),
    Access(Access),
    FileKind(FileKind),
    ErrorKind(ErrorKind),
    ReloadResult(ReloadResult),
    Outcome(Outcome),
    Reason(Reason),
}

impl Value<'_> {
    /// The first part of a vector's name.
    pub fn family(&self) -> &'static str {
        match self {
            Value::Request(_) => "request",
            Value::Response(_) => "response",
            Value::Access(_) => "access",
            Value::FileKind(_) => "file_kind",
            Value::ErrorKind(_) => "error_kind",
            Value::ReloadResult(_) => "reload_result",
            Value::Outcome(_) => "outcome",
            Value::Reason(_) => "reason",
        }
    }

    /// The variant's tag (the byte after the version, in a message; every tag is below 128,
    /// so its varint is one byte), or `None` for an access set, which is no enum.
    pub fn tag(&self) -> Option<u8> {
        let bytes = self.encode();
        match self {
            Value::Access(_) => None,
            Value::Request(_) | Value::Response(_) => Some(bytes[1]),
            _ => Some(bytes[0]),
        }
    }

    /// Whether `tag` alone is refused as no variant of this value's enum, rather than as a
    /// variant whose fields are missing.
    pub fn is_unknown_tag(&self, tag: u8) -> bool {
        let unknown = postcard::Error::SerdeDeCustom;
        match self {
            Value::Request(_) => {
                decode_request(&[VERSION, tag]) == Err(DecodeError::Malformed(unknown))
            }
            Value::Response(_) => {
                decode_response(&[VERSION, tag]) == Err(DecodeError::Malformed(unknown))
            }
            Value::Access(_) => false,
            Value::FileKind(_) => postcard::from_bytes::<FileKind>(&[tag]) == Err(unknown),
            Value::ErrorKind(_) => postcard::from_bytes::<ErrorKind>(&[tag]) == Err(unknown),
            Value::ReloadResult(_) => postcard::from_bytes::<ReloadResult>(&[tag]) == Err(unknown),
            Value::Outcome(_) => postcard::from_bytes::<Outcome>(&[tag]) == Err(unknown),
            Value::Reason(_) => postcard::from_bytes::<Reason>(&[tag]) == Err(unknown),
        }
    }

    /// The bytes a sender puts on the wire; messages must fit the protocol's limits.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Value::Request(r) => {
                let mut buf = vec![0; MAX_REQUEST];
                encode_request(r, &mut buf)
                    .expect("fits MAX_REQUEST")
                    .to_vec()
            }
            Value::Response(r) => {
                let mut buf = vec![0; MAX_RESPONSE];
                encode_response(r, &mut buf)
                    .expect("fits MAX_RESPONSE")
                    .to_vec()
            }
            Value::Access(v) => fragment(v),
            Value::FileKind(v) => fragment(v),
            Value::ErrorKind(v) => fragment(v),
            Value::ReloadResult(v) => fragment(v),
            Value::Outcome(v) => fragment(v),
            Value::Reason(v) => fragment(v),
        }
    }

    /// What a receiver makes of `bytes` as a value of the same family.
    pub fn decode<'b>(&self, bytes: &'b [u8]) -> Result<Value<'b>, String> {
        let message = |e: DecodeError| e.to_string();
        match self {
            Value::Request(_) => decode_request(bytes).map(Value::Request).map_err(message),
            Value::Response(_) => decode_response(bytes).map(Value::Response).map_err(message),
            Value::Access(_) => unfragment(bytes).map(Value::Access),
            Value::FileKind(_) => unfragment(bytes).map(Value::FileKind),
            Value::ErrorKind(_) => unfragment(bytes).map(Value::ErrorKind),
            Value::ReloadResult(_) => unfragment(bytes).map(Value::ReloadResult),
            Value::Outcome(_) => unfragment(bytes).map(Value::Outcome),
            Value::Reason(_) => unfragment(bytes).map(Value::Reason),
        }
    }
}

fn fragment<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("a value encodes")
}

/// Decodes one value that must use up `bytes` exactly.
fn unfragment<'b, T: Deserialize<'b>>(bytes: &'b [u8]) -> Result<T, String> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(format!("{} trailing bytes", rest.len())),
        Err(e) => Err(e.to_string()),
    }
}

/// One named vector.
pub struct Vector<'a> {
    pub name: String,
    pub about: String,
    pub value: Value<'a>,
}

fn vector<'a>(label: &str, about: impl Into<String>, value: Value<'a>) -> Vector<'a> {
    Vector {
        name: format!("{}.{label}", value.family()),
        about: about.into(),
        value,
    }
}

/// A response vector described by its `Debug` form, for one with no long fields.
fn response<'a>(label: &str, r: Response<'a>) -> Vector<'a> {
    vector(label, format!("{r:?}"), Value::Response(r))
}

/// An outcome vector described by its `Debug` form.
fn outcome(label: &str, o: Outcome) -> Vector<'static> {
    vector(label, format!("{o:?}"), Value::Outcome(o))
}

/// A vector for each variant of a unit enum, named for the variant.
fn variants<T: Debug + Copy>(
    enum_name: &str,
    all: &[T],
    value: fn(T) -> Value<'static>,
) -> Vec<Vector<'static>> {
    all.iter()
        .map(|&v| vector(&format!("{v:?}"), format!("{enum_name}::{v:?}"), value(v)))
        .collect()
}

/// The longest value of each bounded field, owned here for the vectors to borrow.
pub struct Longest {
    path: Vec<u8>,
    text: String,
    rule_name: String,
}

impl Longest {
    pub fn new() -> Longest {
        Longest {
            path: [b"/".as_slice(), &[b'a'; MAX_PATH - 1]].concat(),
            text: "é".repeat(MAX_MESSAGE_TEXT / "é".len()),
            rule_name: "ü".repeat(MAX_RULE_NAME / "ü".len()),
        }
    }
}

fn open<'a>(path: &'a [u8], access: Access, create_mode: u32) -> (String, Value<'a>) {
    let about = format!(
        "Open {{ path: \"{}\", access: {access}, create_mode: {create_mode:#o} }}",
        Escaped(path)
    );
    let request = Request::Open {
        path,
        access,
        create_mode,
    };
    (about, Value::Request(request))
}

fn open_many<'a>(paths: Vec<&'a [u8]>, access: Access, create_mode: u32) -> (String, Value<'a>) {
    let shown: Vec<String> = paths
        .iter()
        .map(|p| format!("\"{}\"", Escaped(p)))
        .collect();
    let about = format!(
        "OpenMany {{ paths: [{}], access: {access}, create_mode: {create_mode:#o} }}",
        shown.join(", ")
    );
    let request = Request::OpenMany {
        paths: Batch(paths),
        access,
        create_mode,
    };
    (about, Value::Request(request))
}

fn requests(longest: &Longest) -> Vec<Vector<'_>> {
    let rw = Access::READ | Access::WRITE;
    let with = |label: &str, (about, value): (String, Value<'static>)| vector(label, about, value);
    let (longest_about, longest_value) = open(&longest.path, Access::READ, 0);
    let (unchecked_about, unchecked_value) = open_many(
        vec![b"", b"relative", b"/srv/./x", b"/\xff"],
        Access::READ,
        0,
    );
    let full = Request::OpenMany {
        paths: Batch(vec![&b"/a"[..]; MAX_BATCH]),
        access: Access::READ,
        create_mode: 0,
    };
    vec![
        vector("ping", "Ping", Value::Request(Request::Ping)),
        with("open.read", open(b"/srv/uploads/a.txt", Access::READ, 0)),
        with("open.root_list", open(b"/", Access::LIST, 0)),
        with(
            "open.create",
            open(
                b"/srv/out/report.csv",
                Access::WRITE | Access::CREATE | Access::TRUNCATE,
                0o644,
            ),
        ),
        with(
            "open.create_new_max_mode",
            open(b"/srv/out/new", rw | Access::CREATE_NEW, 0o7777),
        ),
        with(
            "open.non_utf8_path",
            open(b"/srv/\xff\xfe/caf\xc3\xa9 \n\\x", Access::READ, 0),
        ),
        vector(
            "open.longest_path",
            format!(
                "{longest_about}: \"/\" then {} × \"a\", MAX_PATH bytes",
                MAX_PATH - 1
            ),
            longest_value,
        ),
        with("open_many.one", open_many(vec![b"/srv/a"], Access::READ, 0)),
        with(
            "open_many.create",
            open_many(
                vec![b"/srv/out/1", b"/srv/out/2"],
                Access::WRITE | Access::CREATE,
                0o600,
            ),
        ),
        vector(
            "open_many.unchecked_paths",
            format!(
                "{unchecked_about}: paths that break check_path, the empty one among them, \
                 are left to the broker, which answers each with an InvalidRequest record"
            ),
            unchecked_value,
        ),
        vector(
            "open_many.full",
            format!(
                "OpenMany {{ paths: {MAX_BATCH} (MAX_BATCH) × \"/a\", access: read, create_mode: 0o0 }}"
            ),
            Value::Request(full),
        ),
        vector(
            "status.first",
            "Status { first_rule: 0 }",
            Value::Request(Request::Status { first_rule: 0 }),
        ),
        vector(
            "status.last",
            format!("Status {{ first_rule: {} }}", u32::MAX),
            Value::Request(Request::Status {
                first_rule: u32::MAX,
            }),
        ),
        vector("reload", "Reload", Value::Request(Request::Reload)),
        vector(
            "explain.one",
            "Explain { uid: 1000, gid: 1000, groups: [27, 100], path: \"/srv/a\", access: read }",
            Value::Request(Request::Explain {
                uid: 1000,
                gid: 1000,
                groups: Batch(vec![27, 100]),
                path: b"/srv/a",
                access: Access::READ,
            }),
        ),
        vector(
            "explain.full",
            format!(
                "Explain {{ uid: {max}, gid: {max} (none), groups: {MAX_EXPLAIN_GROUPS} \
                 (MAX_EXPLAIN_GROUPS) × {max}, path: \"/\" then {} × \"a\" (MAX_PATH bytes), \
                 access: write,create }}: the longest request",
                MAX_PATH - 1,
                max = u32::MAX
            ),
            Value::Request(Request::Explain {
                uid: u32::MAX,
                gid: u32::MAX,
                groups: Batch(vec![u32::MAX; MAX_EXPLAIN_GROUPS]),
                path: &longest.path,
                access: Access::WRITE | Access::CREATE,
            }),
        ),
    ]
}

/// A `Status` page with fixed counters, `rules` from rule 3 and `last_reload`.
fn status<'a>(rules: Vec<RuleStatus<'a>>, last_reload: Option<ReloadAttempt<'a>>) -> Response<'a> {
    Response::Status(Status {
        uptime_secs: 86_400,
        policy_file: "/etc/fdbroker/policy.toml",
        policy_loaded_at: 1_767_225_600,
        rule_count: 5,
        connections: 2,
        peak_connections: 300,
        default_denied: 7,
        errors: u64::MAX,
        rules: Batch(rules),
        first_rule: 3,
        last_reload,
    })
}

fn reload(result: ReloadResult, error: &str) -> Option<ReloadAttempt<'_>> {
    Some(ReloadAttempt {
        at: 1_767_229_200,
        result,
        error,
    })
}

fn responses(longest: &Longest) -> Vec<Vector<'_>> {
    let regular = FileKind::Regular;
    let largest = Outcome::Opened {
        kind: regular,
        size: u64::MAX,
    };
    let longest_failure = Outcome::FailedWith {
        kind: ErrorKind::Internal,
        errno: i32::MIN,
        reason: Reason::PathTrailingSlash,
    };
    let outcomes = vec![
        Outcome::Opened {
            kind: regular,
            size: 7,
        },
        Outcome::Failed {
            kind: ErrorKind::Denied,
            errno: 13,
        },
        Outcome::Created {
            kind: regular,
            size: 0,
        },
        Outcome::Opened {
            kind: FileKind::Directory,
            size: 4096,
        },
        Outcome::Failed {
            kind: ErrorKind::Io,
            errno: 40,
        },
    ];
    let active = RuleStatus {
        name: "uploads",
        allowed: 12,
        denied: 0,
        inactive: None,
    };
    let mut vectors = vec![
        response("pong", Response::Pong),
        response(
            "opened.regular",
            Response::Opened {
                kind: regular,
                size: 1234,
            },
        ),
        response(
            "opened.directory",
            Response::Opened {
                kind: FileKind::Directory,
                size: 4096,
            },
        ),
        response(
            "opened.largest",
            Response::Opened {
                kind: regular,
                size: u64::MAX,
            },
        ),
        response(
            "created",
            Response::Created {
                kind: regular,
                size: 0,
            },
        ),
    ];
    vectors.extend(ErrorKind::ALL.map(|kind| {
        let (errno, name) = table_errno(kind);
        let message = kind.as_str();
        vector(
            &format!("error.{kind:?}"),
            format!("Error {{ kind: {kind:?}, errno: {errno} ({name}), message: {message:?} }}"),
            Value::Response(Response::Error {
                kind,
                errno,
                message,
            }),
        )
    }));
    vectors.extend([
        vector(
            "error.longest_message",
            format!(
                "Error {{ kind: Io, errno: 40 (ELOOP), message: {} × \"é\", MAX_MESSAGE_TEXT bytes }}",
                MAX_MESSAGE_TEXT / 2
            ),
            Value::Response(Response::Error {
                kind: ErrorKind::Io,
                errno: 40,
                message: &longest.text,
            }),
        ),
        response(
            "error.lowest_errno_empty_message",
            Response::Error {
                kind: ErrorKind::Internal,
                errno: i32::MIN,
                message: "",
            },
        ),
        response(
            "error.highest_errno",
            Response::Error {
                kind: ErrorKind::Internal,
                errno: i32::MAX,
                message: "x",
            },
        ),
        response(
            "opened_many.each_outcome",
            Response::OpenedMany {
                results: Batch(outcomes),
            },
        ),
        vector(
            "opened_many.full",
            format!("OpenedMany {{ results: {MAX_BATCH} (MAX_BATCH) × {largest:?} }}: the longest reply"),
            Value::Response(Response::OpenedMany {
                results: Batch(vec![largest; MAX_BATCH]),
            }),
        ),
        vector(
            "opened_many.full_of_failures",
            format!(
                "OpenedMany {{ results: {MAX_BATCH} (MAX_BATCH) × {longest_failure:?} }}: a full \
                 batch of failures, each with its reason"
            ),
            Value::Response(Response::OpenedMany {
                results: Batch(vec![longest_failure; MAX_BATCH]),
            }),
        ),
        response("status.no_rules", status(vec![], None)),
        vector(
            "status.rules",
            format!(
                "Status with first_rule 3 and rules [{active:?}, RuleStatus {{ name: {} × \"ü\" \
                 (MAX_RULE_NAME bytes), allowed: {}, denied: 1, inactive: Some(\"its root \
                 /srv/x does not exist\") }}], last_reload at 1767229200 InForce, \
                 counters as in status.no_rules",
                MAX_RULE_NAME / 2,
                u64::MAX
            ),
            Value::Response(status(
                vec![
                    active.clone(),
                    RuleStatus {
                        name: &longest.rule_name,
                        allowed: u64::MAX,
                        denied: 1,
                        inactive: Some("its root /srv/x does not exist"),
                    },
                ],
                reload(ReloadResult::InForce, ""),
            )),
        ),
        vector(
            "status.reload_invalid",
            format!(
                "Status as status.no_rules, with last_reload at 1767229200 Invalid, error: \
                 {} × \"é\" (MAX_MESSAGE_TEXT bytes)",
                MAX_MESSAGE_TEXT / 2
            ),
            Value::Response(status(
                vec![],
                reload(ReloadResult::Invalid, &longest.text),
            )),
        ),
        response(
            "status.reload_needs_restart",
            status(
                vec![active],
                reload(
                    ReloadResult::NeedsRestart,
                    "rule logs needs CAP_DAC_READ_SEARCH",
                ),
            ),
        ),
        response(
            "grants.none",
            Response::Grants(Grants {
                rule_count: 0,
                rules: Batch(vec![]),
                first_rule: 0,
            }),
        ),
        vector(
            "grants.page",
            format!(
                "Grants {{ rule_count: 5, rules: [\"uploads\", {} × \"ü\" (MAX_RULE_NAME bytes)], \
                 first_rule: 3 }}",
                MAX_RULE_NAME / 2
            ),
            Value::Response(Response::Grants(Grants {
                rule_count: 5,
                rules: Batch(vec!["uploads", &longest.rule_name]),
                first_rule: 3,
            })),
        ),
        response(
            "explained.allow",
            Response::Explained {
                allowed: true,
                rule: Some("uploads"),
                inactive: false,
                policy_loaded_at: 1767229200,
            },
        ),
        response(
            "explained.inactive",
            Response::Explained {
                allowed: true,
                rule: Some("logs"),
                inactive: true,
                policy_loaded_at: 1767229200,
            },
        ),
        response(
            "explained.default_deny",
            Response::Explained {
                allowed: false,
                rule: None,
                inactive: false,
                policy_loaded_at: u64::MAX,
            },
        ),
    ]);
    vectors
}

/// The values inside messages, each alone: every access bit, every variant of each enum.
fn parts() -> Vec<Vector<'static>> {
    let mut vectors: Vec<Vector<'static>> = Access::all()
        .iter()
        .map(|bit| {
            let about = format!("{bit}: {:#04x}", bit.bits());
            vector(&bit.to_string(), about, Value::Access(bit))
        })
        .collect();
    let append = Access::from_bits_retain(0x04);
    vectors.push(vector(
        "reserved_append",
        "0x04, the withdrawn `append`: decodes, and Access::check_request refuses it",
        Value::Access(append),
    ));
    vectors.push(vector(
        "read_write",
        "read,write: bits combine by OR",
        Value::Access(Access::READ | Access::WRITE),
    ));
    vectors.extend(variants("FileKind", &FileKind::ALL, Value::FileKind));
    vectors.extend(variants("ErrorKind", &ErrorKind::ALL, Value::ErrorKind));
    vectors.extend(variants(
        "ReloadResult",
        &ReloadResult::ALL,
        Value::ReloadResult,
    ));
    let kind = FileKind::Regular;
    vectors.extend([
        outcome("opened", Outcome::Opened { kind, size: 7 }),
        outcome(
            "failed",
            Outcome::Failed {
                kind: ErrorKind::NotFound,
                errno: 2,
            },
        ),
        outcome("created", Outcome::Created { kind, size: 0 }),
        outcome(
            "failed_with",
            Outcome::FailedWith {
                kind: ErrorKind::Io,
                errno: 40,
                reason: Reason::Symlink,
            },
        ),
    ]);
    vectors.extend(variants("Reason", &Reason::ALL, Value::Reason));
    vectors
}

pub fn all_vectors(longest: &Longest) -> Vec<Vector<'_>> {
    let mut vectors = requests(longest);
    vectors.extend(responses(longest));
    vectors.extend(parts());
    vectors
}
