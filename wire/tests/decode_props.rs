//! Property tests for message encoding and decoding (see the wire crate's docs for the spec).
//!
//! The decoders are the broker's first contact with bytes an unprivileged client chose, so
//! these properties check that no input makes them panic, that a request that decodes is
//! always safe to act on, that valid messages survive a round trip unchanged, and that the
//! version byte is honoured before anything else.
//!
//! Runs 1024 cases per property by default; set `PROPTEST_CASES` to change that.

mod wire_gen;

use fdbroker_wire::{
    Access, DecodeError, MAX_MESSAGE_TEXT, MAX_REQUEST, MAX_RESPONSE, Request, VERSION, check_path,
    decode_request, decode_response,
};
use proptest::collection::vec;
use proptest::prelude::*;
use wire_gen::{OwnedRequest, any_message, raw_open, request, response, unclipped_error};

/// 1024 cases unless `PROPTEST_CASES` says otherwise, and no regression files in the tree.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1024);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Protects against a panic (out-of-bounds slice, overflow, unwrap) on hostile input:
    /// a panicking decoder would let any client bring the broker down.
    #[test]
    fn decoders_never_panic(msg in any_message()) {
        let _ = decode_request(&msg);
        let _ = decode_response(&msg);
    }

    /// Protects against an encoding the other side cannot decode, or decodes to something
    /// else: lost non-UTF-8 path bytes, a dropped access bit, a mode that changes.
    #[test]
    fn valid_requests_round_trip(req in request()) {
        if let Request::Open { path, .. } = req.get() {
            prop_assert_eq!(check_path(path), Ok(()), "generator made an invalid path");
        }
        let msg = req.encode();
        prop_assert!(msg.len() <= MAX_REQUEST);
        prop_assert_eq!(msg[0], VERSION);
        prop_assert_eq!(decode_request(&msg), Ok(req.get()));
    }

    /// Protects against a response the client rejects or misreads, in particular message
    /// text that `clip_message_text` leaves longer than the receiver accepts.
    #[test]
    fn valid_responses_round_trip(resp in response()) {
        let msg = resp.encode();
        prop_assert!(msg.len() <= MAX_RESPONSE);
        prop_assert_eq!(msg[0], VERSION);
        prop_assert_eq!(decode_response(&msg), Ok(resp.get()));
    }

    /// Protects against a client accepting error text over the limit a broker may send
    /// (the spec bounds it), or refusing text within it.
    #[test]
    fn error_text_over_the_limit_is_refused((text, msg) in unclipped_error()) {
        match decode_response(&msg) {
            Ok(_) => prop_assert!(text.len() <= MAX_MESSAGE_TEXT, "{} bytes accepted", text.len()),
            Err(e) => prop_assert_eq!(e, DecodeError::MessageText(text.len())),
        }
    }

    /// Protects against a decoded request that the broker would act on although it breaks
    /// the protocol's rules (a `..` path, `read,truncate`, a set-uid bit beyond 0o7777).
    #[test]
    fn decoded_requests_are_valid(msg in any_message()) {
        if let Ok(Request::Open { path, access, create_mode }) = decode_request(&msg) {
            prop_assert_eq!(check_path(path), Ok(()));
            prop_assert_eq!(access.check_request(), Ok(()));
            prop_assert!(create_mode <= 0o7777, "create_mode {:#o}", create_mode);
        }
    }

    /// Protects against drift of the wire layout from the spec (tags, field order, varints):
    /// an `Open` written by hand decodes exactly when its fields are valid, to those fields,
    /// and a valid one is byte for byte what `encode_request` writes.
    #[test]
    fn hand_built_opens_decode_as_the_spec_says(raw in raw_open()) {
        let msg = raw.bytes();
        let access = Access::from_bits(raw.access);
        let valid = check_path(&raw.path).is_ok()
            && access.is_some_and(|a| a.check_request().is_ok())
            && raw.mode <= 0o7777;
        match (decode_request(&msg), access) {
            (Ok(decoded), Some(access)) => {
                prop_assert!(valid, "invalid fields decoded: {:?}", decoded);
                let expected = OwnedRequest::Open(raw.path.clone(), access, raw.mode);
                prop_assert_eq!(decoded, expected.get());
                prop_assert_eq!(expected.encode(), msg);
            }
            (Ok(decoded), None) => prop_assert!(false, "unknown bits decoded: {:?}", decoded),
            (Err(e), _) => prop_assert!(!valid, "valid fields refused: {}", e),
        }
    }

    /// Protects against acting on (or misreporting) a message of another version: the
    /// version byte is checked first, whatever follows it, in both directions.
    #[test]
    fn other_versions_are_refused_first(
        body in prop_oneof![
            request().prop_map(|r| r.encode()),
            response().prop_map(|r| r.encode()),
            vec(any::<u8>(), 1..64),
        ],
        version in any::<u8>().prop_filter("not VERSION", |v| *v != VERSION),
    ) {
        let mut msg = body;
        msg[0] = version;
        prop_assert_eq!(decode_request(&msg), Err(DecodeError::Version(version)));
        prop_assert_eq!(decode_response(&msg), Err(DecodeError::Version(version)));
    }
}
