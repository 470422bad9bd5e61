//! What the broker and the process reader say to each other, one `SOCK_SEQPACKET` record
//! each way. A question is a sequence number, with the client's pidfd attached
//! (`SCM_RIGHTS`). An answer is the same number and what was read:
//!
//! ```text
//! seq: u32 LE | known: u8 (0 or 1) | unit_len: u16 LE | unit | exe_len: u16 LE | exe
//! ```
//!
//! `known = 0` (the process exited, or could not be read) carries empty fields. An empty
//! unit or exe is one that could not be read.

use fdbroker_policy::Process;

/// The question's length: its sequence number.
pub const QUESTION_LEN: usize = 4;

/// The largest answer: a unit name is at most 255 bytes (systemd's limit) and an
/// executable path at most `PATH_MAX` (4096) bytes, with " (deleted)" at worst.
pub const MAX_ANSWER: usize = 4 + 1 + 2 + 255 + 2 + 4096 + 16;

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
        }),
        _ => return Err(Malformed),
    };
    Ok((u32::from_le_bytes(*seq), process))
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
        };
        let partial = Process {
            unit: None,
            exe: Some(b"/bin/\xff".to_vec()),
        };
        for (seq, process) in [(1, Some(&full)), (7, Some(&partial)), (u32::MAX, None)] {
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
