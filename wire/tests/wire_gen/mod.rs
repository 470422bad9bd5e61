//! Generators for `tests/decode_props.rs`: valid requests and responses (kept owned, so a
//! test can borrow them), damaged encodings, and `Open` messages laid out by hand.

use fdbroker_wire::{
    Access, Batch, ErrorKind, FileKind, Grants, MAX_BATCH, MAX_PATH, MAX_REQUEST, MAX_RESPONSE,
    MAX_RULE_NAME, Outcome, Reason, ReloadAttempt, ReloadResult, Request, Response, RuleStatus,
    Status, VERSION, clip_message_text, encode_request, encode_response,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

/// An owned request, so a strategy can produce one and the test can borrow a `Request`.
#[derive(Debug, Clone)]
pub enum OwnedRequest {
    Ping,
    Open(Vec<u8>, Access, u32),
    Status(u32),
    Reload,
    Explain(u32, u32, Vec<u32>, Vec<u8>, Access),
}

impl OwnedRequest {
    pub fn get(&self) -> Request<'_> {
        match self {
            OwnedRequest::Ping => Request::Ping,
            OwnedRequest::Open(path, access, create_mode) => Request::Open {
                path,
                access: *access,
                create_mode: *create_mode,
            },
            OwnedRequest::Status(first_rule) => Request::Status {
                first_rule: *first_rule,
            },
            OwnedRequest::Reload => Request::Reload,
            OwnedRequest::Explain(uid, gid, groups, path, access) => Request::Explain {
                uid: *uid,
                gid: *gid,
                groups: Batch(groups.clone()),
                path,
                access: *access,
            },
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut buf = [0; MAX_REQUEST];
        let msg = encode_request(&self.get(), &mut buf).expect("a valid request encodes");
        msg.to_vec()
    }
}

/// An owned response; the message text is clipped when it is borrowed.
#[derive(Debug, Clone)]
pub enum OwnedResponse {
    Pong,
    Opened(FileKind, u64),
    Error(ErrorKind, i32, String),
    Status(OwnedStatus),
    Grants(u32, Vec<String>, u32),
    Created(FileKind, u64),
    Explained(bool, Option<String>, bool, u64),
    OpenedMany(Vec<Outcome>),
}

/// The fields of a `Status` page, with a few short rules; the reload error is clipped
/// when it is borrowed.
#[derive(Debug, Clone)]
pub struct OwnedStatus {
    counters: [u64; 6],
    policy_file: String,
    rules: Vec<(String, u64, u64, Option<String>)>,
    first_rule: u32,
    last_reload: Option<(u64, ReloadResult, String)>,
}

impl OwnedResponse {
    pub fn get(&self) -> Response<'_> {
        match self {
            OwnedResponse::Pong => Response::Pong,
            OwnedResponse::Opened(kind, size) => Response::Opened {
                kind: *kind,
                size: *size,
            },
            OwnedResponse::Error(kind, errno, text) => Response::Error {
                kind: *kind,
                errno: *errno,
                message: clip_message_text(text),
            },
            OwnedResponse::Status(status) => Response::Status(status.get()),
            OwnedResponse::Grants(rule_count, rules, first_rule) => Response::Grants(Grants {
                rule_count: *rule_count,
                rules: Batch(rules.iter().map(String::as_str).collect()),
                first_rule: *first_rule,
            }),
            OwnedResponse::Created(kind, size) => Response::Created {
                kind: *kind,
                size: *size,
            },
            OwnedResponse::Explained(allowed, rule, inactive, at) => Response::Explained {
                allowed: *allowed,
                rule: rule.as_deref(),
                inactive: *inactive,
                policy_loaded_at: *at,
            },
            OwnedResponse::OpenedMany(results) => Response::OpenedMany {
                results: Batch(results.clone()),
            },
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut buf = [0; MAX_RESPONSE];
        let msg = encode_response(&self.get(), &mut buf).expect("a valid response encodes");
        msg.to_vec()
    }
}

impl OwnedStatus {
    fn get(&self) -> Status<'_> {
        let [
            uptime_secs,
            policy_loaded_at,
            connections,
            peak_connections,
            default_denied,
            errors,
        ] = self.counters;
        Status {
            uptime_secs,
            policy_file: &self.policy_file,
            policy_loaded_at,
            rule_count: self.rules.len() as u32,
            connections,
            peak_connections,
            default_denied,
            errors,
            rules: Batch(
                self.rules
                    .iter()
                    .map(|(name, allowed, denied, inactive)| RuleStatus {
                        name,
                        allowed: *allowed,
                        denied: *denied,
                        inactive: inactive.as_deref().map(clip_message_text),
                    })
                    .collect(),
            ),
            first_rule: self.first_rule,
            last_reload: self
                .last_reload
                .as_ref()
                .map(|(at, result, error)| ReloadAttempt {
                    at: *at,
                    result: *result,
                    error: clip_message_text(error),
                }),
        }
    }
}

/// One component of a valid path: any bytes but `/` and NUL (UTF-8 or not), never `.` or
/// `..`, with the dot-names that are close to them well represented.
fn component() -> impl Strategy<Value = Vec<u8>> {
    let byte = any::<u8>().prop_map(|b| if b == b'/' || b == 0 { b'x' } else { b });
    let dotty = [
        &b"..."[..],
        b".x",
        b"..x",
        b"x..",
        b".a.",
        b"\xff\xfe",
        b"\xc3",
    ];
    prop_oneof![
        3 => vec(byte, 1..12).prop_filter("not . or ..", |c| c != b"." && c != b".."),
        1 => select(dotty.map(<[u8]>::to_vec).to_vec()),
    ]
}

/// `/` followed by `components` joined with `/` (so no components gives `/`).
fn join(components: &[Vec<u8>]) -> Vec<u8> {
    if components.is_empty() {
        return b"/".to_vec();
    }
    components
        .iter()
        .flat_map(|c| [&b"/"[..], c].concat())
        .collect()
}

/// A path that passes `check_path`: short ones, and ones within a few bytes of `MAX_PATH`.
fn valid_path() -> impl Strategy<Value = Vec<u8>> {
    let long = (MAX_PATH - 8..=MAX_PATH, vec(component(), 0..3)).prop_map(|(len, comps)| {
        let mut path = if comps.is_empty() {
            Vec::new()
        } else {
            join(&comps)
        };
        path.push(b'/');
        path.resize(len, b'a');
        path
    });
    prop_oneof![4 => vec(component(), 0..8).prop_map(|c| join(&c)), 1 => long]
}

/// Every access set that `check_request` accepts.
fn request_access() -> impl Strategy<Value = Access> {
    let all = (0..=u8::MAX).filter_map(Access::from_bits);
    select(
        all.filter(|a| a.check_request().is_ok())
            .collect::<Vec<_>>(),
    )
}

/// Any valid request.
pub fn request() -> impl Strategy<Value = OwnedRequest> {
    let open = (valid_path(), request_access(), 0..=0o7777u32)
        .prop_map(|(path, access, mode)| OwnedRequest::Open(path, access, mode));
    prop_oneof![
        1 => Just(OwnedRequest::Ping),
        6 => open,
        1 => any::<u32>().prop_map(OwnedRequest::Status),
        1 => Just(OwnedRequest::Reload),
        2 => (
            any::<u32>(),
            any::<u32>(),
            vec(any::<u32>(), 0..64),
            valid_path(),
            request_access(),
        )
            .prop_map(|(uid, gid, groups, path, access)| {
                OwnedRequest::Explain(uid, gid, groups, path, access)
            }),
    ]
}

fn file_kind() -> impl Strategy<Value = FileKind> {
    select(FileKind::ALL.to_vec())
}

fn error_kind() -> impl Strategy<Value = ErrorKind> {
    select(ErrorKind::ALL.to_vec())
}

/// Message text of any length, often past the limit or within a few bytes of it, and often
/// multi-byte, so clipping lands inside characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        "[a-z]{508,516}",
        "[a-zé]{250,270}",
        "[a-zé€😀]{100,700}",
        vec(any::<char>(), 0..700).prop_map(String::from_iter),
    ]
}

fn reload_result() -> impl Strategy<Value = ReloadResult> {
    select(ReloadResult::ALL.to_vec())
}

/// A rule name of at most `MAX_RULE_NAME` bytes, as the broker clips them.
fn rule_name() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..32).prop_map(|chars| {
        let mut name = String::new();
        for c in chars {
            if name.len() + c.len_utf8() > MAX_RULE_NAME {
                break;
            }
            name.push(c);
        }
        name
    })
}

/// A `Status` page of up to eight rules, with or without a last reload.
fn status() -> impl Strategy<Value = OwnedStatus> {
    let reload = proptest::option::of((any::<u64>(), reload_result(), text()));
    (
        any::<[u64; 6]>(),
        "[ -~]{0,200}",
        vec(
            (
                rule_name(),
                any::<u64>(),
                any::<u64>(),
                proptest::option::of("[ -~]{0,40}"),
            ),
            0..8,
        ),
        any::<u32>(),
        reload,
    )
        .prop_map(
            |(counters, policy_file, rules, first_rule, last_reload)| OwnedStatus {
                counters,
                policy_file,
                rules,
                first_rule,
                last_reload,
            },
        )
}

/// Any valid response.
pub fn response() -> impl Strategy<Value = OwnedResponse> {
    prop_oneof![
        Just(OwnedResponse::Pong),
        (file_kind(), any::<u64>()).prop_map(|(k, s)| OwnedResponse::Opened(k, s)),
        (error_kind(), any::<i32>(), text()).prop_map(|(k, e, t)| OwnedResponse::Error(k, e, t)),
        status().prop_map(OwnedResponse::Status),
        (any::<u32>(), vec(rule_name(), 0..20), any::<u32>())
            .prop_map(|(count, names, first)| OwnedResponse::Grants(count, names, first)),
        (file_kind(), any::<u64>()).prop_map(|(k, s)| OwnedResponse::Created(k, s)),
        (
            any::<bool>(),
            proptest::option::of(rule_name()),
            any::<bool>(),
            any::<u64>()
        )
            .prop_map(|(a, r, i, t)| OwnedResponse::Explained(a, r, i, t)),
        vec(outcome(), 1..=MAX_BATCH).prop_map(OwnedResponse::OpenedMany),
    ]
}

/// Any outcome of one path of a batch.
fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        (file_kind(), any::<u64>()).prop_map(|(kind, size)| Outcome::Opened { kind, size }),
        (error_kind(), any::<i32>()).prop_map(|(kind, errno)| Outcome::Failed { kind, errno }),
        (file_kind(), any::<u64>()).prop_map(|(kind, size)| Outcome::Created { kind, size }),
        (error_kind(), any::<i32>(), reason()).prop_map(|(kind, errno, reason)| {
            Outcome::FailedWith {
                kind,
                errno,
                reason,
            }
        }),
    ]
}

fn reason() -> impl Strategy<Value = Reason> {
    select(Reason::ALL.to_vec())
}

/// An error response whose text is not clipped, so it may be over the limit.
pub fn unclipped_error() -> impl Strategy<Value = (String, Vec<u8>)> {
    (error_kind(), any::<i32>(), text()).prop_map(|(kind, errno, text)| {
        let mut buf = vec![0; 4 * MAX_RESPONSE];
        let message = &text;
        let resp = Response::Error {
            kind,
            errno,
            message,
        };
        let msg = encode_response(&resp, &mut buf).expect("fits four times the limit");
        let msg = msg.to_vec();
        (text, msg)
    })
}

/// A small edit to a message.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(Index),
    Flip(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Append(Vec<u8>),
    Version(u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 1..=u8::MAX).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Remove),
        vec(any::<u8>(), 1..8).prop_map(Mutation::Append),
        any::<u8>().prop_map(Mutation::Version),
    ]
}

fn mutate(msg: &mut Vec<u8>, m: &Mutation) {
    let len = msg.len();
    // A position in the message, or just past its end.
    let at = |i: &Index| i.index(len + 1);
    match m {
        Mutation::Truncate(i) => msg.truncate(at(i)),
        Mutation::Flip(i, x) if len > 0 => msg[i.index(len)] ^= x,
        Mutation::Insert(i, b) => msg.insert(at(i), *b),
        Mutation::Remove(i) if len > 0 => drop(msg.remove(i.index(len))),
        Mutation::Append(bytes) => msg.extend_from_slice(bytes),
        Mutation::Version(v) if len > 0 => msg[0] = *v,
        _ => {}
    }
}

/// A valid request or response encoding with one to four mutations applied.
fn mutated_message() -> impl Strategy<Value = Vec<u8>> {
    let valid = prop_oneof![
        request().prop_map(|r| r.encode()),
        response().prop_map(|r| r.encode()),
    ];
    (valid, vec(mutation(), 1..5)).prop_map(|(mut msg, mutations)| {
        mutations.iter().for_each(|m| mutate(&mut msg, m));
        msg
    })
}

/// Appends `n` as a postcard (LEB128) varint.
fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The fields of an `Open`, valid or not, laid out by hand as the spec describes them.
#[derive(Debug, Clone)]
pub struct RawOpen {
    pub path: Vec<u8>,
    pub access: u8,
    pub mode: u32,
}

impl RawOpen {
    pub fn bytes(&self) -> Vec<u8> {
        let mut msg = vec![VERSION, 1];
        varint(&mut msg, self.path.len() as u64);
        msg.extend_from_slice(&self.path);
        msg.push(self.access);
        varint(&mut msg, self.mode.into());
        msg
    }
}

/// `Open` fields near and across every validity boundary.
pub fn raw_open() -> impl Strategy<Value = RawOpen> {
    let path = prop_oneof![
        2 => valid_path(),
        1 => vec(select(b"/.a\0\xff".to_vec()), 0..10),
        1 => (valid_path(), select(vec![&b"/"[..], b"/.", b"/..", b"\0"]))
            .prop_map(|(p, tail)| [p, tail.to_vec()].concat()),
    ];
    let mode = prop_oneof![0..=0o7777u32, 0o7770..=0o10010u32, any::<u32>()];
    (path, any::<u8>(), mode).prop_map(|(path, access, mode)| RawOpen { path, access, mode })
}

/// Bytes the decoders might see: arbitrary, mutated encodings, hand-built `Open`s and
/// error responses with over-long text.
pub fn any_message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..4096),
        (Just(VERSION), vec(any::<u8>(), 0..64)).prop_map(|(v, body)| [vec![v], body].concat()),
        mutated_message(),
        raw_open().prop_map(|r| r.bytes()),
        unclipped_error().prop_map(|(_, msg)| msg),
    ]
}
