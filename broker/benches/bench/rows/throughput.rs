//! N concurrent clients (processes, one connection each, lock-step), total opens per
//! second over a fixed wall time, fdbroker beside the floor at the same N.
//!
//! Unpinned: with many clients the point is how the server uses both CPUs. The clients
//! are distinct uids (2001, 2002, ...) sharing gid 2001, as distinct programs would be;
//! the broker caps what one uid may have in flight. Each figure is the median of
//! [`ROUNDS`] windows, floor and fdbroker alternating, and each round going through every
//! client count.
//!
//! Targets: at N ≥ 2, fdbroker ≥ 0.8× the floor; and fdbroker's rate does not fall from
//! N = 4 to N = 64 (checked as x64 ≥ 0.9 × x4, the 10 % being run-to-run noise of a
//! 2-vCPU VM, which the printed figures let you judge).

use std::io;
use std::path::Path;

use crate::client::{self, CLIENT_UID, Spec};
use crate::stats::{fmt_rate, fmt_ratio, median_f64};
use crate::sys::Placement;
use crate::table::Row;

use super::{Cx, ROUNDS};

const SECTION: &str = "throughput";
const COUNTS: [usize; 5] = [1, 2, 4, 16, 64];

pub fn run(cx: &mut Cx) -> io::Result<()> {
    let seconds = if cx.quick { 0.5 } else { 2.0 };
    let rounds = cx.pick(ROUNDS, 1);
    let mut floor = crate::daemon::Floor::start(&cx.tree, "floor-tput")?;
    let mut broker = cx.broker("throughput")?;
    // Rates per client count, floor and fdbroker; every round visits every count, so
    // that drift of the VM over the section's two minutes hits all counts alike, and in
    // particular the x4 and x64 figures compared below.
    let mut rates = vec![(Vec::new(), Vec::new()); COUNTS.len()];
    for _ in 0..rounds {
        for (&n, (fl, fb)) in COUNTS.iter().zip(&mut rates) {
            fl.push(rate(
                cx,
                "floor",
                &floor.socket.clone(),
                n,
                seconds,
                &mut || floor.place(Placement::Unpinned),
            )?);
            fb.push(rate(
                cx,
                "broker",
                &broker.socket.clone(),
                n,
                seconds,
                &mut || broker.place(Placement::Unpinned),
            )?);
        }
        broker.check_running()?;
    }
    let mut broker_rates = Vec::new();
    for (&n, (fl, fb)) in COUNTS.iter().zip(&rates) {
        let (f, b) = (median_f64(fl), median_f64(fb));
        broker_rates.push((n, b));
        cx.table.push(
            Row::new(SECTION, format!("floor x{n}"))
                .placement(Placement::Unpinned)
                .median(fmt_rate(f)),
        );
        let row = Row::new(SECTION, format!("fdbroker x{n}"))
            .placement(Placement::Unpinned)
            .median(fmt_rate(b))
            .vs(format!("{} floor", fmt_ratio(b / f)));
        let row = if n >= 2 {
            row.target("≥0.8× floor", b / f >= 0.8)
        } else {
            row
        };
        cx.table.push(row);
    }
    let at = |n: usize| broker_rates.iter().find(|(k, _)| *k == n).map(|(_, r)| *r);
    if let (Some(x4), Some(x64)) = (at(4), at(64)) {
        cx.table.push(
            Row::new(SECTION, "fdbroker x64 / x4")
                .placement(Placement::Unpinned)
                .median(fmt_ratio(x64 / x4))
                .target("not falling from 4 to 64 (≥0.90)", x64 / x4 >= 0.9),
        );
    }
    Ok(())
}

/// Opens per second of `n` clients together against `socket`, each for `seconds`.
fn rate(
    cx: &Cx,
    kind: &str,
    socket: &Path,
    n: usize,
    seconds: f64,
    place: &mut dyn FnMut() -> io::Result<()>,
) -> io::Result<f64> {
    let specs: Vec<Spec> = (0..n)
        .map(|k| {
            Spec::new("tput")
                .run_as(CLIENT_UID + k as u32)
                .target(&cx.tree, kind, socket, Placement::Unpinned)
                .arg("seconds", seconds)
                .arg("warm", 500)
        })
        .collect();
    let running = client::start_all(&cx.tree, &specs, place)?;
    let mut total = 0.0;
    for r in running {
        let (count, ns) = r.count()?;
        total += count as f64 / (ns as f64 / 1e9);
    }
    Ok(total)
}
