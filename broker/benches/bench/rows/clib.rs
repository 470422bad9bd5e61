//! The C library (`libfdagent`, `clients/c`) against the Rust library it wraps, in the
//! same run and under the same placements: one open in lock-step (`fdagent_open` against
//! `Client::open_with_mode`), and per file in batches of [`MAX_BATCH`], one call per batch
//! (`fdagent_open_many` against `submit_many` + `receive_many`, which is what `open_many`
//! does with one batch). Target: the C library's median at most 1.1× the Rust library's.
//!
//! The C client (`clib_client.c`) is compiled here with `cc` against the release build's
//! `libfdagent.a`, and runs the Rust client's `lat` and `batch` tasks with the same
//! protocol, files and checks. The two alternate round by round, as in the other sections.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::client::{self, Spec};
use crate::floor::MAX_BATCH;
use crate::stats::{Rounds, fmt_ns, fmt_ratio};
use crate::table::Row;
use crate::tree::Tree;

use super::batch::{per_file, rounds as batch_rounds};
use super::{Cx, ROUNDS, lat_cells};

const SECTION: &str = "clib";
const TARGET: &str = "≤1.1× rust library";

pub fn run(cx: &mut Cx) -> io::Result<()> {
    let c_client = build_c_client(&cx.tree)?;
    let mut broker = cx.broker("clib")?;
    for placement in cx.placements() {
        let socket = broker.socket.clone();
        let lat = Spec::new("lat")
            .target(&cx.tree, "broker", &socket, placement)
            .arg("iters", cx.pick(100_000, 10_000) / ROUNDS)
            .arg("warm", cx.pick(5000, 1000));
        let batch = Spec::new("batch")
            .target(&cx.tree, "broker", &socket, placement)
            .arg("b", MAX_BATCH)
            .arg("mode", "lockstep")
            .arg("files", cx.pick(40_000, 20_000))
            .arg("warm", 4 * MAX_BATCH);
        // Batch rounds as many as the batch section takes: a batch round's figure moves
        // with where the scheduler puts client and broker (see there).
        for (what, spec, batch_of, rounds) in [
            ("one open", lat, 1, ROUNDS),
            (
                "batch 253, per file",
                batch,
                MAX_BATCH,
                batch_rounds(placement),
            ),
        ] {
            let (mut rust, mut c) = (Rounds::default(), Rounds::default());
            let c_spec = spec.clone().program(&c_client);
            for _ in 0..rounds {
                rust.add(client::run_samples(&cx.tree, &spec, &mut || {
                    broker.place(placement)
                })?);
                c.add(client::run_samples(&cx.tree, &c_spec, &mut || {
                    broker.place(placement)
                })?);
            }
            broker.check_running()?;
            let (r, k) = (per_file(&mut rust, batch_of), per_file(&mut c, batch_of));
            let (median, p99) = lat_cells(&r);
            cx.table.push(
                Row::new(SECTION, format!("rust library: {what}"))
                    .placement(placement)
                    .median(median)
                    .p99(p99)
                    .vs("1.00× rust library"),
            );
            let ratio = k.median / r.median;
            cx.table.push(
                Row::new(SECTION, format!("C library: {what}"))
                    .placement(placement)
                    .median(fmt_ns(k.median))
                    .p99(fmt_ns(k.p99))
                    .vs(format!("{} rust library", fmt_ratio(ratio)))
                    .target(TARGET, ratio <= 1.1),
            );
        }
    }
    Ok(())
}

/// Compiles `clib_client.c` into the tree's `bin/` (where the client uid can run it),
/// statically linked with the release build's `libfdagent.a`.
fn build_c_client(tree: &Tree) -> io::Result<PathBuf> {
    let lib = crate::daemon::fdbroker_exe().with_file_name("libfdagent.a");
    if !lib.is_file() {
        return Err(io::Error::other(format!(
            "{} not found: run `cargo build --release --workspace` first",
            lib.display()
        )));
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tree.path("bin/clib_client");
    let built = Command::new("cc")
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(manifest.join("../clients/c/include"))
        .arg(manifest.join("benches/bench/clib_client.c"))
        .arg(&lib)
        // What linking the archive needs besides (rustc --print native-static-libs).
        .args([
            "-lgcc_s",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-lm",
            "-ldl",
            "-lc",
            "-o",
        ])
        .arg(&out)
        .status()?;
    if !built.success() {
        return Err(io::Error::other(format!("cc clib_client.c: {built}")));
    }
    Ok(out)
}
