//! The sections of the table, one module each, and what they share.

pub mod batch;
pub mod clib;
pub mod idle;
pub mod latency;
pub mod policy;
pub mod process;
pub mod python;
pub mod reload;
pub mod run;
pub mod throughput;

use std::io;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use rustix::fs::{Mode, OFlags, fstat, open};

use crate::client::{self, Spec};
use crate::daemon::Broker;
use crate::stats::{self, Summary, ns};
use crate::sys::{self, Placement};
use crate::table::Table;
use crate::tree::{FILE_SIZE, FILES, Tree};

/// A section: measures and pushes its rows.
pub type Section = fn(&mut Cx) -> io::Result<()>;

/// What every section needs, and figures one section hands to another.
#[derive(Debug)]
pub struct Cx {
    pub tree: Tree,
    pub quick: bool,
    /// The CPU of the pinned rows.
    pub cpu: usize,
    pub table: Table,
    /// `RLIMIT_NOFILE` of the bench (and of the processes it starts).
    pub nofile: u64,
    /// The broker's `serve` flags for its connection limits, if this build has them
    /// (`--max-connections` ...); the idle rows need them raised.
    pub limit_flags: bool,
    /// The fdbroker single-client median, unpinned, once measured (the `spawn` ratio).
    pub fdbroker_unpinned: Option<f64>,
}

impl Cx {
    pub fn new(tree: Tree, quick: bool, cpu: usize, nofile: u64) -> io::Result<Cx> {
        let help = Command::new(crate::daemon::fdbroker_exe())
            .args(["serve", "--help"])
            .output()?;
        let limit_flags = String::from_utf8_lossy(&help.stdout).contains("--max-connections");
        Ok(Cx {
            tree,
            quick,
            cpu,
            table: Table::default(),
            nofile,
            limit_flags,
            fdbroker_unpinned: None,
        })
    }

    /// `full` in a full run, `quick` with `--quick`.
    pub fn pick(&self, full: u64, quick: u64) -> u64 {
        if self.quick { quick } else { full }
    }

    /// Pinned to the bench's CPU, then unpinned: the two placements of every latency row.
    pub fn placements(&self) -> [Placement; 2] {
        [Placement::Pinned(self.cpu), Placement::Unpinned]
    }

    /// A broker serving the 100-rule policy, named for its section.
    pub fn broker(&self, name: &str) -> io::Result<Broker> {
        Broker::start(
            &self.tree,
            name,
            &crate::policies::broker_policy(&self.tree),
        )
    }
}

/// Rounds each latency comparison is split into: the contenders alternate round by
/// round, so a slow drift of the machine (another VM waking up) hits all of them alike,
/// and each figure is the median of the rounds' medians ([`crate::stats::Rounds`]), so
/// a burst that hits one round of one contender does not move it.
pub const ROUNDS: u64 = 5;

/// `direct`: open + fstat + close of data file `first`, `first + 1`, ... (round-robin over
/// `files` of them) in this process under `placement`; one sample per file. The result
/// is checked (size 4 KiB) on every iteration.
pub fn direct_samples(
    tree: &Tree,
    placement: Placement,
    files: usize,
    iters: u64,
    warm: u64,
) -> io::Result<Vec<u64>> {
    let paths: Vec<_> = (0..files.min(FILES)).map(|i| tree.data_file(i)).collect();
    sys::place_self(placement)?;
    let result = (|| {
        let mut samples = Vec::with_capacity(iters as usize);
        for i in 0..warm + iters {
            let path: &Path = &paths[i as usize % paths.len()];
            let t = Instant::now();
            let fd = open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
            let st = fstat(&fd)?;
            drop(fd);
            let elapsed = t.elapsed();
            if st.st_size != FILE_SIZE as i64 {
                return Err(io::Error::other("direct open: wrong file size"));
            }
            if i >= warm {
                samples.push(ns(elapsed));
            }
        }
        Ok(samples)
    })();
    sys::place_self(Placement::Unpinned)?;
    result
}

/// Lock-step single-file latency of `kind` (`floor` or `broker`) at `socket`, from a
/// uid-2001 client, with the server placed by `place_server` once the client is
/// connected (its serving thread may only exist then).
pub fn client_latency(
    cx: &Cx,
    kind: &str,
    socket: &Path,
    placement: Placement,
    iters: u64,
    place_server: &mut dyn FnMut() -> io::Result<()>,
) -> io::Result<Vec<u64>> {
    let spec = Spec::new("lat")
        .target(&cx.tree, kind, socket, placement)
        .arg("iters", iters)
        .arg("warm", cx.pick(5000, 1000));
    client::run_samples(&cx.tree, &spec, place_server)
}

/// Median and p99 of a set of samples, as the table shows them.
pub fn lat_cells(s: &Summary) -> (String, String) {
    (stats::fmt_ns(s.median), stats::fmt_ns(s.p99))
}
