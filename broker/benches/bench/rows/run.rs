//! `fdagent run`: what one open costs an unmodified program whose opens the supervisor
//! serves, beside `direct` (root's own open in-process) and the library's `Client::open`,
//! and what every other open pays for passing through the supervisor to the kernel.
//!
//! The program is the bench's `open` client (std's `File::open`, then close, timed in
//! process) run as uid 2001 under `fdagent run`; its supervisor's threads are placed with
//! the client and the broker. Target (issue #20): the open under `run` at most 1.5× the
//! `Client::open` of the same placement.

use std::io;

use crate::client::{Running, Spec};
use crate::stats::{Rounds, fmt_ratio};
use crate::sys::{self, Placement};
use crate::table::Row;

use super::{Cx, ROUNDS, client_latency, direct_samples, lat_cells};

const SECTION: &str = "run";

pub fn run(cx: &mut Cx) -> io::Result<()> {
    let iters = cx.pick(50_000, 5_000) / ROUNDS;
    let warm = cx.pick(2000, 500);
    let mut broker = cx.broker("run")?;
    let socket = broker.socket.clone();
    let data = cx.tree.data_file(0);
    // A file uid 2001 may open itself: such opens go back to the kernel.
    let own = cx.tree.bench_exe.clone();
    for placement in cx.placements() {
        let (mut direct, mut client, mut served, mut own_plain, mut own_run) = Default::default();
        for _ in 0..ROUNDS {
            let rounds: [&mut Rounds; 5] = [
                &mut direct,
                &mut client,
                &mut served,
                &mut own_plain,
                &mut own_run,
            ];
            rounds[0].add(direct_samples(&cx.tree, placement, 1, iters, warm)?);
            rounds[1].add(client_latency(
                cx,
                "broker",
                &socket,
                placement,
                iters,
                &mut || broker.place(placement),
            )?);
            let open = |path: &std::path::Path, verify: &str| {
                Spec::new("open")
                    .target(&cx.tree, "broker", &socket, placement)
                    .arg("path", path.display())
                    .arg("verify", verify)
                    .arg("iters", iters)
                    .arg("warm", warm)
            };
            let run_spec = |spec: Spec| spec.under_run(&cx.tree, &socket);
            let specs = [
                run_spec(open(&data, "data")),
                open(&own, "none"),
                run_spec(open(&own, "none")),
            ];
            for (spec, round) in specs.iter().zip(rounds.into_iter().skip(2)) {
                round.add(samples(cx, spec, placement, &mut broker)?);
            }
        }
        broker.check_running()?;
        let d = direct.summary();
        let c = client.summary();
        let s = served.summary();
        let (op, or) = (own_plain.summary(), own_run.summary());
        let (m, p) = lat_cells(&d);
        cx.table.push(
            Row::new(SECTION, "direct: open+fstat+close, in-process (root)")
                .placement(placement)
                .median(m)
                .p99(p),
        );
        let (m, p) = lat_cells(&c);
        cx.table.push(
            Row::new(SECTION, "Client::open (uid 2001)")
                .placement(placement)
                .median(m)
                .p99(p)
                .vs(format!("{} direct", fmt_ratio(c.median / d.median))),
        );
        let (m, p) = lat_cells(&s);
        let ratio = s.median / c.median;
        cx.table.push(
            Row::new(
                SECTION,
                "fdagent run: open+close of a granted root-only file (uid 2001)",
            )
            .placement(placement)
            .median(m)
            .p99(p)
            .vs(format!(
                "{} Client::open, {} direct",
                fmt_ratio(ratio),
                fmt_ratio(s.median / d.median)
            ))
            .target("≤1.5× Client::open", ratio <= 1.5),
        );
        let (m, p) = lat_cells(&op);
        cx.table.push(
            Row::new(SECTION, "open+close of an own file, no run (uid 2001)")
                .placement(placement)
                .median(m)
                .p99(p),
        );
        let (m, p) = lat_cells(&or);
        cx.table.push(
            Row::new(
                SECTION,
                "fdagent run: the same, left to the kernel (CONTINUE)",
            )
            .placement(placement)
            .median(m)
            .p99(p)
            .vs(format!(
                "{} without run (+{})",
                fmt_ratio(or.median / op.median),
                crate::stats::fmt_ns(or.median - op.median)
            )),
        );
    }
    Ok(())
}

/// One client's samples, with the broker and the client's process (its supervisor
/// under `run`, whose threads exist by the time the client is ready) placed together.
fn samples(
    cx: &Cx,
    spec: &Spec,
    placement: Placement,
    broker: &mut crate::daemon::Broker,
) -> io::Result<Vec<u64>> {
    let mut running = Running::start(&cx.tree, spec)?;
    running.wait_ready()?;
    broker.place(placement)?;
    sys::place_process(running.pid(), placement)?;
    running.go()?;
    running.samples()
}
