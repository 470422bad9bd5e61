//! Encoding and decoding of whole messages: the version byte, then the postcard body.
//!
//! Decoding checks, in this order, and stops at the first failure: non-empty, version,
//! postcard body, no trailing bytes, then the request's own rules (path, access, mode).
//! Nothing is allocated from a length the peer chose: bodies borrow from the caller's
//! buffer, which the caller sized from the protocol's constants.

use std::fmt;

use serde::Serialize;

use crate::{
    Access, ErrorKind, MAX_MESSAGE_TEXT, PathError, ReloadAttempt, Request, Response, Status,
    VERSION, check_path,
};

/// Why a message could not be encoded.
#[derive(Debug)]
pub struct EncodeError(postcard::Error);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot encode message: {}", self.0)
    }
}

impl std::error::Error for EncodeError {}

/// Why a received message is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The message has no bytes at all.
    Empty,
    /// The version byte is not [`VERSION`].
    Version(u8),
    /// The body is not a valid postcard encoding of the expected type.
    Malformed(postcard::Error),
    /// The body decoded but bytes were left over.
    TrailingBytes(usize),
    /// An `Open` path breaks [`check_path`].
    Path(PathError),
    /// An `Open` access set breaks [`Access::check_request`].
    Access(&'static str),
    /// An `Open` `create_mode` above `0o7777`.
    Mode(u32),
    /// An error response's text, or a reload attempt's error, is longer than
    /// [`MAX_MESSAGE_TEXT`].
    MessageText(usize),
    /// An `OpenMany` request or its reply with no paths or records.
    EmptyBatch,
}

impl DecodeError {
    /// The error kind the broker answers with for this decode failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DecodeError::Version(_) => ErrorKind::UnsupportedVersion,
            DecodeError::Path(PathError::TooLong(_)) => ErrorKind::TooLarge,
            _ => ErrorKind::InvalidRequest,
        }
    }

    /// The errno that goes with [`DecodeError::kind`].
    pub fn errno(&self) -> i32 {
        match self {
            DecodeError::Version(_) => rustix::io::Errno::PROTO.raw_os_error(),
            DecodeError::Path(PathError::TooLong(_)) => {
                rustix::io::Errno::NAMETOOLONG.raw_os_error()
            }
            _ => rustix::io::Errno::INVAL.raw_os_error(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("empty message"),
            DecodeError::Version(v) => {
                write!(
                    f,
                    "protocol version {v} is not supported (this side speaks {VERSION})"
                )
            }
            DecodeError::Malformed(e) => write!(f, "malformed message: {e}"),
            DecodeError::TrailingBytes(n) => write!(f, "malformed message: {n} trailing bytes"),
            DecodeError::Path(e) => write!(f, "bad path: {e}"),
            DecodeError::Access(e) => write!(f, "bad access: {e}"),
            DecodeError::Mode(m) => write!(f, "bad create mode {m:#o} (at most 0o7777)"),
            DecodeError::MessageText(n) => {
                write!(f, "error text of {n} bytes, longer than {MAX_MESSAGE_TEXT}")
            }
            DecodeError::EmptyBatch => f.write_str("a batch with no paths"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Encodes `request` into `buf` (size it [`crate::MAX_REQUEST`]) and returns the message.
pub fn encode_request<'b>(
    request: &Request<'_>,
    buf: &'b mut [u8],
) -> Result<&'b [u8], EncodeError> {
    encode(request, buf)
}

/// Encodes `response` into `buf` (size it [`crate::MAX_RESPONSE`]) and returns the message.
pub fn encode_response<'b>(
    response: &Response<'_>,
    buf: &'b mut [u8],
) -> Result<&'b [u8], EncodeError> {
    encode(response, buf)
}

fn encode<'b, T: Serialize>(value: &T, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
    let (first, body) = buf
        .split_first_mut()
        .ok_or(EncodeError(postcard::Error::SerializeBufferFull))?;
    *first = VERSION;
    let len = postcard::to_slice(value, body).map_err(EncodeError)?.len();
    Ok(&buf[..1 + len])
}

/// Decodes and validates a request; a request that decodes is safe to act on as far as
/// its shape goes (the policy still decides whether it is allowed).
pub fn decode_request(msg: &[u8]) -> Result<Request<'_>, DecodeError> {
    let request: Request<'_> = decode(msg)?;
    match &request {
        Request::Ping | Request::Status { .. } | Request::Reload => {}
        Request::Explain { path, access, .. } => {
            check_path(path).map_err(DecodeError::Path)?;
            access.check_request().map_err(DecodeError::Access)?;
        }
        Request::Open {
            path,
            access,
            create_mode,
        } => {
            check_path(path).map_err(DecodeError::Path)?;
            check_open(*access, *create_mode)?;
        }
        // Each path of a batch is checked on its own by the broker, so that one bad path
        // gets its own error record instead of failing the others.
        Request::OpenMany {
            paths,
            access,
            create_mode,
        } => {
            if paths.0.is_empty() {
                return Err(DecodeError::EmptyBatch);
            }
            check_open(*access, *create_mode)?;
        }
    }
    Ok(request)
}

fn check_open(access: Access, create_mode: u32) -> Result<(), DecodeError> {
    access.check_request().map_err(DecodeError::Access)?;
    if create_mode > 0o7777 {
        return Err(DecodeError::Mode(create_mode));
    }
    Ok(())
}

/// Decodes and validates a response.
pub fn decode_response(msg: &[u8]) -> Result<Response<'_>, DecodeError> {
    let response: Response<'_> = decode(msg)?;
    match &response {
        Response::Error { message, .. } if message.len() > MAX_MESSAGE_TEXT => {
            Err(DecodeError::MessageText(message.len()))
        }
        Response::OpenedMany { results } if results.0.is_empty() => Err(DecodeError::EmptyBatch),
        Response::Status(Status {
            last_reload: Some(ReloadAttempt { error, .. }),
            ..
        }) if error.len() > MAX_MESSAGE_TEXT => Err(DecodeError::MessageText(error.len())),
        Response::Status(Status { rules, .. }) => match rules
            .0
            .iter()
            .filter_map(|rule| rule.inactive)
            .find(|why| why.len() > MAX_MESSAGE_TEXT)
        {
            Some(why) => Err(DecodeError::MessageText(why.len())),
            None => Ok(response),
        },
        _ => Ok(response),
    }
}

fn decode<'m, T: serde::Deserialize<'m>>(msg: &'m [u8]) -> Result<T, DecodeError> {
    let (&version, body) = msg.split_first().ok_or(DecodeError::Empty)?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let (value, rest) = postcard::take_from_bytes(body).map_err(DecodeError::Malformed)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

/// Truncates `text` to at most [`MAX_MESSAGE_TEXT`] bytes on a character boundary, so any
/// message a sender builds fits the limit a receiver enforces.
pub fn clip_message_text(text: &str) -> &str {
    if text.len() <= MAX_MESSAGE_TEXT {
        return text;
    }
    let mut end = MAX_MESSAGE_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Batch, FileKind, Grants, MAX_BATCH, MAX_PATH, MAX_REQUEST, MAX_RESPONSE, Outcome, Reason,
        ReloadResult,
    };

    fn open(path: &[u8]) -> Request<'_> {
        Request::Open {
            path,
            access: Access::READ,
            create_mode: 0,
        }
    }

    #[test]
    fn requests_round_trip() {
        let mut buf = [0; MAX_REQUEST];
        let long = [b"/".as_slice(), &[0xff; MAX_PATH - 1]].concat();
        for req in [
            Request::Ping,
            open(b"/srv/a"),
            open(&long),
            Request::Open {
                path: b"/x",
                access: Access::WRITE | Access::CREATE,
                create_mode: 0o7777,
            },
        ] {
            let msg = encode_request(&req, &mut buf).unwrap();
            assert_eq!(msg[0], VERSION);
            assert!(msg.len() <= MAX_REQUEST);
            assert_eq!(decode_request(msg), Ok(req));
        }
    }

    #[test]
    fn responses_round_trip_and_fit() {
        let mut buf = [0; MAX_RESPONSE];
        let text = "é".repeat(MAX_MESSAGE_TEXT);
        for resp in [
            Response::Pong,
            Response::Opened {
                kind: FileKind::Regular,
                size: u64::MAX,
            },
            Response::Error {
                kind: ErrorKind::UnsupportedVersion,
                errno: i32::MIN,
                message: clip_message_text(&text),
            },
        ] {
            let msg = encode_response(&resp, &mut buf).unwrap();
            assert_eq!(decode_response(msg), Ok(resp));
        }
    }

    /// `Created` is tag 6 and `Outcome::Created` tag 2, as the spec says.
    #[test]
    fn created_replies_have_their_spec_tags() {
        let mut buf = [0; MAX_RESPONSE];
        let (kind, size) = (FileKind::Regular, 5);
        let created = Response::Created { kind, size };
        let msg = encode_response(&created, &mut buf).unwrap();
        assert_eq!(msg, [VERSION, 6, 0, 5]);
        assert_eq!(decode_response(msg), Ok(created));
        let many = Response::OpenedMany {
            results: Batch(vec![Outcome::Created { kind, size }]),
        };
        let msg = encode_response(&many, &mut buf).unwrap();
        assert_eq!(msg, [VERSION, 3, 1, 2, 0, 5]);
        assert_eq!(decode_response(msg), Ok(many));
    }

    #[test]
    fn a_full_batch_and_its_largest_reply_fit_the_limits() {
        let path = [b"/".as_slice(), &[b'p'; 250]].concat();
        let request = Request::OpenMany {
            paths: Batch(vec![path.as_slice(); MAX_BATCH]),
            access: Access::READ,
            create_mode: 0,
        };
        let mut buf = vec![0; MAX_REQUEST];
        let msg = encode_request(&request, &mut buf).unwrap();
        assert_eq!(decode_request(msg), Ok(request.clone()));
        let largest = Outcome::Opened {
            kind: FileKind::Regular,
            size: u64::MAX,
        };
        let reply = Response::OpenedMany {
            results: Batch(vec![largest; MAX_BATCH]),
        };
        let mut out = [0; MAX_RESPONSE];
        let msg = encode_response(&reply, &mut out).unwrap();
        assert_eq!(decode_response(msg), Ok(reply));
        let longest_failure = Outcome::FailedWith {
            kind: ErrorKind::Internal,
            errno: i32::MIN,
            reason: Reason::ALL[Reason::ALL.len() - 1],
        };
        let failures = Response::OpenedMany {
            results: Batch(vec![longest_failure; MAX_BATCH]),
        };
        let msg = encode_response(&failures, &mut out).unwrap();
        assert_eq!(decode_response(msg), Ok(failures));
    }

    #[test]
    fn a_batch_checks_shape_but_leaves_paths_to_the_broker() {
        let mut buf = [0; 256];
        let bad_path = Request::OpenMany {
            paths: Batch(vec![&b"relative"[..], b"/ok"]),
            access: Access::READ,
            create_mode: 0,
        };
        let msg = encode_request(&bad_path, &mut buf).unwrap();
        assert_eq!(decode_request(msg), Ok(bad_path.clone()));
        let empty = Request::OpenMany {
            paths: Batch(vec![]),
            access: Access::READ,
            create_mode: 0,
        };
        let msg = encode_request(&empty, &mut buf).unwrap();
        assert_eq!(decode_request(msg), Err(DecodeError::EmptyBatch));
        let truncate_only = Request::OpenMany {
            paths: Batch(vec![&b"/a"[..]]),
            access: Access::READ | Access::TRUNCATE,
            create_mode: 0,
        };
        let msg = encode_request(&truncate_only, &mut buf).unwrap();
        assert!(matches!(decode_request(msg), Err(DecodeError::Access(_))));
    }

    #[test]
    fn every_truncation_of_a_request_is_refused() {
        let mut buf = [0; MAX_REQUEST];
        let msg = encode_request(&open(b"/srv/uploads/file"), &mut buf).unwrap();
        for len in 0..msg.len() {
            assert!(
                decode_request(&msg[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn refusals_name_the_reason() {
        let mut buf = [0; MAX_REQUEST];
        let msg = encode_request(&Request::Ping, &mut buf).unwrap().to_vec();
        assert_eq!(decode_request(&[]), Err(DecodeError::Empty));
        assert_eq!(decode_request(&[2, 0]), Err(DecodeError::Version(2)));
        assert_eq!(
            decode_request(&[VERSION, 9]).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidRequest)
        );
        assert_eq!(
            decode_request(&[msg.as_slice(), &[0]].concat()),
            Err(DecodeError::TrailingBytes(1))
        );
        // Open, path "/a", access bit 0x80 (unknown), mode 0.
        assert!(matches!(
            decode_request(&[VERSION, 1, 2, b'/', b'a', 0x80, 0]),
            Err(DecodeError::Malformed(_))
        ));
        // The reserved bit of `append`, with `write`: refused with the reason.
        match decode_request(&[VERSION, 1, 2, b'/', b'a', 0x06, 0]) {
            Err(e @ DecodeError::Access(_)) => {
                assert_eq!(e.kind(), ErrorKind::InvalidRequest);
                assert!(e.to_string().contains("F_SETFL"), "{e}");
            }
            other => panic!("expected an access error, got {other:?}"),
        }
        assert_eq!(
            decode_request(&[VERSION, 1, 2, b'/', b'a', 0, 0]),
            Err(DecodeError::Access("no access requested"))
        );
        assert_eq!(
            decode_request(&[VERSION, 1, 2, b'a', b'b', 1, 0]),
            Err(DecodeError::Path(PathError::Relative))
        );
        // create_mode 0o10000 as a varint.
        assert_eq!(
            decode_request(&[VERSION, 1, 2, b'/', b'a', 1, 0x80, 0x20]),
            Err(DecodeError::Mode(0o10000))
        );
    }

    #[test]
    fn a_huge_claimed_path_length_is_refused_without_allocating() {
        // Open with a path length varint of 2^63: postcard must fail on the missing bytes.
        let msg = [
            VERSION, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, b'/',
        ];
        assert!(matches!(
            decode_request(&msg),
            Err(DecodeError::Malformed(_))
        ));
    }

    /// The tags the spec's tables give to the messages appended for reloads and status.
    #[test]
    fn reload_and_grants_have_their_spec_tags() {
        let mut buf = [0; MAX_RESPONSE];
        assert_eq!(
            encode_request(&Request::Reload, &mut buf).unwrap(),
            [VERSION, 4]
        );
        assert_eq!(decode_request(&[VERSION, 4]), Ok(Request::Reload));
        let grants = Response::Grants(Grants {
            rule_count: 1,
            rules: Batch(vec!["r"]),
            first_rule: 0,
        });
        assert_eq!(
            encode_response(&grants, &mut buf).unwrap(),
            [VERSION, 5, 1, 1, 1, b'r', 0]
        );
    }

    /// `Explain` is request tag 5 and `Explained` response tag 7; its groups are bounded by
    /// `MAX_EXPLAIN_GROUPS`, checked before any is read, and a full one fits `MAX_REQUEST`.
    #[test]
    fn explain_has_its_spec_tags_and_bounded_groups() {
        let mut buf = vec![0; 2 * MAX_REQUEST];
        let explain = |groups| Request::Explain {
            uid: 1,
            gid: 2,
            groups: Batch(groups),
            path: b"/a",
            access: Access::READ,
        };
        let msg = encode_request(&explain(vec![3]), &mut buf).unwrap();
        assert_eq!(msg, [VERSION, 5, 1, 2, 1, 3, 2, b'/', b'a', 1]);
        let long = [b"/".as_slice(), &[b'a'; MAX_PATH - 1]].concat();
        let full = Request::Explain {
            uid: u32::MAX,
            gid: u32::MAX,
            groups: Batch(vec![u32::MAX; crate::MAX_EXPLAIN_GROUPS]),
            path: &long,
            access: Access::READ,
        };
        let msg = encode_request(&full, &mut buf).unwrap();
        assert!(msg.len() <= MAX_REQUEST, "{}", msg.len());
        assert_eq!(decode_request(msg), Ok(full.clone()));
        let over = explain(vec![0; crate::MAX_EXPLAIN_GROUPS + 1]);
        let msg = encode_request(&over, &mut buf).unwrap();
        assert!(matches!(
            decode_request(msg),
            Err(DecodeError::Malformed(_))
        ));
        let relative = Request::Explain {
            uid: 0,
            gid: 0,
            groups: Batch(vec![]),
            path: b"a",
            access: Access::READ,
        };
        let msg = encode_request(&relative, &mut buf).unwrap();
        assert_eq!(
            decode_request(msg),
            Err(DecodeError::Path(PathError::Relative))
        );
        let explained = Response::Explained {
            allowed: false,
            rule: None,
            inactive: false,
            policy_loaded_at: 0,
        };
        let msg = encode_response(&explained, &mut buf).unwrap();
        assert_eq!(msg, [VERSION, 7, 0, 0, 0, 0]);
    }

    #[test]
    fn a_reload_error_over_the_limit_is_refused() {
        let long = "x".repeat(MAX_MESSAGE_TEXT + 1);
        let status = |error| {
            Response::Status(Status {
                uptime_secs: 1,
                policy_file: "/etc/fdbroker/policy.toml",
                policy_loaded_at: 2,
                rule_count: 0,
                connections: 1,
                peak_connections: 1,
                default_denied: 0,
                errors: 0,
                rules: Batch(vec![]),
                first_rule: 0,
                last_reload: Some(ReloadAttempt {
                    at: 3,
                    result: ReloadResult::Invalid,
                    error,
                }),
            })
        };
        let mut buf = [0; MAX_RESPONSE];
        let fits = status(&long[1..]);
        let msg = encode_response(&fits, &mut buf).unwrap();
        assert_eq!(decode_response(msg), Ok(fits.clone()));
        let msg = encode_response(&status(&long), &mut buf).unwrap();
        assert_eq!(
            decode_response(msg),
            Err(DecodeError::MessageText(MAX_MESSAGE_TEXT + 1))
        );
    }

    #[test]
    fn clipping_respects_char_boundaries() {
        let text = "é".repeat(MAX_MESSAGE_TEXT);
        let clipped = clip_message_text(&text);
        assert!(clipped.len() <= MAX_MESSAGE_TEXT && clipped.len() >= MAX_MESSAGE_TEXT - 1);
        assert_eq!(clip_message_text("short"), "short");
    }
}
