//! What the broker and the process reader say to each other, one `SOCK_SEQPACKET` record
//! each way. A question is a sequence number, with the client's pidfd attached
//! (`SCM_RIGHTS`). An answer is the same number and what was read:
//!
//! ```text
//! seq: u32 LE | known: u8 (0 or 1) | unit_len: u16 LE | unit | exe_len: u16 LE | exe
//!   | ns: u8 (0 the broker's, 1 another with its owner, 2 another, owner unknown)
//!   [ns = 1: uid: u32 LE | gid: u32 LE | n: u16 LE | n × gid: u32 LE]
//! ```
//!
//! `known = 0` (the process exited, or could not be read) carries empty fields and
//! `ns = 2`. An empty unit or exe is one that could not be read.

use fdbroker_policy::{Owner, Process, UserNamespace};

use super::namespace::MAX_OWNER_GROUPS;

/// The question's length: its sequence number.
pub const QUESTION_LEN: usize = 4;

/// The largest answer: a unit name is at most 255 bytes (systemd's limit) and an
/// executable path at most `PATH_MAX` (4096) bytes, with " (deleted)" at worst.
/// An owner's groups are at most [`MAX_OWNER_GROUPS`].
pub const MAX_ANSWER: usize =
    4 + 1 + 2 + 255 + 2 + 4096 + 16 + 1 + 4 + 4 + 2 + 4 * MAX_OWNER_GROUPS;

/// The answer `seq` for `process`.
pub fn answer(seq: u32, process: Option<&Process>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&seq.to_le_bytes());
    let unit = process
        .and_then(|p| p.unit.as_deref())
        .unwrap_or_default()
        .as_bytes();
    let exe = process.and_then(|p| p.exe.as_deref()).unwrap_or_default();
    // Fields too long for their limit are left out, as unreadable.
    let unit = if unit.len() <= 255 { unit } else { &[][..] };
    let exe = if exe.len() <= 4096 + 16 { exe } else { &[][..] };
    out.push(u8::from(process.is_some()));
    for field in [unit, exe] {
        out.extend_from_slice(&(field.len() as u16).to_le_bytes());
        out.extend_from_slice(field);
    }
    match process.map(|p| &p.user_namespace) {
        Some(UserNamespace::Broker) => out.push(0),
        Some(UserNamespace::Other(Some(owner))) if owner.groups.len() <= MAX_OWNER_GROUPS => {
            out.push(1);
            out.extend_from_slice(&owner.uid.to_le_bytes());
            out.extend_from_slice(&owner.gid.to_le_bytes());
            out.extend_from_slice(&(owner.groups.len() as u16).to_le_bytes());
            for gid in &owner.groups {
                out.extend_from_slice(&gid.to_le_bytes());
            }
        }
        Some(UserNamespace::Other(_)) | None => out.push(2),
    }
    out
}

/// The sequence number and process of an answer; `Err` if it is malformed.
pub fn parse_answer(msg: &[u8]) -> Result<(u32, Option<Process>), Malformed> {
    let (seq, rest) = msg.split_first_chunk::<4>().ok_or(Malformed)?;
    let (&known, mut rest) = rest.split_first().ok_or(Malformed)?;
    let mut field = || -> Result<Vec<u8>, Malformed> {
        let (len, tail) = rest.split_first_chunk::<2>().ok_or(Malformed)?;
        let len = usize::from(u16::from_le_bytes(*len));
        let value = tail.get(..len).ok_or(Malformed)?;
        rest = &tail[len..];
        Ok(value.to_vec())
    };
    let (unit, exe) = (field()?, field()?);
    let user_namespace = user_namespace(&mut rest)?;
    if !rest.is_empty() {
        return Err(Malformed);
    }
    let process = match known {
        0 => None,
        1 => Some(Process {
            unit: (!unit.is_empty())
                .then(|| String::from_utf8(unit).map_err(|_| Malformed))
                .transpose()?,
            exe: (!exe.is_empty()).then_some(exe),
            user_namespace,
        }),
        _ => return Err(Malformed),
    };
    Ok((u32::from_le_bytes(*seq), process))
}

/// The namespace part of an answer, taken from the front of `rest`.
fn user_namespace(rest: &mut &[u8]) -> Result<UserNamespace, Malformed> {
    let mut take = |n: usize| -> Result<&[u8], Malformed> {
        let (head, tail) = rest.split_at_checked(n).ok_or(Malformed)?;
        *rest = tail;
        Ok(head)
    };
    let u32_at = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    match take(1)?[0] {
        0 => Ok(UserNamespace::Broker),
        2 => Ok(UserNamespace::Other(None)),
        1 => {
            let ids = take(10)?;
            let count = usize::from(u16::from_le_bytes([ids[8], ids[9]]));
            let groups = take(4 * count)?.chunks_exact(4).map(u32_at).collect();
            Ok(UserNamespace::Other(Some(Owner {
                uid: u32_at(&ids[0..4]),
                gid: u32_at(&ids[4..8]),
                groups,
            })))
        }
        _ => Err(Malformed),
    }
}

/// An answer that is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip() {
        let full = Process {
            unit: Some("clamav-daemon.service".into()),
            exe: Some(b"/usr/sbin/clamd".to_vec()),
            user_namespace: UserNamespace::Broker,
        };
        let partial = Process {
            unit: None,
            exe: Some(b"/bin/\xff".to_vec()),
            user_namespace: UserNamespace::Other(None),
        };
        let owned = Process {
            unit: None,
            exe: None,
            user_namespace: UserNamespace::Other(Some(Owner {
                uid: 1002,
                gid: 1002,
                groups: vec![1002, 50, 4294967294],
            })),
        };
        for (seq, process) in [
            (1, Some(&full)),
            (7, Some(&partial)),
            (8, Some(&owned)),
            (u32::MAX, None),
        ] {
            let msg = answer(seq, process);
            assert_eq!(parse_answer(&msg), Ok((seq, process.cloned())));
        }
    }

    #[test]
    fn malformed_answers_are_refused() {
        let good = answer(3, None);
        assert_eq!(parse_answer(&good[..good.len() - 1]), Err(Malformed));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(parse_answer(&long), Err(Malformed));
        let mut bad_flag = good;
        bad_flag[4] = 2;
        assert_eq!(parse_answer(&bad_flag), Err(Malformed));
    }
}
