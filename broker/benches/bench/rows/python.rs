//! The Python client (`clients/python`) beside the Rust library, in the same run against
//! the same broker, both as uid 2001: one open (lock-step `open` + close), and the cost
//! per file of `open_many` in batches of `MAX_BATCH` (253), lock-step (one batch per
//! call) and pipelined (four batches per call, which `open_many` keeps two in flight, as
//! the Rust library's does).
//!
//! Target (issue #18): Python's batched cost per file at most 2.5× the Rust library's.
//! Unpinned only: the Python process is started by an interpreter the bench does not
//! place.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::client::{self, CLIENT_GID, CLIENT_UID, Spec};
use crate::floor::MAX_BATCH;
use crate::stats::{Rounds, Summary, fmt_ns, fmt_ratio};
use crate::sys::Placement;
use crate::table::Row;

use super::{Cx, ROUNDS, client_latency};

const SECTION: &str = "python";

/// The bench's Python client, and the client package it imports.
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/benches/bench/python_client.py"
);
const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../clients/python/src");

pub fn run(cx: &mut Cx) -> io::Result<()> {
    let mut broker = cx.broker("python")?;
    let socket = broker.socket.clone();
    let placement = Placement::Unpinned;
    let iters = cx.pick(20_000, 2_000);
    let (mut rust, mut python) = (Rounds::default(), Rounds::default());
    for _ in 0..ROUNDS {
        rust.add(client_latency(
            cx,
            "broker",
            &socket,
            placement,
            iters,
            &mut || broker.place(placement),
        )?);
        python.add(python_samples(cx, &socket, "lat", iters, 1)?);
    }
    let (r, p) = (rust.summary(), python.summary());
    push(cx, "Rust library: one open", &r, None);
    push(
        cx,
        "Python: one open",
        &p,
        Some((p.median / r.median, None)),
    );

    for (mode, per_call) in [("lockstep", MAX_BATCH), ("pipelined", 4 * MAX_BATCH)] {
        let files = cx.pick(40_000, 4_000);
        let (mut rust, mut python) = (Rounds::default(), Rounds::default());
        for _ in 0..ROUNDS {
            let spec = Spec::new("batch")
                .target(&cx.tree, "broker", &socket, placement)
                .arg("b", MAX_BATCH)
                .arg("mode", mode)
                .arg("files", files)
                .arg("warm", 4 * MAX_BATCH);
            rust.add(client::run_samples(&cx.tree, &spec, &mut || {
                broker.place(placement)
            })?);
            let calls = files.div_ceil(per_call as u64);
            python.add(python_samples(cx, &socket, "batch", calls, per_call)?);
        }
        broker.check_running()?;
        let (r, p) = (
            per_file(&mut rust, MAX_BATCH),
            per_file(&mut python, per_call),
        );
        let ratio = p.median / r.median;
        push(
            cx,
            &format!("Rust library: batch {MAX_BATCH}, {mode}, per file"),
            &r,
            None,
        );
        push(
            cx,
            &format!("Python: open_many of {per_call}, {mode}, per file"),
            &p,
            Some((ratio, Some(ratio <= 2.5))),
        );
    }
    Ok(())
}

/// A row; `vs` is the ratio to the Rust library's row above it, and whether it meets
/// the target (where one is set).
fn push(cx: &mut Cx, name: &str, s: &Summary, vs: Option<(f64, Option<bool>)>) {
    let row = Row::new(SECTION, name)
        .placement(Placement::Unpinned)
        .median(fmt_ns(s.median))
        .p99(fmt_ns(s.p99));
    let row = match vs {
        None => row.vs("1.00× Rust"),
        Some((ratio, None)) => row.vs(format!("{} Rust", fmt_ratio(ratio))),
        Some((ratio, Some(meets))) => row
            .vs(format!("{} Rust", fmt_ratio(ratio)))
            .target("≤2.5× Rust", meets),
    };
    cx.table.push(row);
}

/// The distribution of per-call samples, divided by the files per call.
fn per_file(samples: &mut Rounds, files: usize) -> Summary {
    let s = samples.summary();
    Summary {
        median: s.median / files as f64,
        p99: s.p99 / files as f64,
        max: s.max / files as f64,
        ..s
    }
}

/// One round of the Python client's `task`: `count` samples after a warm-up, as uid 2001.
fn python_samples(
    cx: &Cx,
    socket: &Path,
    task: &str,
    count: u64,
    b: usize,
) -> io::Result<Vec<u64>> {
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .arg(SRC)
        .arg(socket)
        .arg(cx.tree.data_dir())
        .args([task, &count.to_string(), &cx.pick(2_000, 200).to_string()])
        .args([
            CLIENT_UID.to_string(),
            CLIENT_GID.to_string(),
            b.to_string(),
        ])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| io::Error::other(format!("python3 {SCRIPT}: {e}")))?;
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut stdin = child.stdin.take().expect("piped");
    let result = (|| {
        let mut line = String::new();
        out.read_line(&mut line)?;
        if line.trim() != "ready" {
            return Err(io::Error::other(format!("python client said {line:?}")));
        }
        stdin.write_all(b"go\n")?;
        stdin.flush()?;
        line.clear();
        out.read_line(&mut line)?;
        let n: usize = line
            .trim()
            .strip_prefix("samples ")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| io::Error::other(format!("python client said {line:?}")))?;
        let mut bytes = vec![0u8; n * 8];
        out.read_exact(&mut bytes)?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    })();
    drop(stdin);
    let status = child.wait()?;
    if result.is_ok() && !status.success() {
        return Err(io::Error::other(format!("python client exited {status}")));
    }
    result
}
