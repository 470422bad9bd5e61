//! One client in lock-step: `direct`, the `floor`, the floor with fdbroker's duties, and
//! `fdbroker`, pinned and unpinned.
//!
//! They alternate in [`ROUNDS`] rounds per placement, so drift of the VM cannot favour
//! one of them, and each median is the median of the rounds' medians, so a burst of
//! noise during one round of one of them does not decide a row. Targets: fdbroker's median ≤ 1.25× the
//! floor's and its p99 ≤ 2× the floor's p99, under the same placement.
//!
//! The floor does only what any fd broker must. Two more floors take on, in the kernel,
//! what fdbroker does for every file besides: `floor+LL` confines itself with fdbroker's
//! own Landlock rules (the kernel checks each open against them), and `floor+duties`
//! also writes an audit line per reply before sending it and hands out blocking fds
//! (one `fcntl` per file). A fourth, `floor+duties+thread`, does the same in a threaded
//! process, as fdbroker with its worker pool is: what the kernel charges a threaded
//! process for the same syscalls. None is a target's baseline: they show how much of
//! the distance to the floor those duties are, and how much is fdbroker's own code.

use std::io;

use crate::daemon::Floor;
use crate::floor::Duties;
use crate::stats::{Rounds, Summary, fmt_ratio};
use crate::table::Row;

use super::{Cx, ROUNDS, client_latency, direct_samples, lat_cells};

const SECTION: &str = "latency";

pub fn run(cx: &mut Cx) -> io::Result<()> {
    let iters = cx.pick(150_000, 15_000) / ROUNDS;
    let mut broker = cx.broker("latency")?;
    let landlock = broker.landlock_rules()?;
    let mut floors = [
        (
            "floor: minimal SEQPACKET broker",
            Floor::start(&cx.tree, "floor")?,
        ),
        (
            "floor+LL: the floor under fdbroker's Landlock rules",
            Floor::start_with(
                &cx.tree,
                "floor-ll",
                &Duties {
                    landlock: landlock.clone(),
                    ..Duties::default()
                },
            )?,
        ),
        (
            "floor+duties: +LL, audit write, blocking fd",
            Floor::start_with(
                &cx.tree,
                "floor-duties",
                &Duties {
                    landlock: landlock.clone(),
                    audit: Some(cx.tree.path("run/floor-duties.log")),
                    blocking: true,
                    threaded: false,
                },
            )?,
        ),
        (
            "floor+duties+thread: the same, threaded",
            Floor::start_with(
                &cx.tree,
                "floor-duties-thread",
                &Duties {
                    landlock,
                    audit: Some(cx.tree.path("run/floor-duties-thread.log")),
                    blocking: true,
                    threaded: true,
                },
            )?,
        ),
    ];
    for placement in cx.placements() {
        let mut direct = Rounds::default();
        let mut floor_samples: [Rounds; 4] = Default::default();
        let mut fb = Rounds::default();
        for _ in 0..ROUNDS {
            direct.add(direct_samples(&cx.tree, placement, 1, iters, 5000)?);
            for ((_, floor), samples) in floors.iter_mut().zip(&mut floor_samples) {
                let socket = floor.socket.clone();
                samples.add(client_latency(
                    cx,
                    "floor",
                    &socket,
                    placement,
                    iters,
                    &mut || floor.place(placement),
                )?);
            }
            fb.add(client_latency(
                cx,
                "broker",
                &broker.socket.clone(),
                placement,
                iters,
                &mut || broker.place(placement),
            )?);
        }
        broker.check_running()?;
        let d = direct.summary();
        let f: Vec<Summary> = floor_samples.iter_mut().map(Rounds::summary).collect();
        let b = fb.summary();
        let (dm, dp) = lat_cells(&d);
        cx.table.push(
            Row::new(SECTION, "direct: open+fstat+close, 4 KiB, in-process")
                .placement(placement)
                .median(dm)
                .p99(dp)
                .vs("1.00× direct"),
        );
        for (i, ((name, _), s)) in floors.iter().zip(&f).enumerate() {
            let (m, p) = lat_cells(s);
            let vs = match i {
                0 => format!("{} direct", fmt_ratio(s.median / d.median)),
                _ => format!(
                    "{} floor, {} direct",
                    fmt_ratio(s.median / f[0].median),
                    fmt_ratio(s.median / d.median)
                ),
            };
            cx.table.push(
                Row::new(SECTION, *name)
                    .placement(placement)
                    .median(m)
                    .p99(p)
                    .vs(vs),
            );
        }
        let (bm, bp) = lat_cells(&b);
        let (rm, rp) = (b.median / f[0].median, b.p99 / f[0].p99);
        cx.table.push(
            Row::new(SECTION, "fdbroker: Client::open, 100 rules, audit log")
                .placement(placement)
                .median(bm)
                .p99(bp)
                .vs(format!(
                    "{} floor (p99 {}), {} floor+duties, {} +thread, {} direct",
                    fmt_ratio(rm),
                    fmt_ratio(rp),
                    fmt_ratio(b.median / f[2].median),
                    fmt_ratio(b.median / f[3].median),
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
