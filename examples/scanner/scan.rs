//! One scan job: walk the roots through the broker, scan each batch of files it opened,
//! and write a verdict line per file.

use std::io::{self, Write};
use std::path::PathBuf;

use fdbroker_agent::Client;

use crate::engine::Engine;
use crate::report::{Report, Verdict};
use crate::walk::walk;

/// Scans `roots` (files or directories) with `engine`, writing to `report`. A file the
/// broker refused is an error line, never clean. The error is a failure of the broker
/// connection or of `report`'s output; the lines written so far stand.
pub fn scan<W: Write>(
    client: &mut Client,
    engine: &Engine,
    roots: impl IntoIterator<Item = PathBuf>,
    report: &mut Report<W>,
) -> io::Result<()> {
    walk(client, roots, |found| {
        // The opened files go to the engine together; each path keeps its place in the
        // output, with its refusal if it has one.
        let mut files = Vec::with_capacity(found.len());
        let mut places = Vec::with_capacity(found.len());
        for (path, opened) in found {
            match opened {
                Ok(file) => {
                    files.push(file);
                    places.push((path, None));
                }
                Err(e) => places.push((path, Some(e))),
            }
        }
        let mut verdicts = engine.scan(&files).into_iter();
        for (path, refusal) in places {
            let verdict = match refusal {
                Some(e) => Verdict::from(e),
                None => verdicts
                    .next()
                    .unwrap_or_else(|| Verdict::Error("not scanned".into())),
            };
            report.file(&path, &verdict)?;
        }
        report.flush()
    })
}
