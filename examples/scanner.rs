//! An unprivileged scanner in the ClamAV pattern: it cannot open the files it scans, so it
//! asks fdbroker for each one and reads the fd it is handed.
//!
//! Usage: `scanner [--socket PATH] FILE...` — prints one line per file, `FILE: infected
//! (EICAR)`, `FILE: clean` or `FILE: error: ...`, and exits 1 if anything was infected,
//! else 2 if any file could not be scanned, else 0. A file the broker refuses is an
//! error, never "clean": a scanner that cannot read a file has not scanned it.

use std::io::{self, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use fdbroker_agent::{Access, Client, default_socket};

/// The EICAR anti-virus test file's signature: harmless, and detected by every scanner.
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).peekable();
    let mut socket = default_socket();
    if args.peek().is_some_and(|a| a == "--socket") {
        args.next();
        match args.next() {
            Some(path) => socket = PathBuf::from(path),
            None => return usage(),
        }
    }
    let files: Vec<PathBuf> = args.map(PathBuf::from).collect();
    if files.is_empty() {
        return usage();
    }
    let mut client = match Client::connect(&socket) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("scanner: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut infected, mut errors) = (false, false);
    for file in &files {
        match client.open(file, Access::READ).and_then(contains_eicar) {
            Ok(true) => {
                infected = true;
                println!("{}: infected (EICAR)", file.display());
            }
            Ok(false) => println!("{}: clean", file.display()),
            Err(e) => {
                errors = true;
                println!("{}: error: {e}", file.display());
            }
        }
    }
    ExitCode::from(if infected {
        1
    } else if errors {
        2
    } else {
        0
    })
}

/// Streams `input` looking for the EICAR signature, keeping the last `EICAR.len() - 1`
/// bytes of each block so a match across two reads is found, in constant memory.
fn contains_eicar(mut input: impl Read) -> io::Result<bool> {
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

fn usage() -> ExitCode {
    eprintln!("usage: scanner [--socket PATH] FILE...");
    ExitCode::from(64)
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
