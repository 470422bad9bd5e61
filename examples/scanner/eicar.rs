//! The built-in scan, used when no clamd is given: it finds only the EICAR test
//! signature, enough to show the pattern on a machine without ClamAV.

use std::io::{self, Read};

/// The EICAR anti-virus test file's signature: harmless, and detected by every scanner.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The name the built-in scan reports for it.
pub const NAME: &str = "EICAR";

/// Streams `input` looking for the EICAR signature, keeping the last `EICAR.len() - 1`
/// bytes of each block so a match across two reads is found, in constant memory.
pub fn contains_eicar(mut input: impl Read) -> io::Result<bool> {
    let keep = EICAR.len() - 1;
    let mut window = vec![0u8; 64 * 1024 + keep];
    let mut filled = 0;
    loop {
        let n = input.read(&mut window[filled..])?;
        if n == 0 {
            return Ok(false);
        }
        filled += n;
        if window[..filled].windows(EICAR.len()).any(|w| w == EICAR) {
            return Ok(true);
        }
        let tail = filled.saturating_sub(keep);
        window.copy_within(tail..filled, 0);
        filled -= tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes a few at a time, to exercise matches split across reads.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(self.0.len()).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn finds_the_signature_anywhere_and_only_there() {
        let mut data = vec![b'x'; 200_000];
        data[150_000..150_000 + EICAR.len()].copy_from_slice(EICAR);
        for step in [1, 7, 68, 4096, 1 << 20] {
            assert!(contains_eicar(Trickle(&data, step)).unwrap(), "step {step}");
            assert!(!contains_eicar(Trickle(&data[..150_000 + EICAR.len() - 1], step)).unwrap());
        }
        assert!(!contains_eicar(&b""[..]).unwrap());
    }
}
