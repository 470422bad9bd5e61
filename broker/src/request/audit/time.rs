//! UTC timestamps for audit records, without a calendar crate: the days-to-civil-date
//! conversion is a dozen lines of integer arithmetic (H. Hinnant's algorithm).

use std::time::{SystemTime, UNIX_EPOCH};

/// An instant as `2026-11-26T03:58:02.123Z`, formatted once per request into a fixed
/// buffer: no allocation and no formatting machinery on the path of every reply.
#[derive(Debug, Clone, Copy)]
pub struct Stamp([u8; 24]);

impl Stamp {
    /// Now.
    pub fn now() -> Stamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Stamp::at(since.as_secs(), since.subsec_millis())
    }

    fn at(secs: u64, millis: u32) -> Stamp {
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days as i64);
        let mut out = *b"0000-00-00T00:00:00.000Z";
        // Years past 9999 are clipped to four digits: they are not this broker's problem.
        digits(&mut out[0..4], y.clamp(0, 9999) as u64);
        digits(&mut out[5..7], u64::from(m));
        digits(&mut out[8..10], u64::from(d));
        digits(&mut out[11..13], rem / 3600);
        digits(&mut out[14..16], rem % 3600 / 60);
        digits(&mut out[17..19], rem % 60);
        digits(&mut out[20..23], u64::from(millis));
        Stamp(out)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation are ever written into it.
        std::str::from_utf8(&self.0).unwrap_or("0000-00-00T00:00:00.000Z")
    }
}

/// Writes `n` into `out` as decimal digits, zero-padded to its length.
fn digits(out: &mut [u8], mut n: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// (year, month, day) of the day `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let text = |secs, millis| Stamp::at(secs, millis).as_str().to_owned();
        assert_eq!(text(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(text(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(text(1_795_665_482, 123), "2026-11-26T03:58:02.123Z");
        assert_eq!(text(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
        assert_eq!(Stamp::now().as_str().len(), 24);
    }
}
