//! The resolver's messages: one question from the broker, one answer back, each a single
//! datagram of exactly [`LEN`] bytes on a `SOCK_SEQPACKET` socketpair (so a message arrives
//! whole or not at all). Each side checks the length and every field of what it receives
//! before using it: a malformed message is an error, never a guess.
//!
//! Layout, little-endian: `seq: u32`, `kind: u8`, `id: u32`, `len: u8`, `name: [u8; 255]`
//! (the first `len` bytes used, the rest zero). `seq` pairs an answer with its question,
//! so an answer that comes after its question timed out is not taken for a later one's.

/// The longest name a message carries. Account tools accept far shorter names; a longer
/// one cannot be an account's name on any system this runs on, and is unknown.
pub const NAME_MAX: usize = 255;

/// The size of every message.
pub const LEN: usize = 4 + 1 + 4 + 1 + NAME_MAX;

/// A question from the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question<'a> {
    /// The uid of the user with this name.
    Uid(&'a str),
    /// The gid of the group with this name.
    Gid(&'a str),
    /// The name of the user with this uid.
    UserName(u32),
}

/// An answer from the resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Set up and waiting for questions: the first message, with `seq` 0.
    Ready,
    /// The uid or gid asked for.
    Id(u32),
    /// The user name asked for.
    Name(String),
    /// No such user or group.
    Unknown,
}

/// A message that is not exactly what the format allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

const Q_UID: u8 = 1;
const Q_GID: u8 = 2;
const Q_USER_NAME: u8 = 3;

const A_READY: u8 = 1;
const A_ID: u8 = 2;
const A_NAME: u8 = 3;
const A_UNKNOWN: u8 = 4;

/// Encodes question `seq`; `None` if the name cannot be sent (longer than [`NAME_MAX`], or
/// containing a NUL byte): no account has such a name.
pub fn question(seq: u32, question: Question<'_>) -> Option<[u8; LEN]> {
    match question {
        Question::Uid(name) => encode(seq, Q_UID, 0, name),
        Question::Gid(name) => encode(seq, Q_GID, 0, name),
        Question::UserName(uid) => encode(seq, Q_USER_NAME, uid, ""),
    }
}

/// Decodes a question and its `seq`.
pub fn parse_question(msg: &[u8]) -> Result<(u32, Question<'_>), Malformed> {
    let (seq, kind, id, name) = decode(msg)?;
    let question = match (kind, id) {
        (Q_UID, 0) => Question::Uid(name),
        (Q_GID, 0) => Question::Gid(name),
        (Q_USER_NAME, uid) if name.is_empty() => Question::UserName(uid),
        _ => return Err(Malformed),
    };
    Ok((seq, question))
}

/// Encodes answer `seq`; a name that cannot be sent is answered [`Answer::Unknown`].
pub fn answer(seq: u32, answer: &Answer) -> [u8; LEN] {
    let encoded = match answer {
        Answer::Ready => encode(seq, A_READY, 0, ""),
        Answer::Id(id) => encode(seq, A_ID, *id, ""),
        Answer::Name(name) => encode(seq, A_NAME, 0, name),
        Answer::Unknown => None,
    };
    encoded
        .or_else(|| encode(seq, A_UNKNOWN, 0, ""))
        .expect("an empty name always fits")
}

/// Decodes an answer and its `seq`.
pub fn parse_answer(msg: &[u8]) -> Result<(u32, Answer), Malformed> {
    let (seq, kind, id, name) = decode(msg)?;
    let answer = match (kind, id, name.is_empty()) {
        (A_READY, 0, true) => Answer::Ready,
        (A_ID, id, true) => Answer::Id(id),
        (A_NAME, 0, false) => Answer::Name(name.to_owned()),
        (A_UNKNOWN, 0, true) => Answer::Unknown,
        _ => return Err(Malformed),
    };
    Ok((seq, answer))
}

fn encode(seq: u32, kind: u8, id: u32, name: &str) -> Option<[u8; LEN]> {
    if name.len() > NAME_MAX || name.contains('\0') {
        return None;
    }
    let mut msg = [0u8; LEN];
    msg[0..4].copy_from_slice(&seq.to_le_bytes());
    msg[4] = kind;
    msg[5..9].copy_from_slice(&id.to_le_bytes());
    msg[9] = name.len() as u8;
    msg[10..10 + name.len()].copy_from_slice(name.as_bytes());
    Some(msg)
}

/// Splits a message into its fields, checking its length, the name's length, encoding
/// and lack of NUL bytes, and that the padding after the name is zero.
fn decode(msg: &[u8]) -> Result<(u32, u8, u32, &str), Malformed> {
    let msg: &[u8; LEN] = msg.try_into().map_err(|_| Malformed)?;
    let seq = u32::from_le_bytes([msg[0], msg[1], msg[2], msg[3]]);
    let id = u32::from_le_bytes([msg[5], msg[6], msg[7], msg[8]]);
    let (name, padding) = msg[10..].split_at(usize::from(msg[9]));
    let name = std::str::from_utf8(name).map_err(|_| Malformed)?;
    if name.contains('\0') || padding.iter().any(|&b| b != 0) {
        return Err(Malformed);
    }
    Ok((seq, msg[4], id, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_and_answers_round_trip() {
        for q in [
            Question::Uid("alice"),
            Question::Gid("scanners"),
            Question::UserName(2001),
        ] {
            let msg = question(7, q).unwrap();
            assert_eq!(parse_question(&msg), Ok((7, q)));
        }
        for a in [
            Answer::Ready,
            Answer::Id(0),
            Answer::Id(u32::MAX - 1),
            Answer::Name("bob".into()),
            Answer::Unknown,
        ] {
            assert_eq!(parse_answer(&answer(9, &a)), Ok((9, a)));
        }
    }

    #[test]
    fn names_that_cannot_be_sent_are_unknown() {
        let long = "x".repeat(NAME_MAX + 1);
        assert_eq!(question(1, Question::Uid(&long)), None);
        assert_eq!(question(1, Question::Gid("a\0b")), None);
        assert!(question(1, Question::Uid(&long[1..])).is_some());
        let msg = answer(3, &Answer::Name(long));
        assert_eq!(parse_answer(&msg), Ok((3, Answer::Unknown)));
    }

    #[test]
    fn malformed_messages_are_refused() {
        let good = question(1, Question::Uid("alice")).unwrap();
        assert_eq!(parse_question(&good[..LEN - 1]), Err(Malformed));
        assert_eq!(
            parse_question(&[good.as_slice(), &[0]].concat()),
            Err(Malformed)
        );
        let mut bad_kind = good;
        bad_kind[4] = 9;
        assert_eq!(parse_question(&bad_kind), Err(Malformed));
        let mut past_the_name = good;
        past_the_name[9] = 6;
        assert_eq!(parse_question(&past_the_name), Err(Malformed));
        let mut garbage = good;
        garbage[200] = 1;
        assert_eq!(parse_question(&garbage), Err(Malformed));
        let mut nul = good;
        nul[11] = 0;
        assert_eq!(parse_question(&nul), Err(Malformed));
        let mut not_utf8 = good;
        not_utf8[10] = 0xff;
        assert_eq!(parse_question(&not_utf8), Err(Malformed));
        let mut id_with_name = good;
        id_with_name[5] = 1;
        assert_eq!(parse_question(&id_with_name), Err(Malformed));
        // A question is not an answer.
        assert_eq!(parse_answer(&good), Err(Malformed));
    }
}
