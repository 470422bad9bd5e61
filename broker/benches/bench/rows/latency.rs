//! One client in lock-step: `direct`, `floor`, the floor confined by Landlock as fdbroker
//! confines itself, and `fdbroker`, pinned and unpinned.
//!
//! They alternate in [`ROUNDS`] rounds per placement and their samples are pooled, so
//! drift of the VM cannot favour one of them. Targets: fdbroker's median ≤ 1.25× the
//! floor's and its p99 ≤ 2× the floor's p99, under the same placement. The confined
//! floor is not a target's baseline: it shows how much of the distance to the floor is
//! the kernel checking every open against fdbroker's Landlock ruleset.

use std::io;

use crate::daemon::Floor;
use crate::stats::{fmt_ratio, summarize};
use crate::table::Row;

use super::{Cx, ROUNDS, client_latency, direct_samples, lat_cells};

const SECTION: &str = "latency";

pub fn run(cx: &mut Cx) -> io::Result<()> {
    let iters = cx.pick(150_000, 15_000) / ROUNDS;
    let mut floor = Floor::start(&cx.tree, "floor")?;
    let mut broker = cx.broker("latency")?;
    let mut confined = Floor::start_confined(&cx.tree, "floor-ll", &broker.landlock_rules()?)?;
    for placement in cx.placements() {
        let (mut direct, mut fl, mut fc, mut fb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            direct.extend(direct_samples(&cx.tree, placement, 1, iters, 5000)?);
            fl.extend(client_latency(
                cx,
                "floor",
                &floor.socket.clone(),
                placement,
                iters,
                &mut || floor.place(placement),
            )?);
            fc.extend(client_latency(
                cx,
                "floor",
                &confined.socket.clone(),
                placement,
                iters,
                &mut || confined.place(placement),
            )?);
            fb.extend(client_latency(
                cx,
                "broker",
                &broker.socket.clone(),
                placement,
                iters,
                &mut || broker.place(placement),
            )?);
        }
        broker.check_running()?;
        let (d, f, c, b) = (
            summarize(&mut direct),
            summarize(&mut fl),
            summarize(&mut fc),
            summarize(&mut fb),
        );
        let (dm, dp) = lat_cells(&d);
        cx.table.push(
            Row::new(SECTION, "direct: open+fstat+close, 4 KiB, in-process")
                .placement(placement)
                .median(dm)
                .p99(dp)
                .vs("1.00× direct"),
        );
        let (fm, fp) = lat_cells(&f);
        cx.table.push(
            Row::new(SECTION, "floor: minimal SEQPACKET broker")
                .placement(placement)
                .median(fm)
                .p99(fp)
                .vs(format!("{} direct", fmt_ratio(f.median / d.median))),
        );
        let (cm, cp) = lat_cells(&c);
        cx.table.push(
            Row::new(SECTION, "floor + Landlock: confined as fdbroker is")
                .placement(placement)
                .median(cm)
                .p99(cp)
                .vs(format!(
                    "{} floor, {} direct",
                    fmt_ratio(c.median / f.median),
                    fmt_ratio(c.median / d.median)
                )),
        );
        let (bm, bp) = lat_cells(&b);
        let (rm, rp) = (b.median / f.median, b.p99 / f.p99);
        cx.table.push(
            Row::new(SECTION, "fdbroker: Client::open, 100 rules, audit log")
                .placement(placement)
                .median(bm)
                .p99(bp)
                .vs(format!(
                    "{} floor (p99 {}), {} floor+LL, {} direct",
                    fmt_ratio(rm),
                    fmt_ratio(rp),
                    fmt_ratio(b.median / c.median),
                    fmt_ratio(b.median / d.median)
                ))
                .target(
                    "median ≤1.25× floor, p99 ≤2× floor p99",
                    rm <= 1.25 && rp <= 2.0,
                ),
        );
        if placement == crate::sys::Placement::Unpinned {
            cx.fdbroker_unpinned = Some(b.median);
        }
    }
    Ok(())
}
